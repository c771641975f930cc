"""Atomic file writes: temp file in the same folder -> flush -> fsync -> os.replace -> fsync dir.

A reader sees the old file or the new file, never a half-written one, even after kill -9 or a
power cut. Temp files are named ``.<name>.<random>.tmp`` so that scans can skip them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genstudio.core.errors import GenStudioError

TMP_SUFFIX = ".tmp"


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        hint = "The disk may be full or the folder read-only." if e.errno in (28, 30, 13) else None
        raise GenStudioError(f"Could not write {path}: {e.strerror or e}", hint=hint) from e
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_file_bytes(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    error: type[GenStudioError] = GenStudioError,
    max_bytes: int | None = None,
    too_big: Callable[[int], GenStudioError] | None = None,
) -> bytes:
    """A file's bytes, or ``error`` with a message that names the file and what is wrong
    (missing, a folder, no permission, too big for ``max_bytes``, any other OS error)."""
    path = Path(path)
    try:
        if max_bytes is not None:
            size = path.stat().st_size
            if size > max_bytes:
                raise (
                    too_big(size)
                    if too_big
                    else error(
                        f"The {what} {path} is {size / 1e6:.1f} MB, more than GenStudio reads."
                    )
                )
        return path.read_bytes()
    except FileNotFoundError as e:
        raise error(f"The {what} {path} does not exist.") from e
    except IsADirectoryError as e:
        raise error(f"The path {path} is a folder, not a {what}.") from e
    except PermissionError as e:
        raise error(
            f"The {what} {path} cannot be read (permission denied).",
            hint="Check the file's and its folder's permissions.",
        ) from e
    except OSError as e:
        raise error(f"The {what} {path} cannot be read: {e.strerror or e}") from e


def read_json(path: str | os.PathLike[str], *, what: str = "file") -> Any:
    """Read JSON with an error that names the file and what is wrong with it."""
    path = Path(path)
    raw = read_file_bytes(path, what=what)
    if not raw.strip():
        raise GenStudioError(f"The {what} {path} is empty (it may have been cut off by a crash).")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GenStudioError(f"The {what} {path} is not valid JSON: {e}") from e
