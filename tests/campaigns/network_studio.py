"""A scripted studio session for the network campaign (``tests/campaigns/network_strace.py``).

Opens the real main window offscreen on a project (created through the studio when the folder
has none), then, like a user, presses *Generate* in the Images panel (the built-in model, ONNX),
the Music panel (MusicGPT, ONNX) and the Sprites panel; every job goes through the studio's job
path (panel -> Qt job bridge -> JobRunner worker -> project). The window then stays open, idle,
until onnxruntime has been loaded for ``--hold`` seconds (the telemetry that issue 11 found
resolves its host about 9 s after the import), and closes.

Run as a script (``python tests/campaigns/network_studio.py PROJECT --hold 20``), so it imports
only ``genstudio`` - whichever ``genstudio`` is first on ``sys.path`` / ``PYTHONPATH``. Prints
one JSON line (jobs, states, assets, seconds onnxruntime was loaded) and exits 0 when every job
finished ``done`` and made at least one asset, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

PANELS = ("images", "music", "sprites")


def run(project: Path, hold: float, timeout: float) -> dict:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer

    from genstudio.ui.app import build_window, create_app

    t0 = time.monotonic()
    app = create_app()
    window = build_window(project)
    window.show()
    runner = window.ctx.jobs.runner
    out: dict = {"project": str(project), "panels": {}, "errors": [], "messages": []}
    window.ctx.message.connect(lambda text, level: out["messages"].append(f"{level}: {text}"))
    todo = list(PANELS)
    ort_seen: list[float] = []

    def tick() -> None:
        now = time.monotonic()
        if not ort_seen and "onnxruntime" in sys.modules:
            ort_seen.append(now)
        busy = any(j.active for j in runner.jobs())
        if not busy and todo:
            mode = todo.pop(0)
            panel = window.set_mode(mode)
            if panel is None:
                out["errors"].append(f"no {mode} panel")
            else:
                if mode == "images":  # typed like a user; the rest keep the panel defaults
                    panel.prompt.setPlainText("red apple, glossy")
                panel.generate()  # what the Generate button (Ctrl+Enter) calls
                out["panels"][mode] = len(runner.jobs())
            return
        held = now - ort_seen[0] if ort_seen else 0.0
        if (not busy and not todo and held >= hold) or now - t0 > timeout:
            if now - t0 > timeout:
                out["errors"].append(f"timed out after {timeout:.0f} s")
            app.quit()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(100)
    app.exec()
    timer.stop()
    jobs = runner.jobs()
    out["jobs"] = [
        {
            "generator": j.spec.generator,
            "state": j.state.value,
            "assets": len(j.asset_ids),
            "error": j.error,
        }
        for j in jobs
    ]
    out["onnxruntime_loaded_s"] = round(time.monotonic() - ort_seen[0], 2) if ort_seen else 0.0
    out["seconds"] = round(time.monotonic() - t0, 2)
    out["ok"] = (
        not out["errors"]
        and len(jobs) == len(PANELS)
        and all(j.state.value == "done" and j.asset_ids for j in jobs)
    )
    window.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path)
    ap.add_argument("--hold", type=float, default=20.0, help="seconds onnxruntime stays loaded")
    ap.add_argument("--timeout", type=float, default=400.0)
    args = ap.parse_args(argv)
    out = run(args.project, args.hold, args.timeout)
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
