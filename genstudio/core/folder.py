"""An output folder as the job runner's destination (the CLI's ``--out``).

:class:`FolderSink` is what :class:`genstudio.core.jobs.JobRunner` needs from a project
(``root`` + ``add_asset``): each output is written to ``<folder>/<stem>.<ext>`` atomically (and,
when a project is given, stored in it too, under the same asset id). It keeps no job queue
(``keeps_queue = False``): a command-line run is not restored after a crash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genstudio.core.assets import new_asset_id
from genstudio.core.atomic import atomic_write_bytes
from genstudio.core.errors import GenStudioError
from genstudio.core.project import OutputLike


@dataclass
class Written:
    """The record of one output written to the folder (its id is what the runner keeps)."""

    id: str
    path: Path
    extra: dict[str, Any]


@dataclass
class FolderSink:
    """Writes every output into ``root``; ``project`` (optional) gets each one as an asset.

    An output with ``extra["credits"]`` (artists' credits, e.g. LPC art) gets
    ``<stem>.CREDITS.txt`` beside it. ``written`` lists what was written, in order.
    """

    root: Path
    project: Any = None
    keeps_queue: bool = False
    written: list[Written] = field(default_factory=list)

    def add_asset(
        self, output: OutputLike, *, generator: str, asset_id: str | None = None, **_: Any
    ) -> Written:
        asset_id = asset_id or new_asset_id()
        if self.project is not None:
            rec = self.project.add_asset(output, generator=generator, asset_id=asset_id)
            asset_id = str(rec.id)
        seed = output.seed if output.seed is not None else len(self.written)
        stem = getattr(output, "name_hint", None) or f"{generator.split('.')[0]}_{seed}"
        taken = {w.path.name for w in self.written}
        path, n = Path(self.root) / f"{stem}.{output.ext}", 1
        while path.name in taken:  # two outputs of one run with the same name: keep both
            n += 1
            path = path.with_name(f"{stem}_{n}.{output.ext}")
        stem = path.stem
        atomic_write_bytes(path, output.data)
        extra = dict(output.extra or {})
        if extra.get("credits"):
            atomic_write_bytes(
                path.with_name(f"{stem}.CREDITS.txt"), str(extra["credits"]).encode()
            )
        record = Written(asset_id, path, extra)
        self.written.append(record)
        return record


def ensure_export_dir(folder: str | os.PathLike[str]) -> Path:
    """``folder`` for exported files, created when missing; GenStudioError (with a hint) when
    it cannot be made or written. The one check behind every export (sprites, images)."""
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenStudioError(
            f"Cannot create the export folder {out}: {e.strerror or e}",
            hint="Pick a folder you can write to.",
        ) from e
    if not out.is_dir() or not os.access(out, os.W_OK | os.X_OK):
        raise GenStudioError(
            f"The export folder {out} is not writable.", hint="Pick a folder you can write to."
        )
    return out
