"""Training jobs: ``train.music`` (sprites and images plug in the same way).

Torch-free: the studio validates the params and shows the presets; the job itself runs in a
training child process (``needs_process``; a separate interpreter speaking JSON lines, see
:mod:`genstudio.core.procrunner`), where :meth:`TrainMusicGenerator.run` imports the trainer
(:mod:`genstudio.ml.music.finetune`) by name. The run folder (``run``) makes a job resumable:
the same params after a kill or a crash continue from the run's last complete checkpoint.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators.base import GenerationResult, Generator, GenParams, RunContext

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
REPORT_FILE = "data-report.json"
LOG_FILE = "log.jsonl"
CKPT_DIR = "checkpoints"
PREVIEW_DIR = "previews"

#: presets in plain words; minutes of training on the machine it runs on (steps follow from a
#: short speed measurement at the start of the run, so "10 minutes" is 10 minutes here)
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"title": "Quick try", "minutes": 3.0},
    "standard": {"title": "Standard", "minutes": 10.0},
    "thorough": {"title": "Thorough", "minutes": 30.0},
}
METHODS = ("auto", "lora", "full")
DEVICES = ("auto", "cpu", "cuda")


def preset_words(preset: str, device: str = "cpu") -> str:
    """ "Standard - about 10 minutes on this CPU" """
    p = PRESETS[preset]
    where = "this GPU" if device == "cuda" else "this CPU"
    return f"{p['title']} - about {p['minutes']:g} minutes on {where}"


def cpu_words() -> str:
    return f"{os.cpu_count() or 1} CPU cores"


@dataclass(frozen=True)
class TrainMusicParams(GenParams):
    data: tuple[str, ...] = field(default_factory=tuple)  # MIDI files and folders
    name: str = "My style"  # shown as "My style: <name>"
    out: str = ""  # the pack folder to write (the project's models/<slug>)
    run: str = ""  # the run folder (checkpoints, log, previews); resumable
    base: str = ""  # the pack to start from: "" = the built-in music-gpt
    preset: str = "standard"
    minutes: float = 0.0  # 0: the preset's
    steps: int = 0  # 0: from the time budget
    method: str = "auto"
    rank: int = 16
    alpha: float = 32.0
    lr: float = 0.0
    batch: int = 0  # 0: from the hardware
    device: str = "auto"
    seed: int = 1234
    preview_every: int = 0  # 0: about 5 previews per run
    save_every: int = 0  # 0: about every 30 s of training
    ddp: bool = False

    def validate(self) -> None:
        if not self.data:
            raise InvalidParamsError(
                "There is no material to train on.",
                hint="Drop a folder of MIDI files or pick MIDI clips in the gallery.",
            )
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 80:
            raise InvalidParamsError("Give the style a name (1-80 characters).")
        if not self.out or not self.run:
            raise InvalidParamsError("A training job needs an output folder and a run folder.")
        if self.preset not in PRESETS and not (self.minutes or self.steps):
            raise InvalidParamsError(
                f"Unknown preset {self.preset!r}.", hint=f"Use one of: {', '.join(PRESETS)}."
            )
        if self.method not in METHODS:
            raise InvalidParamsError(f"Unknown method {self.method!r}.", hint=", ".join(METHODS))
        if self.device not in DEVICES:
            raise InvalidParamsError(f"Unknown device {self.device!r}.", hint=", ".join(DEVICES))
        for label, v, lo, hi in (
            ("minutes", self.minutes, 0, 10_000),
            ("steps", self.steps, 0, 10_000_000),
            ("rank", self.rank, 1, 256),
            ("alpha", self.alpha, 0.01, 1024),
            ("learning rate", self.lr, 0, 1),
            ("batch", self.batch, 0, 4096),
            ("seed", self.seed, 0, 2**63 - 1),
            ("preview interval", self.preview_every, 0, 1_000_000),
            ("checkpoint interval", self.save_every, 0, 1_000_000),
        ):
            if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
                raise InvalidParamsError(f"The {label} {v!r} is out of range ({lo}-{hi}).")

    def budget_minutes(self) -> float:
        if self.minutes:
            return float(self.minutes)
        if self.steps:
            return 0.0
        return float(PRESETS[self.preset]["minutes"])

    def train_config(self) -> dict[str, Any]:
        """The trainer's settings (``genstudio.ml.trainer.TrainConfig``); 0 = decided there."""
        return {
            "method": self.method,
            "rank": self.rank,
            "alpha": self.alpha,
            "lr": self.lr,
            "batch": self.batch,
            "max_steps": self.steps,
            "minutes": self.budget_minutes(),
            "device": self.device,
            "seed": self.seed,
            "preview_every": self.preview_every,
            "save_every": self.save_every,
        }


class TrainMusicGenerator(Generator):
    name = "train.music"
    kind = "model"
    Params = TrainMusicParams
    needs_process = True
    #: what the child process runs (imported there only: the studio never imports torch)
    trainer = "genstudio.ml.music.finetune:run_job"

    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        module, _, fn = self.trainer.partition(":")
        info = getattr(importlib.import_module(module), fn)(params, ctx)
        return GenerationResult(info=info)


def default_paths(models_dir: Path, name: str) -> tuple[Path, Path]:
    """(pack folder, run folder) for a new style called ``name`` in ``models_dir``."""
    import re

    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "my-style"
    return models_dir / f"music-{slug}", models_dir / ".runs" / f"music-{slug}"


# ---------------------------------------------------------------------------------- run folders
# (read by the studio, written by genstudio.ml.trainer)


def read_run(run: Path) -> dict[str, Any] | None:
    try:
        return read_json(run / RUN_FILE, what="training run")
    except GenStudioError:
        return None


def write_run(run: Path, **fields: Any) -> dict[str, Any]:
    doc = read_run(run) or {"format": "genstudio.train-run", "version": 1}
    doc.update(fields)
    doc["updated"] = time.time()
    atomic_write_json(run / RUN_FILE, doc)
    return doc


def append_log(run: Path, **fields: Any) -> None:
    fields.setdefault("time", round(time.time(), 3))
    try:
        with open(run / LOG_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(fields) + "\n")
    except OSError as e:  # a full disk must not stop training; the checkpoint decides
        log.warning("training log not written: %s", e)


def read_log(run: Path, limit: int = 100_000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        with open(run / LOG_FILE, encoding="utf-8", errors="replace") as f:
            for line in f:
                if len(rows) >= limit:
                    break
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill
                if isinstance(row, dict):
                    rows.append(row)
    except OSError:
        pass
    return rows


def latest_checkpoint(run: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint whose complete-marker exists and whose hash matches."""
    folder = run / CKPT_DIR
    if not folder.is_dir():
        return None
    markers = sorted(folder.glob("step-*.json"), reverse=True)
    for marker in markers:
        try:
            meta = read_json(marker, what="checkpoint marker")
            tensors = marker.with_suffix(".safetensors")
            with open(tensors, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except (GenStudioError, OSError) as e:
            log.warning("checkpoint %s not usable: %s", marker.name, e)
            continue
        if digest != meta.get("sha256"):
            log.warning("checkpoint %s does not match its marker; skipped", marker.name)
            continue
        return tensors, meta
    return None


def list_runs(models_dir: Path) -> list[dict[str, Any]]:
    """Past and current runs under ``models_dir/.runs``, newest first, each with its folder,
    status, step and whether it can be resumed (a complete checkpoint and not done)."""
    out: list[dict[str, Any]] = []
    root = Path(models_dir) / ".runs"
    if not root.is_dir():
        return out
    for run in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        doc = read_run(run)
        if doc is None:
            continue
        status = str(doc.get("status", "unknown"))
        ckpt = latest_checkpoint(run) if status != "done" else None
        out.append(
            {
                **doc,
                "folder": str(run),
                "status": status,
                "resumable": status != "done" and ckpt is not None,
                "checkpoint_step": int(ckpt[1]["step"]) if ckpt else None,
            }
        )
    out.sort(key=lambda d: d.get("updated", 0), reverse=True)
    return out
