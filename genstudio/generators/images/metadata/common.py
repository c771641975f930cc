"""What every image metadata format shares: the settings record, the limits, the error, the
checks that turn untrusted values into settings values (or ``None``) and opening a source."""

from __future__ import annotations

import io
import json
import math
import os
import re
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, BinaryIO

from genstudio.core.errors import GenStudioError, InvalidParamsError


class ImageMetadataError(GenStudioError):
    """An image file whose metadata cannot be read at all (unreadable path, over-long text)."""

    kind = "image-metadata"


SOURCES = ("genstudio", "a1111", "comfyui", "invokeai", "unknown")

MAX_TEXT_CHUNK_BYTES = 8 * 1024 * 1024
MAX_TOTAL_TEXT_BYTES = 32 * 1024 * 1024
MAX_A1111_CHARS = 1024 * 1024
MAX_PARAMS_LINE_CHARS = 64 * 1024
MAX_SIDE = 16384
MAX_STEPS = 10000
MAX_CLIP_SKIP = 64
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1
# The whole-number fields of ImageSettings and their ranges (its check and every reader's).
_INT_RANGES: dict[str, tuple[int, int]] = {
    "steps": (1, MAX_STEPS),
    "seed": (SEED_MIN, SEED_MAX),
    "width": (1, MAX_SIDE),
    "height": (1, MAX_SIDE),
    "clip_skip": (1, MAX_CLIP_SKIP),
}

_INT_RE = re.compile(r"[+-]?\d{1,30}")


@dataclass
class ImageSettings:
    """Generation settings that tools share ("reuse these settings").

    ``sampler`` is GenStudio's scheduler name (``ddim``, ``euler``, ``euler_a``, ``dpmpp_2m``,
    ``lcm``) when the tool's sampler is one of those, otherwise the tool's own name verbatim.
    ``model_hash`` is whatever the source gave: a full SHA-256 (GenStudio), an A1111 shorthash,
    an InvokeAI ``blake3:`` hash. ``extra`` holds everything else as text, under A1111 key names
    where one exists (``Schedule type``, ``VAE``, ``Hires upscale`` ...). ``source`` says which
    tool wrote it: one of :data:`SOURCES`.
    """

    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    sampler: str | None = None
    cfg_scale: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    model_name: str | None = None
    model_hash: str | None = None
    denoising_strength: float | None = None
    clip_skip: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    source: str = "genstudio"

    def problems(self) -> list[str]:
        """What is wrong with the values (types, ranges); empty when they can be written."""
        out: list[str] = []
        for name in ("prompt", "negative_prompt"):
            if not isinstance(getattr(self, name), str):
                out.append(f"{name} must be text")
        for name in ("sampler", "model_name", "model_hash"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                out.append(f"{name} must be text or None")
        for name, (lo, hi) in _INT_RANGES.items():
            v = getattr(self, name)
            if v is not None and _exact_int_in(v, lo, hi) is None:
                out.append(f"{name} must be a whole number from {lo} to {hi} or None, not {v!r}")
        for name in ("cfg_scale", "denoising_strength"):
            v = getattr(self, name)
            if v is not None and _finite(v) is None:
                out.append(f"{name} must be a finite number or None, not {v!r}")
        if not isinstance(self.extra, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.extra.items()
        ):
            out.append("extra must map text to text")
        if self.source not in SOURCES:
            out.append(f"source must be one of {', '.join(SOURCES)}, not {self.source!r}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every field in declaration order (the JSON record's ``settings``); ``extra`` copied."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageSettings:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing ones take defaults.
        Raises :class:`ImageMetadataError` for values of the wrong type or out of range."""
        if not isinstance(data, Mapping):
            raise ImageMetadataError("Image settings must be a JSON object.")
        kwargs: dict[str, Any] = {
            f.name: data[f.name] for f in fields(cls) if f.name != "extra" and f.name in data
        }
        for name in ("cfg_scale", "denoising_strength"):
            v = _finite(kwargs.get(name))
            if v is not None:
                kwargs[name] = v
        extra = data.get("extra", {})
        kwargs["extra"] = dict(extra) if isinstance(extra, Mapping) else extra
        obj = cls(**kwargs)
        _require_valid(obj, ImageMetadataError)
        return obj


def _require_valid(settings: ImageSettings, error: type[GenStudioError]) -> None:
    problems = settings.problems()
    if problems:
        raise error("Bad image settings: " + "; ".join(problems) + ".")


def _check(settings: ImageSettings) -> None:
    """Settings about to be written: InvalidParamsError for the wrong type or bad values."""
    if not isinstance(settings, ImageSettings):
        raise InvalidParamsError(f"Expected ImageSettings, got {type(settings).__name__}.")
    _require_valid(settings, InvalidParamsError)


# --- untrusted values -> settings values -------------------------------------------------------


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _finite(v: object) -> float | None:
    """A finite real number as a float, else None (bools, NaN, infinities, huge ints)."""
    if not _is_real(v):
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _exact_int_in(v: Any, lo: int, hi: int) -> int | None:
    """An int (not a bool, not a float) in ``lo..hi``, else None."""
    return v if _is_int(v) and lo <= v <= hi else None


def _int_in(v: Any, lo: int, hi: int) -> int | None:
    """Like :func:`_exact_int_in`, also taking a whole float (JSON ``20.0``)."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return _exact_int_in(v, lo, hi)


def _to_int(v: Any, lo: int, hi: int) -> int | None:
    """Decimal text (surrounding spaces allowed) of a whole number in ``lo..hi``, else None."""
    if not isinstance(v, str):
        return None
    v = v.strip()
    if not _INT_RE.fullmatch(v):
        return None
    return _exact_int_in(int(v), lo, hi)


def _to_float(v: Any) -> float | None:
    """A finite number, or text of one (at most 64 characters), as a float; else None."""
    if isinstance(v, str) and len(v) <= 64:
        try:
            v = float(v.strip())
        except ValueError:
            return None
    return _finite(v)


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _json(text: str) -> Any:
    """Parsed JSON, or None when the text is not JSON (or nests too deep)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


# --- sources -----------------------------------------------------------------------------------


def _open(source: Any) -> BinaryIO:
    """A binary file for a path, bytes or an open binary file (returned as it is)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    if isinstance(source, str | os.PathLike):
        try:
            # O_NONBLOCK: opening a FIFO must not block; fstat on the open descriptor: only
            # regular files are read (a FIFO or /dev/zero would block or never end)
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(source, flags | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise ImageMetadataError(f"The image {os.fspath(source)} does not exist.") from None
        except PermissionError:
            raise ImageMetadataError(
                f"The image {os.fspath(source)} cannot be read (permission denied).",
                hint="Check the file's permissions.",
            ) from None
        except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
            raise ImageMetadataError(
                f"The image {os.fspath(source)!r} cannot be read: "
                f"{getattr(e, 'strerror', None) or e}"
            ) from None
        try:
            mode = os.fstat(fd).st_mode
        except OSError as e:
            os.close(fd)
            raise ImageMetadataError(
                f"The image {os.fspath(source)} cannot be read: {e.strerror or e}"
            ) from None
        if not stat.S_ISREG(mode):
            os.close(fd)
            what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise ImageMetadataError(
                f"The image {os.fspath(source)} is {what}.",
                hint="Choose an image file saved on disk.",
            )
        return os.fdopen(fd, "rb")
    if hasattr(source, "read") and hasattr(source, "seek"):
        return source
    raise TypeError(f"Expected a path, bytes or a binary file, got {type(source).__name__}")


@contextmanager
def _opened(source: Any) -> Iterator[BinaryIO]:
    """:func:`_open` for a ``with`` block: an OSError while reading becomes
    :class:`ImageMetadataError`; what was opened here is closed (a caller's file is not)."""
    f = _open(source)
    try:
        yield f
    except OSError as e:
        raise ImageMetadataError(f"The image cannot be read: {e.strerror or e}") from None
    finally:
        if f is not source:
            f.close()
