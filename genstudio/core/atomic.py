"""Atomic file writes: temp file in the same folder -> flush -> fsync -> os.replace -> fsync dir.

A reader sees the old file or the new file, never a half-written one, even after kill -9 or a
power cut. Temp files are named ``.<name>.<random>.tmp`` so that scans can skip them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
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


_WRITE_HINTS = {
    errno.ENOSPC: "The disk is full: free some space and try again.",
    errno.EDQUOT: "The disk quota is used up: free some space and try again.",
    errno.EROFS: "The disk is mounted read-only: choose a writable folder.",
    errno.EACCES: "Permission denied: check the folder's permissions.",
    errno.EPERM: "Permission denied: check the folder's permissions.",
    errno.ENAMETOOLONG: "The file name is too long for the disk: choose a shorter name.",
    errno.ENOENT: "The folder does not exist (any more): choose an existing folder.",
    errno.ENOTDIR: "A part of the path is a file, not a folder: choose another place.",
}


def write_error(path: str | os.PathLike[str], e: OSError) -> GenStudioError:
    """A GenStudioError for a failed write whose hint names the real cause (disk full, read-only
    disk, permissions, name too long, ...)."""
    return GenStudioError(
        f"Could not write {path}: {e.strerror or e}",
        hint=_WRITE_HINTS.get(e.errno or 0, "Check the disk and the folder's permissions."),
    )


def temp_path_for(path: str | os.PathLike[str]) -> Path:
    """A fresh temp name next to ``path``: ``.<name>.<random>.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def write_temp(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` completely and durably (fsync) to a new temp file next to ``path`` and
    return the temp file's path; :func:`commit_temp` puts it in place. Nothing is left behind
    on an error."""
    tmp = temp_path_for(path)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_error(path, e) from e
    return tmp


def commit_temp(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """``os.replace`` a temp file made by :func:`write_temp` onto ``path``, then fsync the
    folder. The temp file is removed on an error."""
    path = Path(path)
    try:
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise write_error(path, e) from e
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    path = Path(path)
    commit_temp(write_temp(path, data), path)


def encode_text(text: str, *, what: str = "text") -> bytes:
    """UTF-8 bytes of ``text``; GenStudioError (not UnicodeEncodeError) for text holding lone
    surrogates, which is what Python makes of bytes that were not valid UTF-8 (``a\\udcff``)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        part = text[e.start : e.end]
        try:
            bad = "bytes " + part.encode("utf-8", "surrogateescape").hex(" ")
        except UnicodeEncodeError:
            bad = part.encode("ascii", "backslashreplace").decode("ascii")
        raise GenStudioError(
            f"The {what} holds something that is not valid UTF-8 text ({bad}).",
            hint="Use valid text (check the terminal's or the file's encoding).",
        ) from e


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, encode_text(text, what=f"text for {Path(path).name}"))


def json_bytes(obj: Any, *, what: str = "document") -> bytes:
    """The JSON GenStudio writes (indented, UTF-8, newline at the end), checked to encode."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    return encode_text(text, what=what)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_bytes(path, json_bytes(obj, what=f"text for {Path(path).name}"))


#: The cap :func:`read_file_bytes` enforces when the caller names none (1 GiB).
DEFAULT_MAX_READ_BYTES = 1 << 30
_CHUNK = 1 << 20
_FOLDER = "Choose a file inside it."
_CHECK = "Check that the file exists, is readable and is not on a disconnected drive."


def read_file_bytes(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    error: type[GenStudioError] = GenStudioError,
    max_bytes: int | None = None,
    too_big: Callable[[int], GenStudioError] | None = None,
) -> bytes:
    """A user file's bytes, or ``error`` with a message that names the file and what is wrong
    (missing, a folder, no permission, not a regular file, too big, any other OS error).

    The one reader for files a user names. Only *regular* files are read: a FIFO, a device
    (``/dev/zero``), a socket is refused before a byte is read - the file is opened with
    ``O_NONBLOCK`` so that opening a FIFO cannot block, and checked with ``fstat`` on the open
    descriptor (no race with a swapped path). The byte cap (``max_bytes``, default
    :data:`DEFAULT_MAX_READ_BYTES`) is enforced *while reading*, never trusted from ``st_size``:
    a file that grows past it is refused after ``max_bytes + 1`` bytes.
    """
    path = Path(path)
    cap = DEFAULT_MAX_READ_BYTES if max_bytes is None else int(max_bytes)

    def big(size: int) -> GenStudioError:
        if too_big is not None:
            return too_big(size)
        return error(
            f"The {what} {path} is larger than {cap / 1e6:.1f} MB, more than GenStudio reads.",
            hint=f"Use a smaller {what}.",
        )

    try:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as e:
        raise error(f"The {what} {path} does not exist.", hint="Check the path.") from e
    except IsADirectoryError as e:
        raise error(f"The path {path} is a folder; a {what} is needed here.", hint=_FOLDER) from e
    except PermissionError as e:
        raise error(
            f"The {what} {path} cannot be read (permission denied).",
            hint="Check the file's and its folder's permissions.",
        ) from e
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        try:  # a socket cannot be opened at all (ENXIO): say what it is, as for a FIFO
            mode = os.stat(path).st_mode
        except (OSError, ValueError):
            mode = None
        if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            raise error(
                f"The {what} {path} is not a regular file (it is a {_file_type(mode)}).",
                hint=f"Choose a {what} saved on disk.",
            ) from e
        why = getattr(e, "strerror", None) or e
        raise error(f"The {what} {path} cannot be read: {why}", hint=_CHECK) from e
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"The path {path} is a folder; a {what} is needed here.", hint=_FOLDER)
        if not stat.S_ISREG(st.st_mode):
            raise error(
                f"The {what} {path} is not a regular file (it is a {_file_type(st.st_mode)}).",
                hint=f"Choose a {what} saved on disk.",
            )
        if st.st_size > cap:
            raise big(st.st_size)
        chunks: list[bytes] = []
        got = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, cap + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if got > cap:
                raise big(got)
        return b"".join(chunks)
    except OSError as e:
        raise error(f"The {what} {path} cannot be read: {e.strerror or e}", hint=_CHECK) from e
    finally:
        os.close(fd)


def _file_type(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


#: JSON documents GenStudio reads (project.json, sidecars, model.json, configs) are small.
MAX_JSON_BYTES = 64 * 1024 * 1024


def read_json(
    path: str | os.PathLike[str], *, what: str = "file", max_bytes: int = MAX_JSON_BYTES
) -> Any:
    """Read JSON with an error that names the file and what is wrong with it."""
    path = Path(path)
    raw = read_file_bytes(path, what=what, max_bytes=max_bytes)
    if not raw.strip():
        raise GenStudioError(f"The {what} {path} is empty (it may have been cut off by a crash).")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GenStudioError(f"The {what} {path} is not valid JSON: {e}") from e
    except RecursionError as e:
        raise GenStudioError(f"The {what} {path} is nested too deeply to be read.") from e
