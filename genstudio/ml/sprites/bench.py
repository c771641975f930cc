"""``genstudio bench sprites``: ONNX Runtime vs PyTorch eager on the same SpriteNet weights.

Interleaved A/B runs in one process, same inputs and thread count, p50/p95 over >= 20 runs
after warm-up (../shared/METRICS.md). Also the procedural renderer and the whole generator
(model + post-processing + PNG) as a user feels it.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.stats import summarize


def _stats(xs: list[float]) -> dict[str, float]:
    return summarize(xs, "ms", scale=1000.0)


def bench_sprites(pack_dir: Path | None = None, runs: int = 30, warmup: int = 3) -> dict[str, Any]:
    from genstudio.generators.base import RunContext
    from genstudio.generators.sprites import model_gen, procedural
    from genstudio.generators.sprites.generator import ProceduralSpriteGenerator, SpriteParams

    threads = os.cpu_count() or 1
    out: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": threads},
        "threads": threads,
    }
    # procedural renderer
    rng = np.random.Generator(np.random.PCG64(0))
    attrs = [procedural.sample_attributes(rng) for _ in range(200)]
    t0 = time.perf_counter()
    for a in attrs:
        procedural.render_sheet(a, 0)
    out["procedural_sheets_per_s"] = len(attrs) / (time.perf_counter() - t0)

    pack_root = Path(pack_dir) if pack_dir else model_gen.default_pack_dir()
    if not (pack_root / "model.json").exists():
        out["spritenet"] = "model pack not found; train it with `genstudio ml train sprites`"
        return out
    pack, session, vocab, z_dim = model_gen._load(pack_root)
    out["provider"] = session.get_providers()[0]
    results: dict[str, Any] = {}
    for batch in (1, 16):
        a = np.array([[vocab[k].index(x[k]) for k in vocab] for x in attrs[:batch]], dtype=np.int64)
        z = np.stack([model_gen.latent(i, z_dim) for i in range(batch)])
        torch_fn = None
        try:
            torch_fn = _torch_runner(pack, a, z, threads)
        except ImportError:
            results.setdefault("note", "torch is not installed: ONNX Runtime only")
        ort_t, torch_t = [], []
        for i in range(warmup + runs):
            t = time.perf_counter()
            (idx_ort,) = session.run(["indices"], {"attrs": a, "z": z})
            dt = time.perf_counter() - t
            if i >= warmup:
                ort_t.append(dt)
            if torch_fn is not None:
                t = time.perf_counter()
                idx_torch = torch_fn()
                dt = time.perf_counter() - t
                if i >= warmup:
                    torch_t.append(dt)
        row: dict[str, Any] = {"onnxruntime": _stats(ort_t)}
        if torch_t:
            row["pytorch_eager"] = _stats(torch_t)
            row["speedup_p50"] = row["pytorch_eager"]["p50_ms"] / row["onnxruntime"]["p50_ms"]
            row["pixel_agreement"] = float((idx_ort == idx_torch).mean())
        row["per_sheet_p50_ms"] = row["onnxruntime"]["p50_ms"] / batch
        results[f"batch_{batch}"] = row
    out["spritenet"] = results
    # what a user waits for: finished sheets (model + post-processing + PNG), 1 and 16 at once
    gen = model_gen.SpriteNetGenerator()
    proc = ProceduralSpriteGenerator()
    for label, g in (("spritenet_generator", gen), ("procedural_generator", proc)):
        for count in (1, 16):
            ts = []
            for i in range(12 if count == 1 else 6):
                t = time.perf_counter()
                g.run(SpriteParams(prompt="knight", seed=i * count, count=count), RunContext())
                ts.append(time.perf_counter() - t)
            out[f"{label}_{count}_sheets"] = _stats(ts[1:])
    out["targets"] = {"one_sheet_p50_ms": 150, "sixteen_sheets_s": 1.5, "ort_vs_torch_goal": 1.5}
    return out


def _torch_runner(pack: Any, a: np.ndarray, z: np.ndarray, threads: int):
    import torch

    from genstudio.ml import common
    from genstudio.ml.sprites.model import SpriteNetConfig, build

    raw = dict(pack.raw["training"]["net_config"])
    raw["ch"] = tuple(raw["ch"])
    net, export_cls = build(SpriteNetConfig(**raw))
    tensors, _ = common.load_checkpoint(pack.root / "weights.safetensors")
    bias = tensors.pop("export.logit_bias", None)
    net.load_state_dict(tensors)
    model = export_cls(net, bias).eval()
    torch.set_num_threads(threads)
    at, zt = torch.from_numpy(a), torch.from_numpy(z)

    def run() -> np.ndarray:
        with torch.inference_mode():
            return model(at, zt).numpy()

    return run
