"""Assets on disk: one file plus one sidecar JSON that holds everything needed to reproduce it.

``assets/<id>.<ext>`` is the file, ``assets/<id>.json`` the sidecar. The sidecar is the truth:
the gallery index is rebuilt from sidecars, and user state (tags, favourite, rating, trash)
lives in the sidecar too. An asset exists only once its sidecar exists.

Asset ids sort by creation time and carry a random part: ``20261123-204512-3f9a1c``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genstudio.core.atomic import atomic_write_bytes, json_bytes, read_json
from genstudio.core.errors import AssetError, GenStudioError

#: Sidecar format written into every sidecar (``"sidecar_version"``); bump with a migration.
SIDECAR_VERSION = 1
SIDECAR_FORMAT = "genstudio.asset"
SIDECAR_EXT = "json"
STATUSES = ("ok", "missing", "corrupt")
MAX_TAG_LEN = 100

_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
_EXT_RE = re.compile(r"^[a-z0-9]{1,10}$")


def now_iso() -> str:
    """UTC timestamp with a fixed width, so that strings sort like times."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_asset_id() -> str:
    """Time-sortable (to the second) plus 24 random bits: ``20261123-204512-3f9a1c``."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def is_asset_id(text: str) -> bool:
    return bool(_ID_RE.match(text))


def check_ext(ext: str) -> str:
    """Normalise a file extension (no dot); AssetError for anything that is not a plain one."""
    if not isinstance(ext, str):
        raise AssetError(f"The file extension must be text, not {type(ext).__name__}.")
    norm = ext.lower().lstrip(".")
    if not _EXT_RE.match(norm):
        raise AssetError(
            f"'{ext}' is not a usable file extension.",
            hint="Use 1-10 letters or digits, such as png, mid or wav.",
        )
    if norm == SIDECAR_EXT:
        raise AssetError("Assets cannot be .json files: that name is kept for sidecars.")
    return norm


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a *regular* file. A symbolic link (never followed: ``O_NOFOLLOW``), a FIFO or a
    device gives :class:`NotARegularFileError` (an OSError), so a file planted in ``assets/``
    can never make GenStudio read outside the project or block."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotARegularFileError(f"{Path(path).name} is a symbolic link") from e
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise NotARegularFileError(f"{Path(path).name} is not a regular file")
        h = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class NotARegularFileError(OSError):
    """A path in ``assets/`` that is a link, a FIFO, a device: never read."""


def normalize_tags(tags: Any) -> list[str]:
    """Strip, drop empties, de-duplicate case-insensitively (first spelling wins)."""
    if isinstance(tags, str) or not isinstance(tags, list | tuple | set | frozenset):
        raise AssetError(f"Tags must be a list of words, not {type(tags).__name__}.")
    out: list[str] = []
    seen: set[str] = set()
    for t in tags:
        if not isinstance(t, str):
            raise AssetError(f"A tag must be text, not {type(t).__name__} ({t!r}).")
        t = " ".join(t.split())
        if not t:
            continue
        if len(t) > MAX_TAG_LEN:
            raise AssetError(f"The tag '{t[:30]}...' is longer than {MAX_TAG_LEN} characters.")
        if t.casefold() not in seen:
            seen.add(t.casefold())
            out.append(t)
    return out


def check_rating(stars: Any) -> int:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 0 <= stars <= 5:
        raise AssetError(f"A rating is 0 to 5 stars, not {stars!r}.")
    return stars


def _check_json_value(value: Any, where: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise AssetError(
            f"The {where} cannot be stored in the sidecar: {e}",
            hint="Parameters must be plain JSON values (text, numbers, lists, dicts).",
        ) from e


@dataclass
class AssetRecord:
    """One asset: what it is, how it was made (to reproduce it) and the user's state.

    ``status`` is not stored in the sidecar; the gallery sets it from what is on disk:
    "ok", "missing" (the file is gone) or "corrupt" (the file's sha256 no longer matches).
    """

    id: str
    kind: str
    file: str
    sha256: str
    size: int
    created: str
    modified: str
    generator: str
    model_id: str | None = None
    model_sha256: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    parent: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    favorite: bool = False
    rating: int = 0
    trashed: bool = False
    status: str = "ok"

    @property
    def prompt(self) -> str:
        p = self.params.get("prompt", "") if isinstance(self.params, dict) else ""
        return p if isinstance(p, str) else str(p)

    def to_sidecar(self) -> dict[str, Any]:
        from genstudio import __version__

        return {
            "format": SIDECAR_FORMAT,
            "sidecar_version": SIDECAR_VERSION,
            "id": self.id,
            "kind": self.kind,
            "file": self.file,
            "sha256": self.sha256,
            "size": self.size,
            "created": self.created,
            "modified": self.modified,
            "generator": self.generator,
            "model_id": self.model_id,
            "model_sha256": self.model_sha256,
            "params": self.params,
            "seed": self.seed,
            "parent": self.parent,
            "extra": self.extra,
            "tags": list(self.tags),
            "favorite": self.favorite,
            "rating": self.rating,
            "trashed": self.trashed,
            "genstudio_version": __version__,
        }

    @classmethod
    def from_sidecar(cls, d: Any) -> AssetRecord:
        """Validate a sidecar dict; AssetError names the first bad field."""
        if not isinstance(d, dict):
            raise AssetError(f"A sidecar must hold a JSON object, not {type(d).__name__}.")
        fmt = d.get("format", SIDECAR_FORMAT)
        if fmt != SIDECAR_FORMAT:
            raise AssetError(f"This is not a GenStudio asset sidecar (format {fmt!r}).")
        ver = d.get("sidecar_version", 1)
        if isinstance(ver, bool) or not isinstance(ver, int) or ver < 1:
            raise AssetError(f"Bad sidecar_version {ver!r}.")
        if ver > SIDECAR_VERSION:
            raise AssetError(
                f"The sidecar was written by a newer GenStudio (version {ver}).",
                hint="Update GenStudio to read this asset.",
            )

        def get(name: str, types: type | tuple[type, ...], *, optional: bool = False) -> Any:
            if name not in d:
                if optional:
                    return None
                raise AssetError(f"The sidecar has no '{name}' field.")
            v = d[name]
            if v is None and optional:
                return None
            if isinstance(v, bool) and bool not in (
                types if isinstance(types, tuple) else (types,)
            ):
                raise AssetError(f"The sidecar field '{name}' has the wrong type (bool).")
            if not isinstance(v, types):
                raise AssetError(
                    f"The sidecar field '{name}' has the wrong type "
                    f"({type(v).__name__}, expected {_type_names(types)})."
                )
            return v

        asset_id = get("id", str)
        if not asset_id or "/" in asset_id or "\\" in asset_id or asset_id.startswith("."):
            raise AssetError(f"Bad asset id {asset_id!r} in the sidecar.")
        file = get("file", str)
        if not file or Path(file).name != file or file.startswith(".") or file == "..":
            raise AssetError(f"Bad file name {file!r} in the sidecar (must be a plain name).")
        size = get("size", int)
        if size < 0:
            raise AssetError(f"Bad size {size} in the sidecar.")
        sha = get("sha256", str)
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise AssetError("The sidecar's sha256 is not 64 hex digits.")
        rating = d.get("rating", 0)
        try:
            check_rating(rating)
        except AssetError as e:
            raise AssetError(f"The sidecar field 'rating' is bad: {e.message}") from None
        seed = get("seed", int, optional=True)
        tags_raw = d.get("tags", [])
        if not isinstance(tags_raw, list):
            raise AssetError("The sidecar field 'tags' must be a list.")
        params = d.get("params", {})
        if not isinstance(params, dict):
            raise AssetError("The sidecar field 'params' must be an object.")
        extra = d.get("extra", {})
        if not isinstance(extra, dict):
            raise AssetError("The sidecar field 'extra' must be an object.")
        favorite = d.get("favorite", False)
        trashed = d.get("trashed", False)
        if not isinstance(favorite, bool) or not isinstance(trashed, bool):
            raise AssetError("The sidecar fields 'favorite' and 'trashed' must be true/false.")
        created = get("created", str)
        return cls(
            id=asset_id,
            kind=get("kind", str),
            file=file,
            sha256=sha,
            size=size,
            created=created,
            modified=get("modified", str, optional=True) or created,
            generator=get("generator", str),
            model_id=get("model_id", str, optional=True),
            model_sha256=get("model_sha256", str, optional=True),
            params=params,
            seed=seed,
            parent=get("parent", str, optional=True),
            extra=extra,
            tags=normalize_tags(tags_raw),
            favorite=favorite,
            rating=rating,
            trashed=trashed,
        )


def _type_names(types: type | tuple[type, ...]) -> str:
    ts = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in ts)


def sidecar_name(asset_id: str) -> str:
    return f"{asset_id}.{SIDECAR_EXT}"


def read_sidecar(path: str | Path) -> AssetRecord:
    """Read and validate one sidecar; AssetError with the file name on any problem."""
    path = Path(path)
    try:
        data = read_json(path, what="asset sidecar")
    except GenStudioError as e:
        raise AssetError(e.message, hint=e.hint) from e
    try:
        rec = AssetRecord.from_sidecar(data)
    except AssetError as e:
        raise AssetError(f"The asset sidecar {path} is damaged: {e.message}", hint=e.hint) from e
    if path.stem != rec.id:
        raise AssetError(f"The asset sidecar {path} names a different asset id ({rec.id}).")
    return rec


def _first_bad_text(value: Any, where: str) -> str | None:
    """The place (``params.prompt``, ``tags[2]``) of the first text holding lone surrogates."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            bad = _first_bad_text(k, f"{where} key") or _first_bad_text(v, f"{where}.{k}")
            if bad:
                return bad
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            bad = _first_bad_text(v, f"{where}[{i}]")
            if bad:
                return bad
    return None


def sidecar_bytes(rec: AssetRecord) -> bytes:
    """The sidecar file's bytes, checked *before* anything is written: AssetError if a field
    cannot be stored (text holding lone surrogates - what Python makes of invalid UTF-8 on a
    command line - is refused, never written escaped or half)."""
    doc = rec.to_sidecar()
    try:
        return json_bytes(doc, what="asset sidecar")
    except GenStudioError as e:
        where = next(
            (b for k, v in doc.items() if (b := _first_bad_text(v, k)) is not None), "a field"
        )
        raise AssetError(
            f"The asset cannot be saved: its {where} holds bytes that are not valid UTF-8 text.",
            hint="Use valid text (check the terminal's encoding); nothing was written.",
        ) from e


def write_sidecar(path: str | Path, rec: AssetRecord) -> None:
    """Atomically (re)write a sidecar."""
    atomic_write_bytes(path, sidecar_bytes(rec))
