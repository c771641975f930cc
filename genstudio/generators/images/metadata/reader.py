"""Reading settings from an image file: which chunks are read, and which tool's format wins
(the order is in the package docstring, :mod:`genstudio.generators.images.metadata`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from genstudio.generators.images.metadata.a1111 import (
    A1111_KEYWORD,
    _has_params_line,
    parse_a1111,
)
from genstudio.generators.images.metadata.comfyui import COMFYUI_KEYWORD, _parse_comfyui
from genstudio.generators.images.metadata.common import (
    MAX_A1111_CHARS,
    ImageMetadataError,
    ImageSettings,
    _opened,
)
from genstudio.generators.images.metadata.exif import _exif_user_comment
from genstudio.generators.images.metadata.invokeai import (
    INVOKEAI_DREAM_KEYWORD,
    INVOKEAI_KEYWORD,
    INVOKEAI_SD_METADATA_KEYWORD,
    _parse_invokeai,
    _parse_invokeai_dream,
    _parse_invokeai_sd_metadata,
)
from genstudio.generators.images.metadata.png import _PNG_SIG, _walk_png_text
from genstudio.generators.images.metadata.record import GENSTUDIO_KEYWORD, _genstudio_record

_BAD_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# After GenStudio's record and A1111's text: the other tools' chunks, tried in this order.
_OTHER_READERS: tuple[tuple[str, Callable[[str], ImageSettings | None]], ...] = (
    (COMFYUI_KEYWORD, _parse_comfyui),
    (INVOKEAI_KEYWORD, _parse_invokeai),
    (INVOKEAI_SD_METADATA_KEYWORD, _parse_invokeai_sd_metadata),
    (INVOKEAI_DREAM_KEYWORD, _parse_invokeai_dream),
)
# The PNG text chunks read (ComfyUI's "workflow" too: it counts against the total text limit).
_KNOWN_KEYWORDS = frozenset(
    {GENSTUDIO_KEYWORD, A1111_KEYWORD, "workflow", *(k for k, _ in _OTHER_READERS)}
)


def _read_container(source: Any) -> tuple[dict[str, str], str | None]:
    """(PNG text chunks, EXIF UserComment text) of an image; both empty for anything else."""
    with _opened(source) as f:
        head = f.read(12)
        if head.startswith(_PNG_SIG):
            f.seek(len(_PNG_SIG))
            return _walk_png_text(f, _KNOWN_KEYWORDS), None
        if head.startswith(b"\xff\xd8\xff") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
            f.seek(0)
            return {}, _exif_user_comment(f)
        return {}, None


def _plausible_text(text: str | None) -> TypeGuard[str]:
    return bool(text and text.strip()) and not _BAD_CONTROL_RE.search(text or "")


def _settings_from(texts: Mapping[str, str], user_comment: str | None) -> ImageSettings | None:
    rec = _genstudio_record(texts.get(GENSTUDIO_KEYWORD))
    if rec is not None:
        try:
            return ImageSettings.from_dict(rec.get("settings"))  # type: ignore[arg-type]  # from_dict refuses a non-mapping
        except ImageMetadataError:
            pass
    params = texts.get(A1111_KEYWORD)
    if _plausible_text(params) and len(params) <= MAX_A1111_CHARS:
        return parse_a1111(params)
    for keyword, reader in _OTHER_READERS:
        text = texts.get(keyword)
        if text:
            try:
                got = reader(text)
            except (RecursionError, ArithmeticError, ValueError, TypeError, LookupError):
                got = None  # defensive: the readers check types, hostile JSON gets no crash
            if got is not None:
                return got
    if (
        _plausible_text(user_comment)
        and len(user_comment) <= MAX_A1111_CHARS
        and _has_params_line(user_comment)
    ):
        return parse_a1111(user_comment)
    return None


def read_metadata(source: Any) -> ImageSettings | None:
    """Settings stored in an image (path, bytes or binary file): GenStudio's record, A1111
    ``parameters``, ComfyUI, InvokeAI, or A1111 EXIF in JPEG/WebP; ``None`` if none can be
    read. See the package docstring for the order, what is supported and the errors."""
    texts, user_comment = _read_container(source)
    return _settings_from(texts, user_comment)


def read_genstudio_record(source: Any) -> dict[str, Any] | None:
    """GenStudio's full lossless record of a PNG it wrote (``format``, ``version``, the
    generator's keys and ``settings``), or ``None``. Errors as :func:`read_metadata`."""
    texts, _ = _read_container(source)
    return _genstudio_record(texts.get(GENSTUDIO_KEYWORD))
