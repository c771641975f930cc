"""Train MusicGPT on the corpus tokens; resumable, seeded, then export the ONNX model pack.

    genstudio ml train music --run runs/music --data runs/music-data --minutes 60
    genstudio ml export music --run runs/music --out resources/models/music-gpt

Data: every training piece of ``genstudio.ml.music.data`` (built once into ``--data``) is
encoded in all 12 transpositions that keep its notes on the piano (key-lock works in any key
because every key was seen) and cached in ``<run>/tokens.npz`` (no pickle). A training window is
the piece's header (style, key, time signature, tempo) + whole bars from a random bar on, so the
model learns to continue from any bar - which is also how generation slides past ``max_len``.
Styles are sampled evenly, then pieces within a style.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genstudio.core.atomic import atomic_write_bytes, atomic_write_json, read_json
from genstudio.ml import common
from genstudio.ml.music.model import MusicGPTConfig, build

log = logging.getLogger(__name__)
HEADER = 5  # BOS STYLE KEY TS TEMPO
IGNORE = -100


@dataclass
class TrainConfig:
    seed: int = 1234
    batch: int = 16
    max_len: int = 384
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    dropout: float = 0.1
    lr: float = 1.5e-3
    lr_min: float = 5e-5
    warmup: int = 200
    max_steps: int = 3000
    weight_decay: float = 0.05
    threads: int = 0
    save_every: int = 100
    eval_every: int = 250
    styles: tuple[str, ...] = ("chorale", "folk", "melody_accomp")


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.max_steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + np.cos(np.pi * t))


def encode_corpus(data_dir: Path, split: str, styles, *, transpose: bool) -> dict[str, np.ndarray]:
    """{"tokens": int16 (N,), "offsets": int64 (S+1,), "style": int64 (S,)} for a split."""
    from genstudio.generators.music import score as sc
    from genstudio.generators.music import tokens as tk
    from genstudio.ml.music import data

    seqs, style_ix = [], []
    for s_i, style in enumerate(styles):
        for score, _meta in data.load(data_dir, split, style=style):
            pitches = [n.pitch for n in score.notes if not score.tracks[n.track].is_drum]
            if not pitches:
                continue
            lo, hi = min(pitches), max(pitches)
            shifts = range(-6, 6) if transpose else (0,)
            for k in shifts:
                if lo + k < 21 or hi + k > 108:
                    continue
                try:
                    seqs.append(np.array(tk.encode(sc.transpose(score, k), style), np.int16))
                except Exception as exc:  # a piece the codec refuses is skipped, not fatal
                    log.debug("skip %s: %s", _meta.get("id"), exc)
                    continue
                style_ix.append(s_i)
    offsets = np.zeros(len(seqs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(s) for s in seqs])
    return {
        "tokens": np.concatenate(seqs) if seqs else np.zeros(0, np.int16),
        "offsets": offsets,
        "style": np.array(style_ix, np.int64),
    }


def _cached(run: Path, name: str, make) -> dict[str, np.ndarray]:
    import io

    path = run / f"{name}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    arrays = make()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return arrays


class Windows:
    """Seeded training windows: header + whole bars from a random bar, padded with IGNORE."""

    def __init__(self, arrays: dict[str, np.ndarray], max_len: int, n_styles: int) -> None:
        from genstudio.generators.music import tokens as tk

        self.tokens = arrays["tokens"].astype(np.int64)
        self.offsets = arrays["offsets"]
        self.by_style = [np.nonzero(arrays["style"] == s)[0] for s in range(n_styles)]
        self.by_style = [x for x in self.by_style if len(x)]
        self.max_len = max_len
        self.bar = tk.VOCAB.id("BAR")

    def piece(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.zeros((n, self.max_len), np.int64)
        y = np.full((n, self.max_len), IGNORE, np.int64)
        for j in range(n):
            pool = self.by_style[rng.integers(len(self.by_style))]
            seq = self.piece(int(pool[rng.integers(len(pool))]))
            bars = np.nonzero(seq == self.bar)[0]
            start = int(bars[rng.integers(len(bars))]) if rng.random() < 0.7 else HEADER
            w = np.concatenate([seq[:HEADER], seq[start:]])[: self.max_len + 1]
            x[j, : len(w) - 1] = w[:-1]
            y[j, : len(w) - 1] = w[1:]
        return x, y


def _prepare(run: Path, data_dir: Path, cfg: TrainConfig) -> MusicGPTConfig:
    from genstudio.generators.music import tokens as tk

    run.mkdir(parents=True, exist_ok=True)
    net_path = run / "net_config.json"
    if net_path.exists():
        return MusicGPTConfig(**read_json(net_path))
    net_cfg = MusicGPTConfig(
        vocab=tk.VOCAB.size,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        d_model=cfg.d_model,
        max_len=cfg.max_len,
        dropout=cfg.dropout,
    )
    atomic_write_json(net_path, dataclasses.asdict(net_cfg))
    atomic_write_json(run / "train_config.json", dataclasses.asdict(cfg))
    atomic_write_json(run / "data.json", {"data_dir": str(data_dir), "vocab": tk.VOCAB.names})
    return net_cfg


def train(
    run: Path, data_dir: Path, cfg: TrainConfig, *, minutes: float | None = None, progress=None
) -> dict:
    import torch
    from torch.nn import functional as F

    common.seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = common.pick_device()
    net_cfg = _prepare(run, data_dir, cfg)
    styles = tuple(cfg.styles)
    train_w = Windows(
        _cached(
            run, "tokens-train", lambda: encode_corpus(data_dir, "train", styles, transpose=True)
        ),
        net_cfg.max_len,
        len(styles),
    )
    valid_w = Windows(
        _cached(
            run, "tokens-valid", lambda: encode_corpus(data_dir, "valid", styles, transpose=False)
        ),
        net_cfg.max_len,
        len(styles),
    )
    net, _ = build(net_cfg)
    net.to(device)
    decay = [p for n, p in net.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in net.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0},
        ],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    step, wall = 0, 0.0
    ckpt = run / "checkpoint.safetensors"
    if ckpt.exists():
        tensors, meta = common.load_checkpoint(ckpt)
        common.restore_state(net, opt, tensors)
        step, wall = meta["step"], meta.get("wall_s", 0.0)
        log.info("resumed %s at step %d", run, step)
    runlog = common.RunLog(run / "log.jsonl")
    rng = np.random.Generator(np.random.PCG64(cfg.seed + step))
    t_start = time.time()
    n_params = sum(p.numel() for p in net.parameters())
    best = float("inf")

    def evaluate() -> float:
        net.eval()
        erng = np.random.Generator(np.random.PCG64(999))
        losses = []
        with torch.no_grad():
            for _ in range(8):
                x, y = valid_w.sample(erng, cfg.batch)
                logits = net(torch.from_numpy(x).to(device))
                losses.append(
                    F.cross_entropy(
                        logits.flatten(0, 1),
                        torch.from_numpy(y).to(device).flatten(),
                        ignore_index=IGNORE,
                    ).item()
                )
        net.train()
        return float(np.mean(losses))

    saved_at = step

    def save() -> None:
        nonlocal saved_at
        common.save_checkpoint(
            ckpt, common.flat_state(net, opt), {"step": step, "wall_s": wall, "params": n_params}
        )
        saved_at = step

    net.train()
    while step < cfg.max_steps:
        if minutes is not None and time.time() - t_start > minutes * 60:
            break
        t0 = time.time()
        x, y = train_w.sample(rng, cfg.batch)
        logits = net(torch.from_numpy(x).to(device))
        loss = F.cross_entropy(
            logits.flatten(0, 1), torch.from_numpy(y).to(device).flatten(), ignore_index=IGNORE
        )
        common.optimizer_step(net, opt, loss, _lr(cfg, step))
        step += 1
        wall += time.time() - t0
        row = {"step": step, "loss": loss.item(), "lr": _lr(cfg, step), "wall_s": wall}
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            row["valid_loss"] = evaluate()
            best = min(best, row["valid_loss"])
        if step % 10 == 0 or "valid_loss" in row:
            runlog.write(**row)
            log.info("step %d loss %.4f %s", step, row["loss"], row.get("valid_loss", ""))
            if progress is not None:
                progress(step / cfg.max_steps, f"step {step} loss {row['loss']:.3f}")
        if step % cfg.save_every == 0 or step == cfg.max_steps:
            save()
    if saved_at != step:  # stopped by --minutes between two saves
        save()
    return {"step": step, "wall_s": wall, "params": n_params, "device": device, "best_valid": best}


def load_trained(run: Path):
    net_cfg = MusicGPTConfig(**read_json(run / "net_config.json"))
    net, export_cls = build(net_cfg)
    tensors, meta = common.load_checkpoint(run / "checkpoint.safetensors")
    common.restore_state(net, None, tensors)
    net.eval()
    return net, export_cls, net_cfg, meta


def export_pack(
    run: Path, out: Path, *, metrics: dict | None = None, notes: list[str] | None = None
) -> Path:
    """Write the ONNX model pack of a run (model.json + music.onnx with a KV cache + weights)."""
    from genstudio.generators.music import tokens as tk

    net, _, net_cfg, meta = load_trained(run)
    if read_json(run / "data.json").get("vocab") != tk.VOCAB.names:
        raise RuntimeError("the token vocabulary changed since this run was trained")
    training = {
        "script": "genstudio ml train music",
        "train_config": read_json(run / "train_config.json"),
        "steps": meta["step"],
        "wall_s": meta.get("wall_s"),
        "hardware": common.hardware(),
        "notes": notes or [],
    }
    return write_music_pack(
        net, net_cfg, out, version=f"1.{meta['step']}", training=training, metrics=metrics
    )


def write_music_pack(
    net,
    net_cfg: MusicGPTConfig,
    out: Path,
    *,
    version: str,
    training: dict,
    metrics=None,
    pack_id: str = "music-gpt",
    title: str = "",
    license: str = "MIT",
    attribution: str = "Trained by GenStudio on public-domain pieces of the music21 corpus.",
    extra: dict | None = None,
) -> Path:
    """Export ``net`` to ``out``: music.onnx (prompt + KV-cache steps, written by
    ``onnx_graph`` with fused attention), safetensors, model.json."""
    from genstudio.generators.music import tokens as tk
    from genstudio.ml.music.onnx_graph import KV_LAYOUT, build_step_graph
    from genstudio.runtime.packs import write_pack

    _, export_cls = build(net_cfg)
    out.mkdir(parents=True, exist_ok=True)
    ins, outs, _ = export_cls.io_names()
    net.eval()
    atomic_write_bytes(out / "music.onnx", build_step_graph(net.state_dict(), net_cfg))
    common.save_checkpoint(out / "weights.safetensors", net.state_dict(), {"version": version})
    write_pack(
        out,
        id=pack_id,
        kind="music",
        version=version,
        license=license,
        attribution=attribution,
        files=["music.onnx", "weights.safetensors"]
        + [n for n in ("adapter.safetensors", "MODEL_CARD.md") if (out / n).is_file()],
        inputs=[{"name": n} for n in ins],
        outputs=[{"name": n} for n in outs],
        training={**training, "net_config": dataclasses.asdict(net_cfg)},
        metrics=metrics or {},
        extra={
            **({"title": title} if title else {}),
            **(extra or {}),
            "vocab": tk.VOCAB.names,
            "n_layer": net_cfg.n_layer,
            "n_head": net_cfg.n_head,
            "head_dim": net_cfg.head_dim,
            "max_len": net_cfg.max_len,
            "kv_layout": KV_LAYOUT,
        },
    )
    return out
