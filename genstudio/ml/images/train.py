"""Training of the built-in image model, in three resumable runs (torch; CPU or CUDA):

    genstudio ml train images-ae    --data DIR --run RUN_AE      # autoencoder
    genstudio ml train images       --data DIR --run RUN --ae RUN_AE   # latent diffusion UNet
    genstudio ml train images-judge --data DIR --run RUN_J       # the eval's classifier
    genstudio ml export images --run RUN --ae RUN_AE --out resources/models/images-icons

Each run folder holds ``train_config.json``, ``checkpoint.safetensors`` (model + optimizer +
EMA, atomic, every ``save_every`` steps) and ``log.jsonl``; starting the same command again
resumes from the checkpoint (seeded: the same data order and noise as an uninterrupted run,
because every step's randomness is drawn from a generator seeded by (seed, step)).

Pixels: premultiplied RGBA scaled to [-1, 1] (transparent pixels are all -1 whatever their
colour, so the autoencoder never spends capacity on invisible colour). Augmentation: a
horizontal flip (and for the judge a shift of up to 4 pixels).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.ml import common
from genstudio.ml.images.data import Dataset
from genstudio.ml.images.model import (
    AEConfig,
    ClipJudgeConfig,
    JudgeConfig,
    UNetConfig,
    build_ae,
    build_clip_judge,
    build_judge,
    build_unet,
)

log = logging.getLogger(__name__)

#: Stable Diffusion's noise schedule (the numpy schedulers read the same config)
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "clip_sample": False,
    "set_alpha_to_one": False,
}


@dataclass
class TrainConfig:
    what: str = "diffusion"  # "ae", "diffusion", "judge", "clip" (the prompt judge)
    seed: int = 1234
    batch: int = 64
    steps: int = 4000
    lr: float = 1e-3
    lr_min: float = 2e-5
    warmup: int = 200
    weight_decay: float = 0.01
    threads: int = 0  # 0 = torch default
    save_every: int = 100
    p_uncond: float = 0.1  # diffusion: caption dropped -> learned null vector
    ema: float = 0.999  # diffusion: EMA of the weights (what ships)
    net: dict[str, Any] = field(default_factory=dict)
    init: str = ""  # a run whose weights (model and EMA) this run starts from
    latent_scale: float = 0.0  # diffusion: 0 = 1 / std of the training latents; else this value
    freeze_encoder: bool = False  # ae: train the decoder only (the latent space stays the same)
    edge_loss: float = 0.0  # ae: weight of the L1 loss on image gradients (sharp edges)
    latent_noise: float = 0.0  # ae with frozen encoder: noise added to the latents (x their std)


#: a new diffusion run's network settings (UNetConfig's own defaults are those of the first
#: runs, which stored no value for these; see the model module)
UNET_NET: dict[str, Any] = {"text_scale": 384**0.5, "text_tokens": 8}


def premultiplied(rgba_u8: np.ndarray) -> np.ndarray:
    """(N,64,64,4) uint8 straight RGBA -> (N,4,64,64) float32 premultiplied in [-1, 1]."""
    x = rgba_u8.astype(np.float32) / 255.0
    x[..., :3] *= x[..., 3:4]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) * 2.0 - 1.0)


def judge_input(rgba_u8: np.ndarray) -> np.ndarray:
    """(N,64,64,4) uint8 -> (N,3,64,64) float32: composited on mid-grey, in [-1, 1]."""
    x = rgba_u8.astype(np.float32) / 255.0
    rgb = x[..., :3] * x[..., 3:4] + 0.5 * (1.0 - x[..., 3:4])
    return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2) * 2.0 - 1.0)


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + np.cos(np.pi * min(1.0, p)))


def _net_config(cfg: TrainConfig, ds: Dataset):
    if cfg.what == "ae":
        return AEConfig(**cfg.net)
    if cfg.what == "judge":
        return JudgeConfig(**{"n_classes": len(ds.categories), **cfg.net})
    if cfg.what == "clip":
        return ClipJudgeConfig(**cfg.net)
    return UNetConfig(**cfg.net)


def _build(what: str, net_cfg):
    builders = {"ae": build_ae, "judge": build_judge, "clip": build_clip_judge}
    return builders.get(what, build_unet)(net_cfg)


def alphas_cumprod() -> np.ndarray:
    c = SCHEDULER_CONFIG
    betas = np.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, c["num_train_timesteps"]) ** 2
    return np.cumprod(1.0 - betas)


def encode_latents(ae, x: np.ndarray, batch: int = 128) -> np.ndarray:
    """Posterior means of premultiplied images (N,4,64,64) -> (N,8,16,16)."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            out.append(ae.encoder(torch.from_numpy(x[i : i + batch]))[0].numpy())
    return np.concatenate(out)


def load_ae(run: Path):
    tensors, meta = common.load_checkpoint(run / "checkpoint.safetensors")
    cfg = TrainConfig(**read_json(run / "train_config.json"))
    ae = build_ae(AEConfig(**cfg.net))
    common.restore_state(ae, None, tensors)
    ae.eval()
    return ae, meta


def train(cfg: TrainConfig, data_dir: Path, run: Path, *, ae_run: Path | None = None) -> Path:
    import torch
    from torch.nn import functional as F

    run.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.init and cfg.what == "judge":
        raise ValueError(
            "init (starting from another run's weights) is for the AE and diffusion runs"
        )
    if cfg.freeze_encoder and not (cfg.what == "ae" and cfg.init):
        raise ValueError("freeze_encoder fine-tunes the decoder of an AE run given as init")
    ds = Dataset(data_dir)
    if cfg.what == "diffusion":
        cfg.net = {**UNET_NET, **cfg.net}
    net_cfg = _net_config(cfg, ds)
    cfg.net = asdict(net_cfg)
    cfg_path = run / "train_config.json"
    if cfg_path.exists():  # resuming: the stored config wins (same run, same schedule)
        cfg = TrainConfig(**read_json(cfg_path))
        net_cfg = _net_config(cfg, ds)
    else:
        atomic_write_json(cfg_path, asdict(cfg))
    common.seed_everything(cfg.seed)
    device = common.pick_device()
    net = _build(cfg.what, net_cfg).to(device)
    if cfg.init and cfg.what == "ae":
        src, _ = common.load_checkpoint(Path(cfg.init) / "checkpoint.safetensors")
        common.restore_state(net, None, {k: v.float() for k, v in src.items()})
    params = net.decoder.parameters() if cfg.freeze_encoder else net.parameters()
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = copy.deepcopy(net).eval() if cfg.what == "diffusion" else None
    start, wall = 0, 0.0
    ck = run / "checkpoint.safetensors"
    if ck.exists():
        tensors, meta = common.load_checkpoint(ck)
        common.restore_state(net, opt, tensors)
        if ema is not None:
            ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        start, wall = int(meta["step"]), float(meta.get("wall_s", 0.0))
        log.info("resuming %s at step %d", run, start)
    elif cfg.init and cfg.what == "diffusion":
        _init_from(Path(cfg.init), net, ema, net_cfg)
    train_idx = ds.split("train")
    extra: dict[str, Any] = {}
    if cfg.what == "judge":
        x_all = torch.from_numpy(judge_input(ds.rgba[train_idx]))
        y_all = torch.from_numpy(ds.labels[train_idx]).long()
    elif cfg.what == "clip":
        x_all = torch.from_numpy(judge_input(ds.rgba[train_idx]))
        emb_all = torch.from_numpy(ds.emb[train_idx].astype(np.float32))
        names = [ds.items[i]["label"] for i in train_idx]
        ids = {n: k for k, n in enumerate(sorted(set(names)))}
        y_all = torch.tensor([ids[n] for n in names])  # same label = same thing (positives)
    elif cfg.what == "ae":
        x_all = torch.from_numpy(premultiplied(ds.rgba[train_idx]))
        if cfg.freeze_encoder:  # the latents of every image and its mirror image, once
            net.encoder.requires_grad_(False)
            x_all = torch.cat([x_all, x_all.flip(-1)])
            z_all = torch.from_numpy(encode_latents(net, x_all.numpy()))
            z_std = float(z_all.std())
    else:
        if ae_run is None:
            raise ValueError("the diffusion run needs --ae RUN (a trained autoencoder)")
        ae, ae_meta = load_ae(ae_run)
        x = premultiplied(ds.rgba[train_idx])
        lat = np.concatenate([encode_latents(ae, x), encode_latents(ae, x[..., ::-1].copy())])
        init_lat = Path(cfg.init) / "latents.json" if cfg.init else None
        if not cfg.latent_scale and init_lat is not None and init_lat.exists():
            cfg.latent_scale = float(read_json(init_lat)["latent_scale"])  # keep its inputs
        scale = cfg.latent_scale or float(1.0 / lat.std())
        extra = {"latent_scale": scale, "ae_run": str(ae_run), "ae_step": ae_meta.get("step")}
        atomic_write_json(run / "latents.json", extra)
        x_all = torch.from_numpy(lat * scale)
        emb = torch.from_numpy(ds.emb[train_idx].astype(np.float32))
        emb_all = torch.cat([emb, emb])  # flipped copies share the captions
        acp = torch.from_numpy(alphas_cumprod().astype(np.float32))
    n = len(x_all)
    runlog = common.RunLog(run / "log.jsonl")
    t0, losses = time.time(), []
    net.train()
    for step in range(start, cfg.steps):
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        idx = torch.randint(0, n, (cfg.batch,), generator=g)
        xb = x_all[idx].to(device)
        if cfg.what == "ae" and cfg.freeze_encoder:
            z = z_all[idx].to(device)
            if cfg.latent_noise:
                z = z + cfg.latent_noise * z_std * torch.randn(z.shape, generator=g).to(device)
            rec = net.decoder(z)
            loss = _recon_loss(rec, xb, cfg.edge_loss)
        elif cfg.what == "ae":
            flip = torch.rand(cfg.batch, generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            rec, mean, logvar = net(xb)
            kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum((1, 2, 3)).mean()
            loss = _recon_loss(rec, xb, cfg.edge_loss) + net_cfg.kl * kl
        elif cfg.what == "clip":
            flip = torch.rand(cfg.batch, generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            dx, dy = (int(v) for v in torch.randint(-4, 5, (2,), generator=g))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            cap = torch.randint(0, emb_all.shape[1], (cfg.batch,), generator=g)
            logits = net(xb, emb_all[idx, cap].to(device))
            yb = y_all[idx].to(device)
            pos = (yb[:, None] == yb[None]).float()
            target = pos / pos.sum(1, keepdim=True)
            loss = -0.5 * (
                (target * F.log_softmax(logits, 1)).sum(1).mean()
                + (target * F.log_softmax(logits.T, 1)).sum(1).mean()
            )
        elif cfg.what == "judge":
            flip = torch.rand(cfg.batch, generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            dx, dy = (int(v) for v in torch.randint(-4, 5, (2,), generator=g))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(net(xb), y_all[idx].to(device), label_smoothing=0.1)
        else:
            cap = torch.randint(0, emb_all.shape[1], (cfg.batch,), generator=g)
            txt = emb_all[idx, cap].to(device)
            use = (torch.rand(cfg.batch, 1, generator=g) >= cfg.p_uncond).float().to(device)
            t = torch.randint(0, 1000, (cfg.batch,), generator=g)
            noise = torch.randn(xb.shape, generator=g).to(device)
            a = acp[t].to(device)[:, None, None, None]
            xt = a.sqrt() * xb + (1 - a).sqrt() * noise
            loss = F.mse_loss(net(xt, t.to(device), txt, use), noise)
        common.optimizer_step(net, opt, loss, lr_at(cfg, step))
        if ema is not None:
            with torch.no_grad():
                d = min(cfg.ema, (1 + step) / (10 + step))
                for pe, pn in zip(ema.parameters(), net.parameters()):
                    pe.mul_(d).add_(pn.detach(), alpha=1 - d)
        losses.append(loss.item())
        done = step + 1
        if done % 25 == 0 or done == cfg.steps:
            now = time.time()
            runlog.write(step=done, loss=float(np.mean(losses)), lr=lr_at(cfg, step))
            log.info("step %d loss %.4f (%.1f s)", done, np.mean(losses), now - t0)
            losses = []
        if done % cfg.save_every == 0 or done == cfg.steps:
            state = common.flat_state(net, opt)
            if ema is not None:
                state.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
            meta = {"step": done, "wall_s": wall + time.time() - t0, **extra}
            common.save_checkpoint(ck, state, meta)
    if cfg.what == "judge":
        report = evaluate_judge(run, data_dir)
        atomic_write_json(run / "judge_eval.json", report)
    return run


def _recon_loss(rec, x, edge: float):
    """L1 + MSE of a reconstruction; with ``edge`` > 0 also the L1 of the difference of the
    horizontal and vertical image gradients, which punishes soft edges that L1 alone tolerates."""
    from torch.nn import functional as F

    loss = (rec - x).abs().mean() + 0.5 * F.mse_loss(rec, x)
    if edge:
        for dim in (-1, -2):
            loss = loss + edge * (rec.diff(dim=dim) - x.diff(dim=dim)).abs().mean()
    return loss


def runs_from_pack(pack: Path, out: Path) -> tuple[Path, Path]:
    """Run folders (``out/ae``, ``out/diffusion``) holding a shipped pack's weights, so training
    can continue from the committed pack (``init``) after the original runs are gone. The
    diffusion run's ``provenance.json`` keeps the pack's training history."""
    import torch

    raw = read_json(pack / "model.json", what="image model pack")
    tensors, _ = common.load_checkpoint(pack / "weights.safetensors")
    tr = raw["training"]
    ae_run, diff_run = out / "ae", out / "diffusion"
    for run in (ae_run, diff_run):
        run.mkdir(parents=True, exist_ok=True)
    ae = {f"model.{k[3:]}": v.to(torch.float32) for k, v in tensors.items() if k.startswith("ae.")}
    unet = {k[5:]: v.to(torch.float32) for k, v in tensors.items() if k.startswith("unet.")}
    atomic_write_json(ae_run / "train_config.json", tr["autoencoder"]["train_config"])
    common.save_checkpoint(
        ae_run / "checkpoint.safetensors", ae,
        {"step": tr["autoencoder"]["steps"], "wall_s": tr["autoencoder"].get("wall_s"),
         "pack": raw["version"]},
    )  # fmt: skip
    d = tr["diffusion"]
    atomic_write_json(diff_run / "train_config.json", {**d["train_config"], "init": ""})
    state = {
        **{f"model.{k}": v for k, v in unet.items()},
        **{f"ema.{k}": v.clone() for k, v in unet.items()},
    }
    common.save_checkpoint(
        diff_run / "checkpoint.safetensors", state,
        {"step": d["steps"], "wall_s": d.get("wall_s"), "pack": raw["version"]},
    )  # fmt: skip
    atomic_write_json(
        diff_run / "latents.json", {"latent_scale": raw["latent_scale"], "ae_run": str(ae_run)}
    )
    atomic_write_json(
        diff_run / "provenance.json",
        {"pack": raw["version"], "started_from": d.get("started_from", []),
         "train_config": d["train_config"]},
    )  # fmt: skip
    return ae_run, diff_run


def _init_from(src: Path, net, ema, net_cfg: UNetConfig) -> None:
    """Start a diffusion run from another run's weights. Layers the source lacks (the
    cross-attention, zero-initialised) keep their fresh values; a different ``text_scale`` is
    folded into the first text layer, so the network computes the source's function at step 0."""
    tensors, meta = common.load_checkpoint(src / "checkpoint.safetensors")
    src_cfg = UNetConfig(**TrainConfig(**read_json(src / "train_config.json")).net)
    ratio = src_cfg.text_scale / net_cfg.text_scale
    new_layers = ("tok.", "xa2.", "xma.", "xua2.")
    for prefix, module in (("model.", net), ("ema.", ema)):
        sd = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        sd["txt.0.weight"] = sd["txt.0.weight"] * ratio
        missing, unexpected = module.load_state_dict(sd, strict=False)
        if unexpected or any(not m.startswith(new_layers) for m in missing):
            raise RuntimeError(f"{src} does not fit this network: {unexpected or missing}")
    log.info("starting from %s (step %s)", src, meta.get("step"))


def load_run(run: Path, what: str):
    """The trained network of a run (the EMA weights for the diffusion UNet), eval mode."""
    tensors, meta = common.load_checkpoint(run / "checkpoint.safetensors")
    cfg = TrainConfig(**read_json(run / "train_config.json"))
    configs = {"ae": AEConfig, "judge": JudgeConfig, "clip": ClipJudgeConfig}
    net_cfg = configs.get(what, UNetConfig)(**cfg.net)
    net = _build(what, net_cfg)
    if what == "diffusion":
        net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    else:
        common.restore_state(net, None, tensors)
    net.eval()
    return net, net_cfg, meta


def judge_features(judge, rgba_u8: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, F), logits (N, C)) of straight-alpha RGBA icons."""
    import torch

    feats, logits = [], []
    with torch.inference_mode():
        for i in range(0, len(rgba_u8), batch):
            x = torch.from_numpy(judge_input(rgba_u8[i : i + batch]))
            f = judge.features(x)
            feats.append(f.numpy())
            logits.append(judge.head(f).numpy())
    return np.concatenate(feats), np.concatenate(logits)


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    top = np.argsort(-logits, axis=1)[:, :k]
    return float((top == labels[:, None]).any(1).mean())


def evaluate_judge(run: Path, data_dir: Path) -> dict[str, Any]:
    ds = Dataset(data_dir)
    judge, _, meta = load_run(run, "judge")
    out: dict[str, Any] = {"step": meta.get("step")}
    for split in ("train", "heldout"):
        idx = ds.split(split)
        _, logits = judge_features(judge, ds.rgba[idx])
        out[split] = {
            "n": len(idx),
            "top1": topk_accuracy(logits, ds.labels[idx], 1),
            "top5": topk_accuracy(logits, ds.labels[idx], 5),
        }
    return out
