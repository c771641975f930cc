"""Small real material for training tests: MIDI pieces, a tiny MusicGPT base pack, the child."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TRAIN_TARGET = "genstudio.generators.training:TrainMusicGenerator"


def write_pieces(folder: Path, n: int = 6, *, bars: int = 8, seed: int = 0) -> list[Path]:
    """``n`` two-track pieces (an arpeggiated lead over a bass), different per index."""
    import random

    from genstudio.generators.music import midi
    from genstudio.generators.music import score as sc

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        r = random.Random(seed * 1000 + k)
        notes, t = [], 0
        for _bar in range(bars):
            for beat in range(8):
                p = 60 + [0, 4, 7, 12, 7, 4, 0, -5][beat] + r.choice([0, 2])
                notes.append(sc.Note(start=t, pitch=p, duration=240, velocity=80, track=0))
                if beat % 2 == 0:
                    notes.append(sc.Note(start=t, pitch=p - 24, duration=480, velocity=60, track=1))
                t += 240
        s = sc.Score(
            tracks=[sc.Track("Lead", 81), sc.Track("Bass", 33)],
            notes=notes,
            tempo=120.0,
            time_signature=(4, 4),
            key=sc.parse_key("C major"),
        )
        path = folder / f"piece{k}.mid"
        midi.write_midi(s, path)
        out.append(path)
    return out


def tiny_base(folder: Path, *, seed: int = 0) -> Path:
    """A real (randomly initialised, tiny) MusicGPT pack: the fast stand-in for music-gpt."""
    import torch

    from genstudio.generators.music import tokens as tk
    from genstudio.ml.music.model import MusicGPTConfig, build
    from genstudio.ml.music.train import write_music_pack

    if (folder / "model.json").exists():
        return folder
    torch.manual_seed(seed)
    cfg = MusicGPTConfig(vocab=tk.VOCAB.size, n_layer=1, n_head=2, d_model=32, max_len=128)
    net, _ = build(cfg)
    write_music_pack(net, cfg, folder, version="0.test", training={"script": "tests"})
    return folder


def params(data: Path, root: Path, base: Path, **kw: Any) -> dict[str, Any]:
    p = {
        "data": [str(data)],
        "name": "Test style",
        "out": str(root / "models" / "music-test-style"),
        "run": str(root / "models" / ".runs" / "music-test-style"),
        "base": str(base),
        "steps": 12,
        "batch": 4,
        "save_every": 3,
        "preview_every": 6,
    }
    p.update(kw)
    return p


def start_child(job: dict[str, Any]) -> subprocess.Popen:
    """The training child exactly as the studio starts it (JSON lines on stdin/stdout)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "genstudio.core.childmain"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    start = {
        "type": "start", "protocol": 1, "target": TRAIN_TARGET, "params": job,
        "sys_path": list(sys.path), "cwd": os.getcwd(),
    }  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(start) + "\n").encode())
    proc.stdin.flush()
    return proc


def read_events(proc: subprocess.Popen, *, timeout: float = 600) -> list[dict[str, Any]]:
    """Every protocol line until the child exits."""
    out = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
        if time.monotonic() > deadline:
            proc.kill()
            break
    proc.wait(timeout=60)
    return out
