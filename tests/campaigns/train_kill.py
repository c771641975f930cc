"""Kill the training child with SIGKILL at random moments; every run must resume from its last
complete checkpoint and the final weights must equal an uninterrupted run's.

    python -m tests.campaigns.train_kill --kills 20 --out docs/campaigns/train-kill.json

The child is started exactly as the studio starts it (``python -m genstudio.core.childmain``,
JSON lines), on the shipped music-gpt base (``--base``) fine-tuned on small generated pieces.
For each kill the report records the newest complete checkpoint on disk right after the kill
and the step the next run says it resumed from; they must be equal.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def _weights(pack: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(pack / "weights.safetensors"))


def campaign(
    work: Path,
    *,
    kills: int,
    steps: int,
    base: Path | None,
    seed: int = 0,
    method: str = "full",
    max_delay: float = 0.4,
) -> dict[str, Any]:
    from genstudio.core.paths import shipped_models_dir
    from genstudio.generators.training import latest_checkpoint
    from tests.helpers.training import params, read_events, start_child, tiny_base, write_pieces

    work.mkdir(parents=True, exist_ok=True)
    data = work / "midi"
    write_pieces(data, 6)
    base = base or shipped_models_dir() / "music-gpt"
    if str(base) == "tiny":
        base = tiny_base(work / "tiny-base")
    kw = dict(steps=steps, batch=4, save_every=3, preview_every=max(1, steps // 3), method=method)
    t0 = time.monotonic()
    ref_job = params(data, work / "ref", base, **kw)
    ref_events = read_events(start_child(ref_job))
    assert any(e.get("type") == "done" for e in ref_events), ref_events[-3:]
    ref_s = time.monotonic() - t0

    job = params(data, work / "killed", base, **kw)
    run = Path(job["run"])
    rnd = random.Random(seed)
    log: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None
    attempts = 0
    while True:
        attempts += 1
        proc = start_child(job)
        events: list[dict[str, Any]] = []
        done = threading.Event()

        def reader(p=proc, ev=events, d=done) -> None:
            assert p.stdout is not None
            for line in p.stdout:
                try:
                    ev.append(json.loads(line))
                except ValueError:
                    continue
            p.wait()
            d.set()

        threading.Thread(target=reader, daemon=True).start()
        killed = False
        if len(log) + (pending is not None) < kills:
            # a random step after the newest checkpoint, then a random moment within a step or
            # two: kills land in the data step, mid-step, mid-checkpoint, mid-preview
            ck = latest_checkpoint(run)
            first = int(ck[1]["step"]) + 1 if ck else 1
            # at most a checkpoint interval past the newest checkpoint: each kill costs work
            target = rnd.randint(first, max(first, min(steps - 1, first + 3)))
            delay = rnd.uniform(0.0, max_delay)
            while not done.is_set():
                reached = [e["data"]["step"] for e in list(events) if e.get("type") == "event"
                           and e.get("name") == "loss"]  # fmt: skip
                if reached and reached[-1] >= target:
                    time.sleep(delay)
                    break
                time.sleep(0.01)
            if not done.is_set():
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
        done.wait(600)
        resumed = [e["data"]["step"] for e in events if e.get("type") == "event"
                   and e.get("name") == "resumed_from"]  # fmt: skip
        if pending is not None:
            pending["resumed_from"] = resumed[0] if resumed else 0
            pending["ok"] = pending["resumed_from"] == pending["last_complete"]
            log.append(pending)
            pending = None
        if killed:
            ck = latest_checkpoint(run)
            pending = {
                "kill": len(log) + 1,
                "at_step": target,
                "extra_delay_s": round(delay, 3),
                "rc": proc.returncode,
                "last_complete": int(ck[1]["step"]) if ck else 0,
            }
            continue
        if any(e.get("type") == "done" for e in events):
            break
        raise RuntimeError(f"run ended without a result: {events[-3:]}")
    a, b = _weights(Path(ref_job["out"])), _weights(Path(job["out"]))
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    return {
        "what": "SIGKILL of the training child (python -m genstudio.core.childmain) at random "
        "moments; each restart must resume from the newest complete checkpoint; the final "
        "weights are compared with an uninterrupted run of the same job",
        "base": str(Path(base).name),
        "method": method,
        "steps": steps,
        "kills": len(log),
        "starts": attempts,
        "resumed_from_last_complete_checkpoint": sum(1 for x in log if x["ok"]),
        "max_abs_weight_difference": diff,
        "bit_exact": diff == 0.0,
        "uninterrupted_run_s": round(ref_s, 1),
        "log": log,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--base", type=Path, help="base pack (default: the shipped music-gpt)")
    ap.add_argument("--method", default="full")
    ap.add_argument("--work", type=Path, default=Path("runs/train-kill"))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-delay", type=float, default=0.4, help="s after the target step")
    a = ap.parse_args(argv)
    import shutil

    shutil.rmtree(a.work, ignore_errors=True)
    rep = campaign(
        a.work, kills=a.kills, steps=a.steps, base=a.base, seed=a.seed, method=a.method,
        max_delay=a.max_delay,
    )  # fmt: skip
    text = json.dumps(rep, indent=1)
    if a.out:
        a.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    ok = rep["bit_exact"] and rep["resumed_from_last_complete_checkpoint"] == rep["kills"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
