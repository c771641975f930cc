"""Train SpriteNet on procedural sheets; resumable, seeded, then export the ONNX model pack.

    genstudio ml train sprites --run runs/sprites --minutes 60
    genstudio ml export sprites --run runs/sprites --out resources/models/sprites-spritenet

Every ``--save-every`` steps the model, optimizer and data position go to
``<run>/checkpoint.safetensors`` atomically; starting again with the same ``--run`` resumes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.ml import common
from genstudio.ml.sprites import data
from genstudio.ml.sprites.model import SpriteNetConfig, build

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    seed: int = 1234
    batch: int = 16  # characters per step
    poses_per_char: int = 8  # frames decoded per character per step (of n_poses)
    enc_frames: int = 4  # frames the encoder sees
    lr: float = 2e-3
    lr_min: float = 1e-4
    warmup: int = 200
    max_steps: int = 1300
    kl_weight: float = 1.0  # ELBO weight (KL is divided by the pixels of a whole sheet)
    threads: int = 0
    save_every: int = 100
    stats_sheets: int = 500  # characters counted for the class weights
    class_weight_power: float = 0.5  # 0 = plain cross-entropy, 1 = full median-frequency
    ch: tuple[int, int, int, int] = (128, 96, 64, 32)  # decoder channels at 4/8/16/32 px
    code_dim: int = 256


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.max_steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + np.cos(np.pi * t))


def _prepare(run: Path, cfg: TrainConfig) -> tuple[SpriteNetConfig, np.ndarray]:
    run.mkdir(parents=True, exist_ok=True)
    w_path = run / "class_weights.json"
    if w_path.exists():
        weights = np.array(read_json(w_path)["weights"], dtype=np.float32)
    else:
        freq = data.code_frequencies(cfg.stats_sheets)
        weights = data.class_weights(freq, power=cfg.class_weight_power)
        atomic_write_json(w_path, {"frequency": freq.tolist(), "weights": weights.tolist()})
    vocab = data.vocabulary()
    sample = data.render(*data.character("train", 0))
    net_path = run / "net_config.json"
    if net_path.exists():
        raw = read_json(net_path)
        raw["ch"] = tuple(raw["ch"])
        net_cfg = SpriteNetConfig(**raw)
    else:
        net_cfg = SpriteNetConfig(
            attr_keys=list(vocab),
            attr_sizes=[len(v) for v in vocab.values()],
            n_classes=data.n_codes(),
            n_poses=int(sample.shape[0] * sample.shape[1]),
            ch=tuple(cfg.ch),
            code_dim=cfg.code_dim,
        )
        atomic_write_json(net_path, dataclasses.asdict(net_cfg))
    atomic_write_json(run / "vocab.json", vocab)
    atomic_write_json(run / "train_config.json", dataclasses.asdict(cfg))
    return net_cfg, weights


def train(run: Path, cfg: TrainConfig, *, minutes: float | None = None, progress=None) -> dict:
    import torch
    from torch.nn import functional as F

    common.seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = common.pick_device()
    net_cfg, class_w = _prepare(run, cfg)
    vocab = data.vocabulary()
    net, _ = build(net_cfg)
    net.to(device)
    class_w_t = torch.from_numpy(class_w).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4, betas=(0.9, 0.99))
    step, seen, wall = 0, 0, 0.0
    ckpt = run / "checkpoint.safetensors"
    if ckpt.exists():
        tensors, meta = common.load_checkpoint(ckpt)
        common.restore_state(net, opt, tensors)
        step, seen, wall = meta["step"], meta["seen"], meta.get("wall_s", 0.0)
        log.info("resumed %s at step %d", run, step)
    runlog = common.RunLog(run / "log.jsonl")
    rng = np.random.Generator(np.random.PCG64(cfg.seed + step))
    t_start = time.time()
    pixels = net_cfg.n_poses * net_cfg.frame * net_cfg.frame
    n_params = sum(p.numel() for p in net.parameters())
    saved_at = step

    def save() -> None:
        nonlocal saved_at
        common.save_checkpoint(
            ckpt,
            common.flat_state(net, opt),
            {"step": step, "seen": seen, "wall_s": wall, "params": n_params},
        )
        saved_at = step

    net.train()
    while step < cfg.max_steps:
        if minutes is not None and time.time() - t_start > minutes * 60:
            break
        t0 = time.time()
        attrs_np, frames_np = data.batch("train", seen, cfg.batch, vocab)
        seen += cfg.batch
        b, p_all = frames_np.shape[:2]
        pose = np.stack([rng.choice(p_all, cfg.poses_per_char, replace=False) for _ in range(b)])
        enc_pose = np.stack([rng.choice(p_all, cfg.enc_frames, replace=False) for _ in range(b)])
        attrs = torch.from_numpy(attrs_np).to(device)
        frames = torch.from_numpy(frames_np).to(device)  # (B, P, 32, 32)
        pose_t = torch.from_numpy(pose).to(device)
        enc_pose_t = torch.from_numpy(enc_pose).to(device)
        target = torch.gather(frames, 1, pose_t[:, :, None, None].expand(-1, -1, 32, 32))
        enc_in = torch.gather(frames, 1, enc_pose_t[:, :, None, None].expand(-1, -1, 32, 32))
        onehot = F.one_hot(enc_in, net_cfg.n_classes).permute(0, 1, 4, 2, 3).float()
        mu, logvar = net.encoder(onehot, enc_pose_t)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = net(attrs, z, pose_t)  # (B, P, K, 32, 32)
        ce = F.cross_entropy(logits.flatten(0, 1), target.flatten(0, 1), weight=class_w_t)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        loss = ce + cfg.kl_weight * kl / pixels
        common.optimizer_step(net, opt, loss, _lr(cfg, step))
        step += 1
        wall += time.time() - t0
        if step % 10 == 0 or step == cfg.max_steps:
            with torch.no_grad():
                acc = (logits.argmax(2) == target).float().mean().item()
            runlog.write(
                step=step, ce=ce.item(), kl=kl.item(), acc=acc, lr=_lr(cfg, step), wall_s=wall
            )
            log.info("step %d ce %.4f kl %.2f acc %.4f", step, ce.item(), kl.item(), acc)
            if progress is not None:
                progress(step / cfg.max_steps, f"step {step} ce {ce.item():.3f} acc {acc:.3f}")
        if step % cfg.save_every == 0 or step == cfg.max_steps:
            save()
    if saved_at != step:  # stopped by --minutes between two saves
        save()
    return {"step": step, "seen": seen, "wall_s": wall, "params": n_params, "device": device}


def load_trained(run: Path):
    """The trained SpriteNet (eval mode), its export wrapper, config and checkpoint metadata."""
    raw = read_json(run / "net_config.json")
    raw["ch"] = tuple(raw["ch"])
    net_cfg = SpriteNetConfig(**raw)
    net, export_cls = build(net_cfg)
    tensors, meta = common.load_checkpoint(run / "checkpoint.safetensors")
    common.restore_state(net, None, tensors)
    net.eval()
    return net, export_cls, net_cfg, meta


def export_pack(
    run: Path,
    out: Path,
    *,
    metrics: dict | None = None,
    notes: list[str] | None = None,
    logit_adjust: bool = False,
) -> Path:
    """Write the ONNX model pack (model.json + sprites.onnx + weights.safetensors).

    ``logit_adjust`` subtracts log(class weight) from the logits before the argmax, so the
    decision is the unweighted one although training weighted rare codes up."""
    import torch

    from genstudio.generators.sprites.procedural import TEMPLATE_VERSION
    from genstudio.runtime.packs import write_pack

    net, export_cls, net_cfg, meta = load_trained(run)
    out.mkdir(parents=True, exist_ok=True)
    attrs = torch.zeros(2, len(net_cfg.attr_sizes), dtype=torch.int64)
    z = torch.zeros(2, net_cfg.z_dim)
    bias = np.zeros(net_cfg.n_classes, dtype=np.float32)
    if logit_adjust and (run / "class_weights.json").exists():
        bias = -np.log(np.array(read_json(run / "class_weights.json")["weights"], np.float32))
    common.export_onnx(
        export_cls(net, torch.from_numpy(bias)),
        (attrs, z),
        out / "sprites.onnx",
        input_names=["attrs", "z"],
        output_names=["indices"],
        dynamic_axes={"attrs": {0: "batch"}, "z": {0: "batch"}, "indices": {0: "batch"}},
    )
    gen_state = {k: v for k, v in net.state_dict().items() if not k.startswith("encoder.")}
    gen_state["export.logit_bias"] = torch.from_numpy(bias)
    enc_state = {k: v for k, v in net.state_dict().items() if k.startswith("encoder.")}
    common.save_checkpoint(
        out / "weights.safetensors", {**gen_state, **enc_state}, {"step": meta["step"]}
    )
    train_cfg = read_json(run / "train_config.json")
    vocab = read_json(run / "vocab.json")
    write_pack(
        out,
        id="sprites-spritenet",
        kind="sprites",
        version=f"1.{meta['step']}",
        license="MIT",
        attribution="Trained by GenStudio on its own procedural characters (MIT); no outside art.",
        files=["sprites.onnx", "weights.safetensors"],
        inputs=[
            {"name": "attrs", "dtype": "int64", "shape": ["batch", len(net_cfg.attr_sizes)]},
            {"name": "z", "dtype": "float32", "shape": ["batch", net_cfg.z_dim]},
        ],
        outputs=[
            {"name": "indices", "dtype": "int64", "shape": ["batch", net_cfg.n_poses, 32, 32]}
        ],
        training={
            "script": "genstudio ml train sprites",
            "train_config": train_cfg,
            "net_config": json.loads(json.dumps(dataclasses.asdict(net_cfg))),
            "steps": meta["step"],
            "characters_seen": meta["seen"],
            "wall_s": meta.get("wall_s"),
            "data": "genstudio.generators.sprites.procedural, split 'train' (seeds from 0)",
            "loss": "class-weighted cross-entropy on material codes + KL/pixels (CVAE ELBO)",
            "hardware": f"{common.hardware(meta.get('device', 'cpu'))}, torch CPU build",
            "notes": notes or [],
            "logit_adjust": bool(logit_adjust),
        },
        metrics=metrics or {},
        extra={
            "vocab": vocab,
            "output": "material_codes",
            "n_codes": net_cfg.n_classes,
            "template_version": TEMPLATE_VERSION,
        },
    )
    return out
