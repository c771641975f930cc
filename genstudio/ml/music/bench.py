"""``genstudio bench music``: ONNX Runtime (KV cache) vs PyTorch eager on the same MusicGPT weights.

* **tokens/s at batch 1**: a run feeds the header and then ``steps`` single tokens through the
  cache (the model's own greedy choices, so both back-ends do the same work); runs alternate
  ONNX Runtime / PyTorch (A B A B ...), same thread count (the product's: one); p50/p95 per back-end, ratio of medians.
* **32 bars of Generate** per style through the whole sampler (masks, top-p, sliding window).
* **rendering 32 bars to audio** with the built-in synth and, when one is found, a SoundFont.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.stats import summarize


def _stats(xs: list[float], unit: str = "s") -> dict[str, float]:
    return summarize(xs, unit)


def _torch_stepper(model, threads: int):
    import torch

    from genstudio.ml import common
    from genstudio.ml.music.model import MusicGPTConfig, build

    raw = dict(model.pack.raw["training"]["net_config"])
    cfg = MusicGPTConfig(**raw)
    net, _ = build(cfg)
    tensors, _ = common.load_checkpoint(model.pack.root / "weights.safetensors")
    net.load_state_dict(tensors)
    net.eval()
    torch.set_num_threads(threads)

    def run(header: list[int], steps: int) -> int:
        with torch.inference_mode():
            past = []
            for _ in range(cfg.n_layer):
                past += [
                    torch.zeros(1, cfg.n_head, cfg.head_dim, 0),
                    torch.zeros(1, cfg.n_head, 0, cfg.head_dim),
                ]
            logits, *past = net.step(torch.tensor([header]), *past)
            n = 0
            for _ in range(steps):
                tok = int(logits[0].argmax())
                logits, *past = net.step(torch.tensor([[tok]]), *past)
                n += 1
            return n

    return run


def _ort_stepper(model):
    def run(header: list[int], steps: int) -> int:
        logits, past = model.run(np.array([header]), model.empty())
        n = 0
        for _ in range(steps):
            tok = int(np.argmax(logits[0]))
            logits, past = model.run(np.array([[tok]]), past)
            n += 1
        return n

    return run


def bench_music(
    pack_dir: Path | None = None, runs: int = 20, warmup: int = 2, gen_runs: int = 11
) -> dict[str, Any]:
    from genstudio.generators.music import sampler
    from genstudio.generators.music.generator import MusicGenerator, MusicParams

    threads = sampler.STEP_THREADS  # the thread count the product runs the model with
    out: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "threads": threads,
    }
    try:
        model = sampler.load_model(pack_dir)
    except Exception as exc:  # no pack: say so in the JSON rather than fail the whole bench
        out["music"] = f"model pack not usable: {exc}"
        return out
    out["provider"] = model.session.get_providers()[0]
    steps = min(448, model.max_len - 8)
    header = sampler.header_tokens("folk", "D major", (4, 4), 110)
    ort_run = _ort_stepper(model)
    torch_run = None
    try:
        torch_run = _torch_stepper(model, threads)
    except ImportError:
        out["note"] = "torch is not installed: ONNX Runtime only"
    ort_tps, torch_tps = [], []
    for i in range(warmup + runs):
        t = time.perf_counter()
        n = ort_run(header, steps)
        if i >= warmup:
            ort_tps.append(n / (time.perf_counter() - t))
        if torch_run is not None:
            t = time.perf_counter()
            n = torch_run(header, steps)
            if i >= warmup:
                torch_tps.append(n / (time.perf_counter() - t))
    row: dict[str, Any] = {"tokens_per_run": steps, "onnxruntime": _stats(ort_tps, "tok_s")}
    if torch_tps:
        row["torch_eager"] = _stats(torch_tps, "tok_s")
        row["ort_vs_torch"] = float(np.median(ort_tps) / np.median(torch_tps))
    out["kv_cache_batch1"] = row
    gen = MusicGenerator(pack_dir)
    for style, ts in (("folk", "4/4"), ("chorale", "4/4"), ("melody_accomp", "4/4")):
        ts_list, n_tok = [], []
        for i in range(gen_runs):  # the first run warms up
            p = MusicParams(
                style=style, key="G major", time_signature=ts, bars=32, seed=i, audio=False
            )
            t = time.perf_counter()
            score, _ = gen.compose(p, i)
            ts_list.append(time.perf_counter() - t)
            n_tok.append(len(score.notes))
        out[f"generate_32_bars_{style}"] = {
            **_stats(ts_list[1:]),
            "notes_mean": float(np.mean(n_tok)),
        }
    out["audio_32_bars"] = _bench_audio(gen)
    out["targets"] = {"tokens_per_s": 2000, "generate_32_bars_s": 1.0, "render_32_bars_s": 0.5}
    return out


def _bench_audio(gen) -> dict[str, Any]:
    from genstudio.generators.music import soundfont, synth
    from genstudio.generators.music.generator import MusicParams

    p = MusicParams(style="chorale", key="C major", bars=32, seed=1, audio=False, tempo=100)
    score, _ = gen.compose(p, 1)
    res: dict[str, Any] = {"notes": len(score.notes), "audio_s": score.duration_s}
    ts = []
    for _ in range(6):
        t = time.perf_counter()
        synth.render(score)
        ts.append(time.perf_counter() - t)
    res["synth"] = _stats(ts[1:])
    sf = soundfont.find_soundfont()
    if sf is not None:
        ts = []
        for _ in range(4):
            t = time.perf_counter()
            soundfont.render_soundfont(score, sf)
            ts.append(time.perf_counter() - t)
        res["soundfont"] = {**_stats(ts[1:]), "file": sf.name}
    return res


def bench_train(
    pack_dir: Path | None = None, steps: int = 12, warmup: int = 2, batch: int = 8
) -> dict[str, Any]:
    """``genstudio bench train``: fine-tuning speed of MusicGPT (full and LoRA) on this machine.

    The material is 8 pieces of 16 bars written by the base model itself (so the bench needs no
    files); per method: p50/p95 of a training step (batch ``batch``, windows of the model's
    context), steps/s and target tokens/s. "Minutes to a usable fine-tune" is read from the
    style-adoption run recorded in docs/models/music-style-eval.json when it is there."""
    import tempfile

    import torch

    from genstudio.core.paths import shipped_models_dir
    from genstudio.generators.music import midi
    from genstudio.generators.music.generator import MusicGenerator, MusicParams
    from genstudio.ml import lora, trainer
    from genstudio.ml.music.finetune import IGNORE, MusicTask

    base = Path(pack_dir) if pack_dir else shipped_models_dir() / "music-gpt"
    hw = trainer.detect_hardware("auto")
    out: dict[str, Any] = {"hardware": hw.words(), "device": hw.device, "batch": batch}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "midi"
        data.mkdir()
        gen = MusicGenerator(base)
        for i in range(8):
            p = MusicParams(style="chorale", key="D major", bars=16, seed=i, audio=False)
            score, _ = gen.compose(p, i)
            midi.write_midi(score, data / f"p{i}.mid")
        for method in ("full", "lora"):
            task = MusicTask([str(data)], base=base, name="bench")
            task.prepare(Path(tmp) / f"run-{method}")
            net = task.build(hw.device)
            if method == "lora":
                lora.apply(net, task.lora_targets(), rank=16, alpha=32)
                net.to(hw.device)
            params = [q for q in net.parameters() if q.requires_grad]
            opt = torch.optim.AdamW(params, lr=1e-4)
            rng = np.random.Generator(np.random.PCG64(0))
            times, toks = [], []
            net.train()
            for i in range(warmup + steps):
                b = task.sample(rng, batch)
                t = time.perf_counter()
                trainer._step(task, net, opt, b, batch, hw.device, None, None, params)
                if hw.device == "cuda":
                    torch.cuda.synchronize()
                if i >= warmup:
                    times.append(time.perf_counter() - t)
                    toks.append(int((b[1] != IGNORE).sum()))
            med = float(np.median(times))
            out[method] = {
                "step": _stats(times),
                "steps_per_s": round(1 / med, 3),
                "tokens_per_s": round(float(np.median(np.array(toks) / np.array(times))), 1),
                "trainable_params": sum(q.numel() for q in params),
            }
    ref = Path(__file__).resolve().parents[3] / "docs" / "models" / "music-style-eval.json"
    try:
        run = json.loads(ref.read_text(encoding="utf-8")).get("fine_tune", {})
        out["minutes_to_a_usable_fine_tune"] = {
            "minutes": run.get("job_minutes"),
            "adoption": run.get("adoption"),
            "source": "docs/models/music-style-eval.json (the style-adoption run)",
        }
    except (OSError, ValueError):
        out["minutes_to_a_usable_fine_tune"] = None
    return out
