"""A user's MIDI material for fine-tuning: find the files, read each one, say what is used.

Torch-free, so the studio shows the same report before training starts that the trainer writes
into its run folder. :func:`scan` takes folders (searched recursively) and files and returns a
:class:`DataReport`: every file with ``used`` or the reason it is skipped (not MIDI, empty,
damaged, too big, only drums, no notes, a time signature the model does not know, ...). Pieces
are fitted to the fine-tuning style's tracks: drums dropped, at most :data:`MAX_TRACKS` pitched
tracks (further tracks merge into the last), pitches outside the piano folded by octaves.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from genstudio.core.errors import GenStudioError
from genstudio.generators.music import score as sc

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".rmi", ".smf")
MAX_FILES = 5000
MAX_TRACKS = 8
#: fewer notes than this is not material to learn a style from
MIN_NOTES = 16
#: bars of one piece used for training (longer pieces are cut; windows see any part)
MAX_BARS_USED = 512
MAX_SCAN_DEPTH = 12


@dataclass
class FileReport:
    path: str
    used: bool
    reason: str = ""
    bars: int = 0
    notes: int = 0
    tracks: int = 0
    sha256: str = ""


@dataclass
class DataReport:
    files: list[FileReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # not about one file (e.g. too many)

    @property
    def used(self) -> list[FileReport]:
        return [f for f in self.files if f.used]

    def summary(self) -> str:
        n, s = len(self.used), len(self.files) - len(self.used)
        bars = sum(f.bars for f in self.used)
        text = f"{n} piece{'s' if n != 1 else ''} used ({bars} bars)"
        if s:
            text += f", {s} file{'s' if s != 1 else ''} skipped"
        return text

    def sha256(self) -> str:
        h = hashlib.sha256()
        for f in sorted(self.used, key=lambda f: f.sha256):
            h.update(f.sha256.encode())
        return h.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [asdict(f) for f in self.files],
            "problems": list(self.problems),
            "used": len(self.used),
            "skipped": len(self.files) - len(self.used),
            "bars": sum(f.bars for f in self.used),
            "sha256": self.sha256(),
            "summary": self.summary(),
        }


def find_files(sources: list[str | os.PathLike[str]], problems: list[str]) -> list[Path]:
    """Every file named or found (recursively, links not followed) under the folders named."""
    out: list[Path] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        key = str(p)
        if key not in seen and len(out) < MAX_FILES + 1:
            seen.add(key)
            out.append(p)

    for src in sources:
        p = Path(src)
        if not os.path.lexists(p):
            problems.append(f"{p} does not exist.")
            continue
        if p.is_symlink() and p.is_dir():
            problems.append(f"{p} is a link to a folder; it is not followed.")
            continue
        if p.is_dir():
            for root, dirs, files in os.walk(p, followlinks=False):
                depth = len(Path(root).relative_to(p).parts)
                dirs[:] = (
                    sorted(d for d in dirs if not d.startswith("."))
                    if depth < MAX_SCAN_DEPTH
                    else []
                )
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    add(Path(root) / name)
        else:
            add(p)
    if len(out) > MAX_FILES:
        problems.append(f"More than {MAX_FILES} files: only the first {MAX_FILES} are read.")
        out = out[:MAX_FILES]
    return out


def fit(score: sc.Score) -> sc.Score:
    """Drums dropped, at most MAX_TRACKS tracks, pitches folded onto the piano's 21-108."""
    keep = [i for i, t in enumerate(score.tracks) if not t.is_drum]
    keep = [i for i in keep if any(n.track == i for n in score.notes)]
    index = {old: min(new, MAX_TRACKS - 1) for new, old in enumerate(keep)}
    tracks = [replace(score.tracks[i]) for i in keep[:MAX_TRACKS]]
    notes = []
    for n in score.notes:
        if n.track not in index:
            continue
        pitch = n.pitch
        while pitch < 21:
            pitch += 12
        while pitch > 108:
            pitch -= 12
        notes.append(replace(n, track=index[n.track], pitch=pitch))
    out = replace(
        score, tracks=tracks, notes=sorted(notes, key=lambda n: (n.start, n.track, n.pitch))
    )
    if out.n_bars > MAX_BARS_USED:
        end = MAX_BARS_USED * out.bar_ticks
        out = replace(out, notes=[n for n in out.notes if n.start < end], bars=MAX_BARS_USED)
    return out


def read_piece(path: Path, style: str = "style4") -> tuple[sc.Score | None, FileReport]:
    """One file -> (fitted score, report) or (None, report with the reason)."""
    from genstudio.generators.music import midi
    from genstudio.generators.music import tokens as tk

    rep = FileReport(str(path), False)
    if path.suffix.lower() not in MIDI_SUFFIXES:
        rep.reason = "not a MIDI file (by its name)"
        return None, rep
    try:
        data = midi._load(path)
        rep.sha256 = hashlib.sha256(data).hexdigest()
        if not data:
            rep.reason = "empty file (0 bytes)"
            return None, rep
        score = midi.read_midi(data)
    except GenStudioError as e:
        rep.reason = e.message
        return None, rep
    pitched = [n for n in score.notes if not score.tracks[n.track].is_drum]
    if score.notes and not pitched:
        rep.reason = "only drums: the music model learns pitched parts"
        return None, rep
    if len(pitched) < MIN_NOTES:
        rep.reason = f"too few notes ({len(pitched)}; at least {MIN_NOTES} are needed)"
        return None, rep
    if tuple(score.time_signature) not in tk.TIME_SIGNATURES:
        n, d = score.time_signature
        rep.reason = f"in {n}/{d}, a time signature the model does not know"
        return None, rep
    n_pitched_tracks = len({n.track for n in pitched})
    score = fit(score)
    try:
        tk.encode(score, style)
    except GenStudioError as e:
        rep.reason = f"the music codec cannot take it: {e.message}"
        return None, rep
    rep.used, rep.bars, rep.notes, rep.tracks = (
        True,
        score.n_bars,
        len(score.notes),
        len(score.tracks),
    )
    if n_pitched_tracks > MAX_TRACKS:
        rep.reason = f"tracks beyond {MAX_TRACKS} merged into the last"
    return score, rep


def scan(
    sources: list[str | os.PathLike[str]], style: str = "style4"
) -> tuple[list[sc.Score], DataReport]:
    report = DataReport()
    scores: list[sc.Score] = []
    for path in find_files(list(sources), report.problems):
        score, rep = read_piece(path, style)
        report.files.append(rep)
        if score is not None:
            scores.append(score)
    if not report.files and not report.problems:
        names = ", ".join(str(s) for s in list(sources)[:3])
        report.problems.append(f"no files found in {names}.")
    return scores, report


def check_usable(report: DataReport) -> None:
    """Raise a clear error when there is nothing to train on."""
    if report.used:
        return
    if not report.files:
        why = " ".join(report.problems) or "no files found."
        raise GenStudioError(
            f"There is no material to train on: {why}",
            hint="Use a folder of MIDI files (.mid; sub-folders are searched too).",
        )
    n = len(report.files)
    lines = [f"{Path(f.path).name}: {f.reason.rstrip('.')}" for f in report.files[:6]]
    more = f"; and {n - 6} more" if n > 6 else ""
    raise GenStudioError(
        f"None of the {n} file{'s' if n != 1 else ''} can be used - {'; '.join(lines)}{more}.",
        hint="GenStudio learns from MIDI files with at least a few bars of pitched notes.",
    )
