"""A project is a folder: ``project.json`` + ``assets/`` + ``models/`` + ``datasets/`` + ``cache/``.

``project.json`` is schema-versioned. Older versions are migrated one step at a time, after a
byte-for-byte backup (``project.json.v<N>.bak``). A project whose ``project.json`` cannot be
understood (damaged, wrong shape, made by a newer GenStudio) opens *read-only*: the user can
look at the assets, and nothing in the folder is ever rewritten behind their back.

An asset is written in this order: its complete sidecar to a temp file (fsynced), the asset
file (atomic), the sidecar renamed into place, then the index. A kill at any moment leaves
either nothing visible or a file whose whole sidecar is in ``.<id>.json.<rand>.tmp``, which
the gallery's reconcile puts in place. Text that cannot be stored (lone surrogates, what Python
makes of invalid UTF-8) is refused before anything is written. See :mod:`genstudio.core.assets`
and :mod:`genstudio.core.gallery`.
"""

from __future__ import annotations

import copy
import errno
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from genstudio.core.assets import (
    AssetRecord,
    check_ext,
    is_asset_id,
    new_asset_id,
    now_iso,
    sha256_bytes,
    sidecar_bytes,
    sidecar_name,
)
from genstudio.core.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    read_json,
    write_error,
    write_temp,
)
from genstudio.core.errors import AssetError, GenStudioError, ProjectError, ProjectReadOnlyError
from genstudio.core.gallery import Gallery

log = logging.getLogger(__name__)

PROJECT_FILE = "project.json"
PROJECT_FORMAT = "genstudio.project"
SCHEMA_VERSION = 2
SUBDIRS = ("assets", "models", "datasets", "cache")


class OutputLike(Protocol):
    """What :meth:`Project.add_asset` reads from a generator ``Output`` (core may not import
    the generators layer, so it is described here instead)."""

    kind: str
    data: bytes
    ext: str
    params: dict[str, Any]
    seed: int | None
    model_id: str | None
    model_sha256: str | None
    parent: str | None
    extra: dict[str, Any]
    name_hint: str | None


# --------------------------------------------------------------------------- migrations


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """v1 (``{"version": 1, "name", "created"}``) -> v2: ``schema_version`` replaces
    ``version``, and v2 adds ``format``, a stable project ``id``, ``modified`` and ``meta``."""
    out = {k: v for k, v in doc.items() if k != "version"}
    out["format"] = PROJECT_FORMAT
    out["schema_version"] = 2
    out.setdefault("id", secrets.token_hex(8))
    out.setdefault("modified", out.get("created"))
    out.setdefault("meta", {})
    return out


#: MIGRATIONS[n] turns a version-n document into a version n+1 document.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def schema_version_of(doc: Any) -> int:
    """The schema version a project.json claims; ProjectError if it does not say."""
    if not isinstance(doc, dict):
        raise ProjectError(f"project.json must hold a JSON object, not {type(doc).__name__}.")
    v = doc.get("schema_version", doc.get("version"))
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ProjectError(f"project.json has no valid schema version (found {v!r}).")
    return v


def migrate(doc: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Apply migrations step by step; returns (new doc, version it started from)."""
    start = schema_version_of(doc)
    out = copy.deepcopy(doc)
    v = start
    while v < SCHEMA_VERSION:
        step = MIGRATIONS.get(v)
        if step is None:
            raise ProjectError(f"No migration from project schema {v} to {v + 1}.")
        out = step(out)
        v += 1
        if schema_version_of(out) != v:
            raise ProjectError(f"The migration to project schema {v} did not produce it.")
    return out, start


def validate_doc(doc: Any) -> None:
    """ProjectError naming the first thing wrong with a current-version project.json."""
    v = schema_version_of(doc)
    if v != SCHEMA_VERSION:
        raise ProjectError(f"project.json has schema {v}, expected {SCHEMA_VERSION}.")
    if doc.get("format") != PROJECT_FORMAT:
        raise ProjectError(f"project.json has format {doc.get('format')!r}, not a GenStudio one.")
    for key, typ in (("name", str), ("created", str), ("id", str), ("meta", dict)):
        if not isinstance(doc.get(key), typ):
            raise ProjectError(
                f"project.json field '{key}' is missing or not a {typ.__name__} "
                f"(found {type(doc.get(key)).__name__})."
            )
    if not doc["name"].strip():
        raise ProjectError("project.json has an empty name.")
    if "modified" in doc and not isinstance(doc["modified"], str):
        raise ProjectError("project.json field 'modified' must be text.")


def _commit_sidecar(tmp: Path, side: Path, data: bytes) -> None:
    """Rename the temp sidecar into place. Another process's reconcile may have recovered it
    meanwhile (hard link + unlink): then the sidecar is already there with these bytes."""
    try:
        os.replace(tmp, side)
    except FileNotFoundError as e:
        try:
            same = side.read_bytes() == data
        except OSError:
            same = False
        if not same:
            raise write_error(side, e) from e
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_error(side, e) from e
    else:
        tmp.unlink(missing_ok=True)  # still there only if it was a hard link of the sidecar
    if os.name != "posix":
        return
    fd = os.open(side.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Longest project name (characters) and folder-name component (bytes, as most disks allow).
MAX_NAME_LEN = 255
_NAME_MAX_BYTES = 255


def check_project_name(name: Any) -> str:
    """ProjectError for a name that cannot be a project name (not text, too long, or holding
    bytes that are not valid UTF-8 - Python turns those into lone surrogates)."""
    if not isinstance(name, str):
        raise ProjectError(f"A project name must be text, not {type(name).__name__}.")
    if len(name) > MAX_NAME_LEN:
        raise ProjectError(
            f"The project name is {len(name)} characters long; at most {MAX_NAME_LEN} fit.",
            hint="Choose a shorter name.",
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ProjectError(
            "The project name holds bytes that are not valid UTF-8 text.",
            hint="Type the name again (check the terminal's encoding).",
        ) from e
    if any(ord(c) < 32 for c in name):
        raise ProjectError(
            "The project name holds control characters.", hint="Use letters, digits, spaces."
        )
    return name


def _create_hint(e: OSError) -> str:
    """What to do when a folder cannot be made, by the real cause."""
    if e.errno == errno.EROFS:
        return "The drive is read-only: choose a folder on a writable drive."
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return "The disk is full: free some space, or choose another drive."
    if e.errno == errno.ENOTDIR:
        return "A part of the path is a file, not a folder: choose another place."
    if e.errno in (errno.EACCES, errno.EPERM):
        return "Choose a folder you may write to."
    return "Choose another place."


def _check_folder_path(root: Path) -> None:
    for part in root.parts:
        n = len(os.fsencode(part))
        if n > _NAME_MAX_BYTES:
            raise ProjectError(
                f"The folder name '{part[:40]}...' is {n} bytes long; disks allow at most "
                f"{_NAME_MAX_BYTES}.",
                hint="Choose a shorter folder name.",
            )
    if "\0" in str(root):
        raise ProjectError("The folder path holds a NUL character.", hint="Choose another path.")


# --------------------------------------------------------------------------- project


@dataclass(eq=False)
class Project:
    """An open project folder. Use :meth:`create` or :meth:`open`, not the constructor.

    ``meta`` is free-form project data that travels with the folder (description, defaults
    of panels, ...); change it or ``name`` and call :meth:`save_meta`.
    """

    root: Path
    name: str
    id: str = ""
    created: str = ""
    modified: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    read_only: bool = False
    read_only_reason: str | None = None
    _extra: dict[str, Any] = field(default_factory=dict, repr=False)
    _gallery: Gallery | None = field(default=None, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _closed: bool = field(default=False, repr=False)

    # ------------------------------------------------------------------ folders

    @property
    def assets_dir(self) -> Path:
        return self.root / "assets"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def project_file(self) -> Path:
        return self.root / PROJECT_FILE

    # ------------------------------------------------------------------ create / open

    @classmethod
    def create(cls, root: Path | str, name: str | None = None) -> Project:
        root = Path(root).expanduser().absolute()
        _check_folder_path(root)
        if name is not None:
            check_project_name(name)
        try:
            if root.exists() and not root.is_dir():
                raise ProjectError(f"{root} is a file, not a folder.", hint="Choose another place.")
            if (root / PROJECT_FILE).exists():
                raise ProjectError(
                    f"There is already a project at {root}.", hint="Open it instead of creating it."
                )
        except OSError as e:
            raise ProjectError(
                f"Cannot create a project at {root}: {e.strerror or e}",
                hint="Choose another place.",
            ) from e
        try:
            if root.is_dir() and any(root.iterdir()):
                raise ProjectError(
                    f"The folder {root} is not empty and is not a GenStudio project.",
                    hint="Choose an empty or a new folder.",
                )
            root.mkdir(parents=True, exist_ok=True)
        except PermissionError as e:
            raise ProjectError(
                f"Cannot create a project at {root}: permission denied.",
                hint="Choose a folder you may write to.",
            ) from e
        except OSError as e:
            raise ProjectError(
                f"Cannot create a project at {root}: {e.strerror or e}",
                hint=_create_hint(e),
            ) from e
        if name is None:  # from the folder name, which may hold bytes that are not UTF-8
            name = os.fsencode(root.name).decode("utf-8", "replace")[:MAX_NAME_LEN]
        name = name.strip() or "Untitled"
        now = now_iso()
        proj = cls(root=root, name=name, id=secrets.token_hex(8), created=now, modified=now)
        # project.json first: a crash after this leaves a project with missing subfolders,
        # which open() creates, rather than a non-empty folder that is not a project.
        proj._write_doc()
        proj._make_dirs()
        log.info("created project %s at %s", name, root)
        return proj

    @classmethod
    def open(cls, root: Path | str) -> Project:
        root = Path(root).expanduser().absolute()
        _check_folder_path(root)
        try:
            is_dir = root.is_dir()
            if not is_dir and not root.exists():
                raise ProjectError(f"There is no folder {root}.", hint="Check the path.")
        except OSError as e:
            raise ProjectError(f"The folder {root} cannot be read: {e.strerror or e}") from e
        if not is_dir:
            raise ProjectError(
                f"{root} is a file, not a project folder.",
                hint="Give the project's folder (the one that holds project.json).",
            )
        pf = root / PROJECT_FILE
        try:
            has_file = pf.exists()
        except OSError as e:
            raise ProjectError(f"The folder {root} cannot be read: {e.strerror or e}") from e
        if not has_file:
            if not os.access(root, os.R_OK | os.X_OK):
                raise ProjectError(
                    f"The folder {root} cannot be read (permission denied).",
                    hint="Check the folder's permissions.",
                )
            raise ProjectError(
                f"{root} is not a GenStudio project (it has no {PROJECT_FILE}).",
                hint="Create a new project or choose the folder that holds project.json.",
            )
        if not pf.is_file():
            return cls._read_only(root, f"{PROJECT_FILE} is not a file.")
        try:
            doc = read_json(pf, what="project file")
        except GenStudioError as e:
            if "permission denied" in e.message:
                raise ProjectError(e.message, hint=e.hint) from e
            return cls._read_only(root, e.message)
        try:
            version = schema_version_of(doc)
        except ProjectError as e:
            return cls._read_only(root, e.message)
        if version > SCHEMA_VERSION:
            return cls._read_only(
                root,
                f"The project was saved by a newer GenStudio (project schema {version}; this "
                f"version knows up to {SCHEMA_VERSION}).",
                hint="Update GenStudio to change this project.",
            )
        migrated_from = None
        if version < SCHEMA_VERSION:
            try:
                doc, migrated_from = migrate(doc)
                validate_doc(doc)
            except (ProjectError, KeyError, TypeError, ValueError, AttributeError) as e:
                msg = e.message if isinstance(e, GenStudioError) else repr(e)
                return cls._read_only(root, f"The project could not be upgraded: {msg}")
        else:
            try:
                validate_doc(doc)
            except ProjectError as e:
                return cls._read_only(root, e.message)
        proj = cls._from_doc(root, doc)
        if not os.access(root, os.W_OK):
            proj.read_only = True
            proj.read_only_reason = f"The folder {root} is not writable."
            return proj
        if migrated_from is not None:
            try:
                proj._backup_and_write(pf, migrated_from)
            except (GenStudioError, OSError) as e:  # e.g. a full disk: still readable
                msg = e.message if isinstance(e, GenStudioError) else str(e)
                return cls._read_only(
                    root,
                    f"The project's upgrade to schema {SCHEMA_VERSION} could not be saved: {msg}",
                )
        proj._make_dirs()
        return proj

    @classmethod
    def _from_doc(cls, root: Path, doc: dict[str, Any]) -> Project:
        known = {"format", "schema_version", "name", "id", "created", "modified", "meta"}
        return cls(
            root=root,
            name=doc["name"],
            id=doc["id"],
            created=doc["created"],
            modified=doc.get("modified") or doc["created"],
            meta=doc["meta"],
            _extra={k: v for k, v in doc.items() if k not in known},
        )

    @classmethod
    def _read_only(cls, root: Path, reason: str, *, hint: str | None = None) -> Project:
        text = reason.rstrip()
        if not text.endswith("."):
            text += "."
        text += " The project is open read-only so that nothing in it is changed."
        backups = sorted(p.name for p in root.glob(f"{PROJECT_FILE}.v*.bak"))
        if hint:
            text += f" {hint}"
        elif backups:
            text += f" A backup of an older project.json is in {backups[-1]}."
        log.warning("project %s opened read-only: %s", root, text)
        return cls(root=root, name=root.name or "Untitled", read_only=True, read_only_reason=text)

    def _backup_and_write(self, pf: Path, from_version: int) -> None:
        backup = pf.with_name(f"{PROJECT_FILE}.v{from_version}.bak")
        raw = pf.read_bytes()
        if backup.exists() and backup.read_bytes() != raw:
            backup = backup.with_name(f"{backup.name}.{secrets.token_hex(3)}")
        if not backup.exists():
            atomic_write_bytes(backup, raw)
        self._write_doc()
        log.info("migrated %s from schema %d to %d", pf, from_version, SCHEMA_VERSION)

    def _make_dirs(self) -> None:
        for d in SUBDIRS:
            p = self.root / d
            if p.exists() and not p.is_dir():
                raise ProjectError(
                    f"{p} should be a folder but is a file.",
                    hint="Move that file away; GenStudio keeps project data in it.",
                )
            try:
                p.mkdir(exist_ok=True)
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    # Reading the project needs no new folder: the write that needs it will
                    # fail with a disk-full message of its own.
                    log.warning("cannot create %s (the disk is full)", p)
                    continue
                raise ProjectError(
                    f"Cannot create {p}: {e.strerror or e}", hint=_create_hint(e)
                ) from e

    def to_doc(self) -> dict[str, Any]:
        return {
            **self._extra,
            "format": PROJECT_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "id": self.id,
            "created": self.created,
            "modified": self.modified,
            "meta": self.meta,
        }

    def _write_doc(self) -> None:
        atomic_write_json(self.project_file, self.to_doc())

    # ------------------------------------------------------------------ state

    def _check_writable(self) -> None:
        if self._closed:
            raise ProjectError("The project is closed.")
        if self.read_only:
            raise ProjectReadOnlyError(
                f"The project '{self.name}' is open read-only; nothing can be changed.",
                hint=self.read_only_reason,
            )

    def save_meta(self) -> None:
        """Write ``name`` and ``meta`` to project.json (atomically)."""
        self._check_writable()
        if not isinstance(self.name, str) or not self.name.strip():
            raise ProjectError("A project needs a name.")
        check_project_name(self.name)
        try:
            json.dumps(self.meta, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ProjectError(f"The project meta cannot be saved as JSON: {e}") from e
        with self._lock:
            self.modified = now_iso()
            self._write_doc()

    @property
    def gallery(self) -> Gallery:
        """The gallery index, opened (and reconciled with the disk) on first use."""
        with self._lock:
            if self._closed:
                raise ProjectError("The project is closed.")
            if self._gallery is None:
                self._gallery = Gallery(self.root, read_only=self.read_only)
            return self._gallery

    # ------------------------------------------------------------------ assets

    def asset_path(self, rec: AssetRecord) -> Path:
        return self.assets_dir / rec.file

    def add_asset(
        self,
        output: OutputLike | None = None,
        *,
        kind: str | None = None,
        data: bytes | None = None,
        ext: str | None = None,
        generator: str,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        model_id: str | None = None,
        model_sha256: str | None = None,
        parent: str | None = None,
        extra: dict[str, Any] | None = None,
        name_hint: str | None = None,
        asset_id: str | None = None,
    ) -> AssetRecord:
        """Store a new asset: sidecar (as a temp file), file, sidecar in place, then the index.

        Fields come from ``output`` (a generator ``Output``) unless given as keywords.
        ``name_hint`` is kept in ``extra["name_hint"]``; the file itself is ``<id>.<ext>``.
        ``asset_id`` asks for that id (the job runner picks it in advance, so a restarted job
        knows whether its output landed); a new one is chosen if it is taken.
        """
        self._check_writable()
        if output is not None:
            kind = kind if kind is not None else output.kind
            data = data if data is not None else output.data
            ext = ext if ext is not None else output.ext
            params = params if params is not None else output.params
            seed = seed if seed is not None else output.seed
            model_id = model_id if model_id is not None else output.model_id
            model_sha256 = model_sha256 if model_sha256 is not None else output.model_sha256
            parent = parent if parent is not None else output.parent
            extra = extra if extra is not None else output.extra
            name_hint = name_hint if name_hint is not None else output.name_hint
        params = {} if params is None else params
        extra = {} if extra is None else dict(extra)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise AssetError(f"Asset data must be bytes, not {type(data).__name__}.")
        blob = bytes(data)
        rec = self._new_record(
            kind,
            blob,
            ext,
            generator,
            params,
            seed,
            model_id,
            model_sha256,
            parent,
            extra,
            name_hint,
        )
        ext = rec.file
        sidecar_bytes(rec)  # a field that cannot be stored is an error before any write
        gallery = self.gallery
        # The gallery lock keeps reconcile (another thread) from taking the file for an orphan
        # between the writes.
        with self._lock, gallery._lock:
            if asset_id is not None and not (isinstance(asset_id, str) and is_asset_id(asset_id)):
                raise AssetError(f"{asset_id!r} is not an asset id.")
            if asset_id is None or self._id_taken(asset_id, ext):
                asset_id = new_asset_id()
                while self._id_taken(asset_id, ext):
                    asset_id = new_asset_id()
            rec.id = asset_id
            rec.file = f"{asset_id}.{ext}"
            file_path = self.assets_dir / rec.file
            side = self.assets_dir / sidecar_name(asset_id)
            side_data = sidecar_bytes(rec)
            # Write order, so that a kill at any moment loses nothing: (1) the complete sidecar
            # as a temp file (fsynced), (2) the asset file (atomic), (3) the sidecar renamed into
            # place. Killed after (2), the asset file exists and its whole sidecar sits in
            # ``.<id>.json.<rand>.tmp``: reconcile recovers it (never imports the file bare).
            side_tmp = write_temp(side, side_data)
            try:
                atomic_write_bytes(file_path, blob)
            except BaseException:
                side_tmp.unlink(missing_ok=True)
                raise
            try:
                _commit_sidecar(side_tmp, side, side_data)
            except BaseException:
                file_path.unlink(missing_ok=True)  # never leave a file without its sidecar
                raise
            try:
                gallery.add(rec)
            except GenStudioError as e:
                # The asset exists (its sidecar is written); the next reconcile indexes it.
                log.warning("asset %s written but not indexed: %s", asset_id, e)
        return rec

    def _id_taken(self, asset_id: str, ext: str) -> bool:
        return any(
            os.path.lexists(self.assets_dir / n)
            for n in (sidecar_name(asset_id), f"{asset_id}.{ext}")
        )

    def _new_record(
        self,
        kind: Any,
        blob: bytes,
        ext: Any,
        generator: Any,
        params: Any,
        seed: Any,
        model_id: Any,
        model_sha256: Any,
        parent: Any,
        extra: dict[str, Any],
        name_hint: Any,
    ) -> AssetRecord:
        if not isinstance(kind, str) or not kind.strip():
            raise AssetError(f"An asset needs a kind (such as 'image'), not {kind!r}.")
        if ext is None:
            raise AssetError("An asset needs a file extension (such as 'png').")
        ext = check_ext(ext)
        if not isinstance(generator, str) or not generator.strip():
            raise AssetError(f"An asset needs the name of its generator, not {generator!r}.")
        if not isinstance(params, dict):
            raise AssetError(f"Asset params must be a dict, not {type(params).__name__}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise AssetError(f"A seed must be a whole number, not {seed!r}.")
        for name, v in (("model_id", model_id), ("model_sha256", model_sha256)):
            if v is not None and not isinstance(v, str):
                raise AssetError(f"{name} must be text, not {type(v).__name__}.")
        if parent is not None and not (isinstance(parent, str) and is_asset_id(parent)):
            raise AssetError(f"The parent {parent!r} is not an asset id.")
        if name_hint is not None:
            if not isinstance(name_hint, str):
                raise AssetError(f"name_hint must be text, not {type(name_hint).__name__}.")
            extra["name_hint"] = name_hint
        for what, value in (("parameters", params), ("extra data", extra)):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise AssetError(
                    f"The asset's {what} cannot be stored in its sidecar: {e}",
                    hint="Use plain JSON values (text, numbers, lists, dicts).",
                ) from e
        now = now_iso()
        return AssetRecord(
            id="",
            kind=kind,
            file=ext,  # the extension until add_asset has chosen the id
            sha256=sha256_bytes(blob),
            size=len(blob),
            created=now,
            modified=now,
            generator=generator,
            model_id=model_id,
            model_sha256=model_sha256,
            params=copy.deepcopy(params),
            seed=seed,
            parent=parent,
            extra=copy.deepcopy(extra),
        )

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        with self._lock:
            if self._gallery is not None:
                self._gallery.close()
                self._gallery = None
            self._closed = True

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
