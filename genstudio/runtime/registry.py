"""The model registry: every model pack GenStudio can use, and the one way to find one.

Packs live in three places, searched in this order: the **built-in** packs shipped with the
studio, the **user's** models folder (imports, fine-tunes kept for every project) and the open
**project's** ``models/`` folder (fine-tunes made in that project). A pack is referred to by its
id (``music-gpt``, ``music-my-style``) or by its folder; :func:`resolve` turns either into a
folder. Folders whose name starts with a dot are never listed: a pack is written into
``.<name>.partial`` and renamed into place only when complete (``ml.trainer.export_atomically``),
so a half-written pack is never offered.

Loading is owned by :func:`genstudio.runtime.sessions.shared_cache` (one locked cache of ONNX
Runtime sessions, keyed by the model file's hash, with :func:`unload`).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genstudio.core.errors import GenStudioError, ModelPackError

log = logging.getLogger(__name__)
_lock = threading.Lock()
_project_models: Path | None = None


@dataclass(frozen=True)
class PackEntry:
    id: str
    kind: str
    version: str
    source: str  # "built-in" | "user" | "project"
    root: str
    title: str = ""
    license: str = ""
    attribution: str = ""
    styles: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    base: str = ""  # the pack it was fine-tuned from, if any

    @property
    def label(self) -> str:
        return self.title or self.id


def set_project_models(folder: str | os.PathLike[str] | None) -> None:
    """The open project's ``models/`` folder (None when no project is open)."""
    global _project_models
    with _lock:
        _project_models = Path(folder) if folder is not None else None


def roots() -> list[tuple[str, Path]]:
    from genstudio.core.paths import shipped_models_dir
    from genstudio.core.settings import user_models_dir

    out = [("built-in", shipped_models_dir()), ("user", user_models_dir())]
    with _lock:
        if _project_models is not None:
            out.append(("project", _project_models))
    return out


def list_packs(kind: str | None = None) -> list[PackEntry]:
    """Every usable pack (of ``kind``), built-in first; an id seen twice keeps the first."""
    from genstudio.runtime.packs import find_packs

    entries: list[PackEntry] = []
    seen: set[str] = set()
    for source, root in roots():
        if not root.is_dir():
            continue
        try:
            packs = find_packs(root)
        except (GenStudioError, OSError) as e:
            log.warning("model packs in %s unreadable: %s", root, e)
            continue
        for p in packs:
            if p.id in seen or (kind is not None and p.kind != kind):
                continue
            seen.add(p.id)
            raw = p.raw
            styles = tuple(s for s in raw.get("styles", []) if isinstance(s, dict))
            base = raw.get("training", {}).get("base", {})
            entries.append(
                PackEntry(
                    p.id, p.kind, p.version, source, str(p.root),
                    title=str(raw.get("title", "")), license=p.license,
                    attribution=p.attribution, styles=styles,
                    base=str(base.get("id", "")) if isinstance(base, dict) else "",
                )
            )  # fmt: skip
    return entries


def resolve(ref: str, kind: str | None = None) -> Path:
    """A pack's folder from its id or its folder path; a clear error names the packs there are."""
    p = Path(ref)
    if (os.sep in ref or "/" in ref) and (p / "model.json").is_file():
        return p
    found = list_packs(kind)
    for e in found:
        if e.id == ref:
            return Path(e.root)
    what = f"{kind} model" if kind else "model"
    names = ", ".join(e.id for e in found) or "none"
    raise ModelPackError(
        f"There is no {what} {ref!r}.",
        hint=f"Available here: {names}. Give the model's folder instead (e.g. the --out of "
        "'genstudio train music'), or --project for a project's models; 'genstudio models list' "
        "shows the built-in, your models folder and (with --project) a project's.",
    )


def unload(pack_id: str | None = None) -> None:
    """Free the sessions of ``pack_id`` (every pack when None)."""
    from genstudio.runtime.sessions import shared_cache

    shared_cache().unload(pack_id)
