"""The sprite judge: an attribute classifier trained on real (procedural) frames only.

One small CNN sees a single 32x32 RGBA frame and predicts every attribute (one head per key).
Its penultimate layer is the feature space for Frechet distance, diversity, nearest-neighbour
and identity-consistency scores (no Inception weights exist offline - this is our own domain
feature extractor, trained on the ``judge`` split, never on generated sheets).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.ml import common
from genstudio.ml.sprites import data

log = logging.getLogger(__name__)


@dataclass
class JudgeConfig:
    attr_sizes: list[int]
    n_poses: int
    feat_dim: int = 128
    seed: int = 99
    batch: int = 16  # characters per step
    frames_per_char: int = 8  # random frames of each character per step
    steps: int = 2000
    lr: float = 3e-3


def build_judge(cfg: JudgeConfig):
    import torch
    from torch import nn

    class Judge(nn.Module):
        def __init__(self) -> None:
            super().__init__()

            def blk(i: int, o: int) -> nn.Sequential:
                return nn.Sequential(
                    nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.SiLU(),
                    nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.SiLU(),
                )  # fmt: skip

            self.body = nn.Sequential(
                blk(4 + cfg.n_poses, 32), nn.MaxPool2d(2),  # 16
                blk(32, 64), nn.MaxPool2d(2),  # 8
                blk(64, 128), nn.AdaptiveAvgPool2d(2),  # 2
                nn.Flatten(), nn.Linear(128 * 4, cfg.feat_dim),
            )  # fmt: skip
            self.heads = nn.ModuleList(nn.Linear(cfg.feat_dim, n) for n in cfg.attr_sizes)

        def features(self, rgba, pose):  # rgba (N, 4, 32, 32) in [0, 1], pose (N,)
            onehot = torch.nn.functional.one_hot(pose, cfg.n_poses).float()
            x = torch.cat([rgba, onehot[:, :, None, None].expand(-1, -1, 32, 32)], dim=1)
            return self.body(x)

        def forward(self, rgba, pose):
            f = self.features(rgba, pose)
            return f, [h(torch.nn.functional.silu(f)) for h in self.heads]

    return Judge()


def _frames_tensor(sheets: np.ndarray):
    """(S, D, F, 32, 32, 4) uint8 -> rgba (S*P, 4, 32, 32) float, pose (S*P,)"""
    import torch

    s, d, f = sheets.shape[:3]
    x = torch.from_numpy(sheets.reshape(s * d * f, 32, 32, 4)).permute(0, 3, 1, 2).float() / 255.0
    pose = torch.arange(d * f).repeat(s)
    return x, pose


def real_sheets(split: str, start: int, n: int) -> tuple[np.ndarray, list[dict[str, str]]]:
    sheets, attrs = [], []
    for i in range(start, start + n):
        a, seed = data.character(split, i)
        sheets.append(data.render(a, seed))
        attrs.append(a)
    return np.stack(sheets), attrs


def train_judge(
    out: Path,
    cfg: JudgeConfig | None = None,
    *,
    steps: int | None = None,
    threads: int = 0,
    log_every: int = 50,
) -> dict:
    import torch
    from torch.nn import functional as F

    if threads:
        torch.set_num_threads(threads)
    vocab = data.vocabulary()
    sample = data.render(*data.character("judge", 0))
    cfg = cfg or JudgeConfig(
        attr_sizes=[len(v) for v in vocab.values()], n_poses=sample.shape[0] * sample.shape[1]
    )
    if steps:
        cfg.steps = steps
    common.seed_everything(cfg.seed)
    judge = build_judge(cfg)
    rng = np.random.Generator(np.random.PCG64(cfg.seed))
    opt = torch.optim.AdamW(judge.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps)
    t0 = time.time()
    judge.train()
    for step in range(cfg.steps):
        sheets, attrs = real_sheets("judge", step * cfg.batch, cfg.batch)
        x, pose = _frames_tensor(sheets)
        p = pose.shape[0] // cfg.batch
        y = torch.from_numpy(np.stack([data.encode_attrs(a, vocab) for a in attrs]))
        y = y.repeat_interleave(p, 0)
        pick = torch.from_numpy(
            np.concatenate([i * p + rng.choice(p, cfg.frames_per_char, replace=False)
                            for i in range(cfg.batch)])
        )  # fmt: skip
        x, pose, y = x[pick], pose[pick], y[pick]
        _, logits = judge(x, pose)
        loss = sum(F.cross_entropy(lg, y[:, i]) for i, lg in enumerate(logits))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0:
            log.info("judge step %d loss %.4f", step, loss.item())
    out.mkdir(parents=True, exist_ok=True)
    common.save_checkpoint(out / "judge.safetensors", judge.state_dict(), {"steps": cfg.steps})
    atomic_write_json(out / "judge_config.json", dataclasses.asdict(cfg))
    return {"steps": cfg.steps, "wall_s": time.time() - t0}


def load_judge(path: Path):

    raw = read_json(path / "judge_config.json")
    cfg = JudgeConfig(**raw)
    judge = build_judge(cfg)
    tensors, _ = common.load_checkpoint(path / "judge.safetensors")
    judge.load_state_dict(tensors)
    judge.eval()
    return judge, cfg


def judge_sheets(judge, sheets: np.ndarray, batch: int = 64) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per-frame features (S, P, feat) and per-sheet attribute predictions [(S,) per key].

    Sheet predictions average the log-probabilities of all frames of the sheet."""
    import torch

    feats, preds = [], None
    for i in range(0, len(sheets), batch):
        chunk = sheets[i : i + batch]
        x, pose = _frames_tensor(chunk)
        with torch.inference_mode():
            f, logits = judge(x, pose)
        s, p = len(chunk), pose.shape[0] // len(chunk)
        feats.append(f.view(s, p, -1).numpy())
        lp = [torch.log_softmax(lg, 1).view(s, p, -1).mean(1).argmax(1).numpy() for lg in logits]
        preds = lp if preds is None else [np.concatenate([a, b]) for a, b in zip(preds, lp)]
    return np.concatenate(feats), preds or []
