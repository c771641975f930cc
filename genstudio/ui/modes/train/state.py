"""The Train panel's logic without Qt: settings -> job params, run folders, log tailing, words.

Plain Python over the torch-free readers of :mod:`genstudio.generators.training`, so the panel
stays a thin layer of controls and this part is testable without widgets. Nothing here imports
:mod:`genstudio.ml`: the studio starts training by naming the ``train.music`` job.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators import training as tr
from genstudio.generators.music.dataset import MIDI_SUFFIXES, DataReport

GENERATOR = "train.music"
#: what the panel writes into a run folder at submit, so the run can be resumed from the list
JOB_FILE = "job.json"
JOB_FORMAT = "genstudio.train-job"

KINDS: tuple[tuple[str, str], ...] = (("music", "Music style"),)
KIND_NOTE = "Sprites and images come later."
PRESETS: tuple[str, ...] = tuple(tr.PRESETS)
METHOD_LABELS: dict[str, str] = {"auto": "Automatic", "lora": "LoRA", "full": "Full"}
METHOD_TIPS: dict[str, str] = {
    "auto": "GenStudio chooses: LoRA when memory or time is short, else full fine-tuning",
    "lora": "Small add-on weights (fast, little memory; the base model stays as it is)",
    "full": "Every weight of the model is trained (slower, needs more memory)",
}
DEVICE_LABELS: dict[str, str] = {"auto": "Automatic", "cpu": "CPU", "cuda": "GPU (CUDA)"}
STATUS_WORDS: dict[str, str] = {
    "running": "running",
    "paused": "paused",
    "cancelled": "stopped",
    "failed": "failed",
    "done": "done",
    "queued": "queued",
}
MIDI_FILTER = "MIDI files (" + " ".join(f"*{s}" for s in MIDI_SUFFIXES) + ")"
NAME_PREFIX = "My style:"
MAX_NAME = 80


def is_midi_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in MIDI_SUFFIXES


def style_title(name: str) -> str:
    return f"{NAME_PREFIX} {name.strip()}"


def name_from_sources(sources: list[str]) -> str:
    """A first name for the style from the material: the first folder's (or file's) name."""
    for s in sources:
        p = Path(s)
        stem = p.name if p.is_dir() else p.stem
        stem = re.sub(r"[_\-]+", " ", stem).strip()
        if stem:
            return stem[:40]
    return ""


# --- settings --------------------------------------------------------------------------------


@dataclass
class TrainSettings:
    """What the panel's controls say; :meth:`to_params` is the job's params (TrainMusicParams)."""

    kind: str = "music"
    sources: list[str] = field(default_factory=list)
    name: str = ""
    preset: str = "standard"
    method: str = "auto"
    steps: int = 0
    seed: int = 1234
    device: str = "auto"

    def paths(self, models_dir: Path) -> tuple[Path, Path]:
        """(pack folder, run folder) of this style in ``models_dir``."""
        return tr.default_paths(Path(models_dir), self.name.strip())

    def to_params(self, models_dir: Path) -> dict[str, Any]:
        out, run = self.paths(models_dir)
        return {
            "data": [str(s) for s in self.sources],
            "name": self.name.strip(),
            "out": str(out),
            "run": str(run),
            "preset": self.preset,
            "steps": int(self.steps),
            "method": self.method,
            "device": self.device,
            "seed": int(self.seed),
        }

    def check(self) -> None:
        if not self.sources:
            raise InvalidParamsError(
                "There is no material to train on.",
                hint="Drop a folder of MIDI files on the panel, or press 'Add folder...'.",
            )
        name = self.name.strip()
        if not name:
            raise InvalidParamsError("Give the style a name.", hint="Type it after 'My style:'.")
        if len(name) > MAX_NAME:
            raise InvalidParamsError(f"The name is too long ({len(name)} of {MAX_NAME}).")
        tr.TrainMusicParams.from_dict(self.to_params(Path("models")))


def job_title(name: str) -> str:
    return f"Train music style: {name.strip()}"


def taken(models_dir: Path, name: str) -> bool:
    """Whether a style called ``name`` exists in ``models_dir`` (its pack or a started run)."""
    out, run = tr.default_paths(Path(models_dir), name.strip())
    return out.exists() or (run / tr.RUN_FILE).exists()


def free_name(models_dir: Path, name: str) -> str:
    """``name`` or ``name 2``, ``name 3``... whichever is not taken."""
    base = re.sub(r"\s+\d+$", "", name.strip()) or "My style"
    if not taken(models_dir, name):
        return name.strip()
    for i in range(2, 1000):
        cand = f"{base} {i}"
        if not taken(models_dir, cand):
            return cand
    return f"{base} {os.getpid()}"


# --- run folders -----------------------------------------------------------------------------


def write_job(run: Path, params: Mapping[str, Any], title: str) -> None:
    """Keep the job's params in the run folder (atomically), for Resume after a restart."""
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        run / JOB_FILE,
        {
            "format": JOB_FORMAT,
            "version": 1,
            "generator": GENERATOR,
            "title": title,
            "params": dict(params),
        },
    )


def read_job(run: Path) -> dict[str, Any] | None:
    """The params the panel saved for ``run``, or None (not written by the studio, damaged)."""
    try:
        doc = read_json(Path(run) / JOB_FILE, what="training job")
    except GenStudioError:
        return None
    if not isinstance(doc, dict) or doc.get("format") != JOB_FORMAT:
        return None
    params = doc.get("params")
    return dict(doc, params=dict(params)) if isinstance(params, dict) else None


def pack_style(pack: str | os.PathLike[str] | None) -> tuple[str, str, str] | None:
    """(pack id, style token, style title) of a fine-tuned pack folder, or None."""
    if not pack:
        return None
    try:
        doc = read_json(Path(pack) / "model.json", what="model pack")
    except GenStudioError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        return None
    styles = [s for s in doc.get("styles", []) or [] if isinstance(s, dict) and s.get("token")]
    if not styles:
        return None
    s = styles[-1]  # a fine-tune appends its own style last
    return doc["id"], str(s["token"]), str(s.get("title") or doc.get("title") or doc["id"])


@dataclass
class RunInfo:
    """One row of the past-runs list (read in a background thread)."""

    folder: str
    name: str
    status: str
    step: int = 0
    max_steps: int = 0
    nll_before: float | None = None
    nll_after: float | None = None
    resumable: bool = False
    checkpoint_step: int | None = None
    pack: str | None = None
    pack_id: str = ""
    style: str = ""
    style_title: str = ""
    device: str = ""
    hardware: str = ""
    method: str = ""
    job: dict[str, Any] | None = None
    updated: float = 0.0
    error: str = ""

    @property
    def can_resume(self) -> bool:
        return self.resumable and self.job is not None

    @property
    def usable(self) -> bool:
        return self.status == "done" and bool(self.pack_id)

    def nll_words(self) -> str:
        if self.nll_before is None and self.nll_after is None:
            return ""
        a = "?" if self.nll_before is None else f"{self.nll_before:.3f}"
        if self.nll_after is None:
            return a
        return f"{a} \u2192 {self.nll_after:.3f}"

    def status_words(self) -> str:
        words = STATUS_WORDS.get(self.status, self.status)
        if self.status != "done" and self.checkpoint_step:
            words += f" (saved at step {self.checkpoint_step})"
        return words

    def steps_words(self) -> str:
        return f"{self.step:,}" + (f" / {self.max_steps:,}" if self.max_steps else "")


def _nll(metrics: Any) -> float | None:
    if isinstance(metrics, Mapping):
        v = metrics.get("nll")
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


def run_info(doc: Mapping[str, Any]) -> RunInfo:
    """A :func:`genstudio.generators.training.list_runs` entry -> a row of the runs list."""
    folder = Path(str(doc.get("folder", "")))
    job = read_job(folder)
    params = (job or {}).get("params") or {}
    style = pack_style(doc.get("pack")) if doc.get("status") == "done" else None
    name = str(params.get("name") or "")
    if not name and style:
        name = style[2].removeprefix(NAME_PREFIX).strip()
    if not name:
        name = re.sub(r"^music-", "", folder.name).replace("-", " ")
    cfg = doc.get("config") if isinstance(doc.get("config"), Mapping) else {}
    max_steps = cfg.get("max_steps", 0) if isinstance(cfg, Mapping) else 0
    return RunInfo(
        folder=str(folder),
        name=name,
        status=str(doc.get("status", "unknown")),
        step=int(doc.get("step") or 0),
        max_steps=int(max_steps) if isinstance(max_steps, int) else 0,
        nll_before=_nll(doc.get("base_metrics")),
        nll_after=_nll(doc.get("metrics")),
        resumable=bool(doc.get("resumable")),
        checkpoint_step=doc.get("checkpoint_step"),
        pack=str(doc["pack"]) if doc.get("pack") else None,
        pack_id=style[0] if style else "",
        style=style[1] if style else "",
        style_title=style[2] if style else "",
        device=str(doc.get("device") or ""),
        hardware=str(doc.get("hardware") or ""),
        method=str(doc.get("method") or (cfg.get("method") if isinstance(cfg, Mapping) else "")),
        job=job,
        updated=float(doc.get("updated") or 0.0),
        error=str(doc.get("error") or ""),
    )


def load_runs(models_dir: Path) -> list[RunInfo]:
    """Every run of the project, newest first (hashes checkpoints: call off the GUI thread)."""
    return [run_info(d) for d in tr.list_runs(Path(models_dir))]


def last_device(runs: list[RunInfo]) -> str:
    """ "cuda" when the newest run that says so trained on a GPU, else "cpu"."""
    for r in runs:
        if r.device:
            return "cuda" if r.device == "cuda" else "cpu"
    return "cpu"


# --- the log ---------------------------------------------------------------------------------


class LogTail:
    """Reads ``log.jsonl`` incrementally: each :meth:`read` returns only the complete rows
    written since the last call (a line being written stays for the next call). A file that got
    shorter (replaced) is read again from the start (``reset`` is then True)."""

    MAX_CHUNK = 4 << 20

    def __init__(self, run: Path) -> None:
        self.path = Path(run) / tr.LOG_FILE
        self.offset = 0
        self._rest = b""
        self.reset = False

    def read(self) -> list[dict[str, Any]]:
        self.reset = False
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:
            self.offset, self._rest, self.reset = 0, b"", True
        if size == self.offset:
            return []
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(min(size - self.offset, self.MAX_CHUNK))
        except OSError:
            return []
        self.offset += len(data)
        data = self._rest + data
        lines = data.split(b"\n")
        self._rest = lines.pop()  # "" after a complete last line
        return [row for row in map(tr.log_row, lines) if row is not None]


def log_items(rows: list[dict[str, Any]]) -> Iterator[tuple[str, int, Any]]:
    """What rows of ``log.jsonl`` say, in order: ``("preview", step, files)``,
    ``("resumed", step, None)``, ``("loss", step, value)``, ``("valid_nll", step, value)``
    (values are finite numbers; rows without an integer step and other events are skipped)."""
    for row in rows:
        step = row.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            continue
        ev = row.get("event")
        if ev == "preview":
            yield "preview", step, row.get("files")
        elif ev == "resumed":
            yield "resumed", step, None
        elif ev is None:
            for key in ("loss", "valid_nll"):
                v = number(row.get(key))
                if v is not None and math.isfinite(v):
                    yield key, step, v


def fold_log(
    rows: list[dict[str, Any]],
) -> tuple[list[tuple[int, float]], list[tuple[int, float]], tuple[int, Any] | None]:
    """Rows of ``log.jsonl`` -> (training loss points, held-out NLL points, last preview as
    (step, files) or None). A step logged again replaces its value; a ``resumed`` row drops
    the points after the checkpoint it resumed from (they are logged again)."""
    points: dict[str, dict[int, float]] = {"loss": {}, "valid_nll": {}}
    preview: tuple[int, Any] | None = None
    for kind, step, v in log_items(rows):
        if kind == "preview":
            if preview is None or step >= preview[0]:
                preview = (step, v)
        elif kind == "resumed":
            points = {k: {s: x for s, x in p.items() if s <= step} for k, p in points.items()}
        else:
            points[kind][step] = v
    return sorted(points["loss"].items()), sorted(points["valid_nll"].items()), preview


def number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def preview_png(files: Any) -> str | None:
    """The piano-roll PNG among a preview's files (event dicts or log path strings)."""
    return _pick(files, "pianoroll", ".png")


def preview_midi(files: Any) -> str | None:
    return _pick(files, "midi", ".mid")


def _pick(files: Any, kind: str, suffix: str) -> str | None:
    if not isinstance(files, list | tuple):
        return None
    for f in files:
        if isinstance(f, Mapping):
            if f.get("kind") == kind and isinstance(f.get("path"), str):
                return f["path"]
        elif isinstance(f, str) and f.lower().endswith(suffix):
            return f
    return None


# --- words -----------------------------------------------------------------------------------


def hardware_line(words: str, method: str = "", trainable: int | None = None) -> str:
    """ "Training on CPU x86_64, 2 cores, 8 GB RAM - LoRA - 871,040 weights" """
    bits = [f"Training on {words}" if words else "Training"]
    if method:
        bits.append(METHOD_LABELS.get(method, method))
    if trainable:
        bits.append(f"{int(trainable):,} weights")
    return " - ".join(bits)


def report_words(report: DataReport, sources: list[str]) -> tuple[str, str]:
    """(summary line, problem in words or "") for the data report of ``sources``."""
    if not sources:
        return "", ""
    used = report.used
    files = report.files
    if not files:
        folders = [Path(s).name or s for s in sources if Path(s).is_dir()]
        extra = " ".join(p for p in report.problems if p != "No files found.")
        if folders and len(folders) == len(sources):
            what = ", ".join(folders[:3])
            text = f"The folder {what} is empty." if len(folders) == 1 else f"{what}: empty."
            return "No files found", (text + " Add a folder with MIDI files (.mid) in it.").strip()
        return "No files found", (extra or "Nothing to read here.") + " Add MIDI files (.mid)."
    if not used:
        not_midi = [f for f in files if f.reason.startswith("not a MIDI file")]
        if len(not_midi) == len(files):
            n = len(files)
            return (
                report.summary(),
                f"No MIDI files in this material: {n} file{'s' if n != 1 else ''}, none of "
                "them .mid. Add MIDI files (.mid).",
            )
        reasons = sorted({f.reason for f in files if f.reason})
        return (
            report.summary(),
            f"None of the {len(files)} files can be used: {'; '.join(reasons[:3])}. GenStudio "
            "learns from MIDI files with at least a few bars of pitched notes.",
        )
    problems = " ".join(report.problems)
    return report.summary(), problems


def report_rows(report: DataReport, sources: list[str]) -> list[tuple[str, str, str, str, str]]:
    """(shown name, "used"/"skipped", reason, bars, full path) per file, in scan order."""
    roots = [Path(s) for s in sources if Path(s).is_dir()]
    rows = []
    for f in report.files:
        p = Path(f.path)
        shown = p.name
        for r in roots:
            try:
                shown = p.relative_to(r).as_posix()
                break
            except ValueError:
                continue
        rows.append(
            (
                shown,
                "used" if f.used else "skipped",
                f.reason,
                str(f.bars) if f.used else "",
                f.path,
            )
        )
    return rows
