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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators import fields
from genstudio.generators.base import GenerationResult, Generator, GenParams, RunContext
from genstudio.generators.fields import MAX_SEED, like, param

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
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class TrainerSettings:
    """The trainer's settings, declared once: what each means and which values it takes
    (``genstudio.ml.trainer.TrainConfig`` is this class with the trainer's methods; the job
    params below expose some of them with :func:`~genstudio.generators.fields.like`)."""

    method: str = param(
        "auto", "Method", choices=METHODS,
        help="lora: small adapters on the base (fast, light); full: every weight; auto: full for "
        "small models that fit memory easily, else lora",
    )  # fmt: skip
    rank: int = param(16, "LoRA rank", lo=1, hi=256, help="LoRA rank: size of the adapters (more learns more, costs more)")  # fmt: skip
    alpha: float = param(32.0, "LoRA alpha", lo=0.01, hi=1024, help="LoRA alpha: strength of the adapters (scale = alpha / rank)")  # fmt: skip
    lr: float = param(0.0, "Learning rate", lo=0, hi=1.0, help="peak learning rate (0: the method's default)")  # fmt: skip
    warmup: int = param(20, "Warm-up", lo=0, hi=100_000, help="steps of linear learning-rate warm-up")  # fmt: skip
    batch: int = param(0, "Batch", lo=0, hi=4096, help="training windows per step (0: from the hardware)")  # fmt: skip
    max_steps: int = param(
        0, "Steps", lo=0, hi=10_000_000,
        help="steps to train; the learning-rate schedule ends here (0: as many as the time "
        "budget allows)",
    )  # fmt: skip
    minutes: float = param(0.0, "Minutes", lo=0, hi=100_000, help="stop after this much training time (0: no time limit)")  # fmt: skip
    device: str = param("auto", "Device", choices=DEVICES, help="where to train: auto picks CUDA when torch sees a GPU")  # fmt: skip
    precision: str = param("auto", "Precision", choices=PRECISIONS, help="number format: auto = mixed precision on GPU, fp32 on CPU")  # fmt: skip
    seed: int = param(1234, "Seed", lo=0, hi=MAX_SEED, kind="seed", help="random seed: the same seed and data give the same model")  # fmt: skip
    save_every: int = param(0, "Checkpoint every", lo=0, hi=1_000_000, help="steps between checkpoints (0: about every 30 s)")  # fmt: skip
    eval_every: int = param(0, "Evaluate every", lo=0, hi=1_000_000, help="steps between held-out loss measurements (0: 10 per run)")  # fmt: skip
    preview_every: int = param(0, "Preview every", lo=0, hi=1_000_000, help="steps between previews (0: 4 per run)")  # fmt: skip
    weight_decay: float = param(0.01, "Weight decay", lo=0, hi=1.0, help="AdamW weight decay")  # fmt: skip
    threads: int = param(0, "Threads", lo=0, hi=1024, help="CPU threads for torch (0: all cores)")  # fmt: skip

    def validate(self) -> TrainerSettings:
        """Every field against its spec, then: a step count or a time budget."""
        fields.check_fields(self)
        if not self.max_steps and not self.minutes:
            raise InvalidParamsError(
                "Give the training a step count or a time budget.",
                hint="For example 10 minutes, or 500 steps.",
            )
        return self


def preset_words(preset: str, device: str = "cpu") -> str:
    """ "Standard - about 10 minutes on this CPU" """
    p = PRESETS[preset]
    where = "this GPU" if device == "cuda" else "this CPU"
    return f"{p['title']} - about {p['minutes']:g} minutes on {where}"


def cpu_words() -> str:
    return f"{os.cpu_count() or 1} CPU cores"


_T = TrainerSettings


@dataclass(frozen=True)
class TrainMusicParams(GenParams):
    data: tuple[str, ...] = param(
        (), "Material", kind="path", cli="--data", cli_metavar="FILE_OR_FOLDER",
        help="a MIDI file or folder (sub-folders are searched); repeatable",
    )  # fmt: skip
    name: str = param("My style", "Style name", max_len=80, cli=None, help='shown as "My style: <name>"')  # fmt: skip
    out: str = param("", "Model pack", kind="path", cli=None, help="the pack folder to write (the project's models/<slug>)")  # fmt: skip
    run: str = param("", "Run folder", kind="path", cli=None, help="checkpoints, log, previews; resumable")  # fmt: skip
    base: str = param("", "Start from", cli_metavar="PACK", help="the pack to start from ('' = the built-in music-gpt)")  # fmt: skip
    preset: str = param(
        "standard", "Length", choices=tuple(PRESETS),
        help="how long: quick 3, standard 10, thorough 30 minutes on this machine",
    )  # fmt: skip
    minutes: float = like(_T, "minutes", help="time budget in minutes (0: the preset's)")
    steps: int = like(_T, "max_steps", help="exact step count (0: from the time budget)")
    method: str = like(_T, "method")
    rank: int = like(_T, "rank")
    alpha: float = like(_T, "alpha")
    lr: float = like(_T, "lr")
    batch: int = like(_T, "batch")
    device: str = like(_T, "device")
    seed: int = like(_T, "seed")
    preview_every: int = like(
        _T, "preview_every", help="steps between previews (0: about 5 per run)"
    )
    save_every: int = like(_T, "save_every")
    ddp: bool = param(False, "Several processes", cli=None, help="trained by torchrun/DDP")

    def check(self) -> None:
        if not self.data:
            raise InvalidParamsError(
                "There is no material to train on.",
                hint="Drop a folder of MIDI files or pick MIDI clips in the gallery.",
            )
        if not self.name.strip():
            raise InvalidParamsError("Give the style a name (1-80 characters).")
        if not self.out or not self.run:
            raise InvalidParamsError("A training job needs an output folder and a run folder.")

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
    #: seconds a cancelled run may take to write its checkpoint before it is stopped (the
    #: runner's default, 2 s, was too short on a busy machine: the run stayed "running")
    cancel_grace = 60.0
    #: what the child process runs (imported there only: the studio never imports torch)
    trainer = "genstudio.ml.music.finetune:run_job"

    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        return GenerationResult(info=call_addon(self.trainer, params, ctx))


#: the training add-on's modules (torch and the libraries trained models need)
ADDON_MODULES = ("torch", "onnxscript", "diffusers", "transformers", "safetensors", "peft")


def call_addon(target: str, params: GenParams, ctx: RunContext) -> dict[str, Any]:
    """Call ``"module:function"`` of the training add-on (in the training child process); a
    missing add-on is a message that says how to get it, not a traceback."""
    module, _, fn = target.partition(":")
    try:
        func = getattr(importlib.import_module(module), fn)
    except ModuleNotFoundError as e:
        missing = (e.name or "").split(".")[0]
        if missing in ADDON_MODULES or (e.name or "").startswith("genstudio.ml"):
            raise GenStudioError(
                f"This needs the training add-on, which is not installed ({e.name} is missing).",
                hint="Install it beside the studio (packaging/README.md, 'Training add-on'), or "
                "run GenStudio from a source checkout with: pip install -e '.[train]'",
            ) from e
        raise
    info: dict[str, Any] = func(params, ctx)
    return info


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


def log_row(line: str | bytes) -> dict[str, Any] | None:
    """One line of ``log.jsonl`` as a dict; None for a line cut short by a kill (or junk)."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def read_log(run: Path, limit: int = 100_000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        with open(run / LOG_FILE, encoding="utf-8", errors="replace") as f:
            for line in f:
                if len(rows) >= limit:
                    break
                row = log_row(line)
                if row is not None:
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
