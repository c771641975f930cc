"""``genstudio bench images``: the built-in model through ONNX Runtime vs PyTorch eager on the same
weights, and the Stable Diffusion pipeline's own overhead on a tiny SD export.

* **Built-in, one 64x64 image**: prompt -> text vector -> ``steps`` DPM++ 2M steps with
  classifier-free guidance (one batch-2 UNet call per step) -> decoder -> RGBA. The ONNX
  Runtime run is the product's path (``IconModel.generate``); the PyTorch run loads the pack's
  safetensors into the same networks and runs the same numpy scheduler loop with the same
  text vector (the text encoder is ONNX in both: there is one int8 MiniLM). Runs alternate
  A B A B ..., same thread count; the prompt cache is cleared so every run encodes its prompt.
* **SD pipeline overhead**: a tiny random Stable Diffusion export (built with diffusers at bench
  time, test-only dependencies) timed by ``sd_onnx.bench_sd_overhead``: the share of a step
  spent outside the UNet (tokenizer, text encoder, scheduler, VAE glue). Skipped with the reason
  when diffusers/transformers are not installed.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _stats(xs: list[float]) -> dict[str, float]:
    a = np.array(xs)
    return {"p50_s": float(np.percentile(a, 50)), "p95_s": float(np.percentile(a, 95)), "n": len(a)}


def _torch_pipeline(model, threads: int):
    import torch

    from genstudio.generators.images.icons import from_model_space
    from genstudio.generators.images.schedulers import make_scheduler
    from genstudio.ml import common
    from genstudio.ml.images.model import AEConfig, UNetConfig, build_ae, build_unet

    torch.set_num_threads(threads)
    cfg = model.pack.raw["net_config"]
    unet, ae = build_unet(UNetConfig(**cfg["unet"])), build_ae(AEConfig(**cfg["autoencoder"]))
    tensors, _ = common.load_checkpoint(model.pack.root / "weights.safetensors")
    unet.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("unet.")})
    ae.load_state_dict({k[3:]: v for k, v in tensors.items() if k.startswith("ae.")})
    unet.eval()
    ae.eval()

    def run(prompt: str, seed: int, steps: int, guidance: float) -> np.ndarray:
        vec = model.text.encode([prompt]).vectors[0]
        sched = make_scheduler("dpmpp_2m", model.scheduler_config)
        sched.set_timesteps(steps)
        c, h, w = model.latent_shape
        x = np.random.Generator(np.random.PCG64(seed)).standard_normal((1, c, h, w), np.float32)
        text = torch.from_numpy(np.stack([vec, vec]))
        use = torch.tensor([[1.0], [0.0]])
        with torch.inference_mode():
            for i, t in enumerate(sched.timesteps):
                xin = torch.from_numpy(np.concatenate([x, x]).astype(np.float32))
                e = unet(xin, torch.tensor([int(t)] * 2), text, use).numpy()
                x = sched.step(e[1:] + guidance * (e[:1] - e[1:]), i, x)
            img = ae.decoder(torch.from_numpy((x / model.latent_scale).astype(np.float32)))
        return from_model_space(img.numpy())[0]

    return run


def bench_images(
    pack_dir: Path | None = None, runs: int = 20, warmup: int = 2, steps: int = 20
) -> dict[str, Any]:
    from genstudio.generators.images.icons import DEFAULT_GUIDANCE, IconModel, IconRequest

    threads = os.cpu_count() or 1
    model = IconModel(pack_dir)
    out: dict[str, Any] = {"threads": threads, "steps": steps, "scheduler": "dpmpp_2m"}
    prompts = ["red apple", "green potion bottle", "smiling sun", "blue fish", "golden key"]
    try:
        torch_run = _torch_pipeline(model, threads)
    except ImportError:
        torch_run = None
    ort_t, torch_t, parts = [], [], []
    for i in range(warmup + runs):
        prompt, seed = prompts[i % len(prompts)], i
        model.text._cache.clear()
        t = time.perf_counter()
        res = model.generate(IconRequest(prompt, steps=steps, seed=seed))
        if i >= warmup:
            ort_t.append(time.perf_counter() - t)
            parts.append(res.timings)
        if torch_run is not None:
            model.text._cache.clear()
            t = time.perf_counter()
            torch_run(prompt, seed, steps, DEFAULT_GUIDANCE)
            if i >= warmup:
                torch_t.append(time.perf_counter() - t)
    row: dict[str, Any] = {
        "onnxruntime": _stats(ort_t),
        "parts_mean_s": {k: float(np.mean([p[k] for p in parts])) for k in parts[0]},
    }
    if torch_t:
        row["torch_eager"] = _stats(torch_t)
        row["ort_vs_torch_speedup"] = float(np.median(torch_t) / np.median(ort_t))
    out["builtin_64px_one_image"] = row
    out["sd_tiny_overhead"] = _bench_sd()
    out["targets"] = {"builtin_64px_s": 0.5, "sd_outside_unet_share_of_step": 0.05}
    return out


def _bench_sd() -> dict[str, Any]:
    try:
        from genstudio.generators.images.sd_onnx import bench_sd_overhead
        from genstudio.ml.images.tiny_sd import build_tiny_sd
    except ImportError as e:
        return {"skipped": f"SD pipeline modules unavailable: {e}"}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tiny = build_tiny_sd(Path(tmp) / "tiny-sd")
            return {**bench_sd_overhead(tiny.onnx_dir), "export": "tiny random SD 1.x (bench time)"}
    except ImportError as e:
        return {"skipped": f"building the tiny SD export needs diffusers + transformers: {e}"}
