"""GenStudio's own lossless, schema-versioned JSON record, and writing a PNG with it.

The record is an uncompressed ``iTXt`` chunk ``genstudio``::

    {"format": "genstudio.image-params", "version": 1,
     ...the caller's record (generator, model id and sha256, params, post-processing,
        parent asset)...,
     "settings": {ImageSettings.to_dict()}}

:func:`png_with_metadata` writes it together with the A1111 ``parameters`` text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.images.metadata.a1111 import A1111_KEYWORD, a1111_parameters
from genstudio.generators.images.metadata.common import ImageSettings, _check, _json
from genstudio.generators.images.metadata.png import (
    _PNG_SIG,
    _TEXT_TYPES,
    _chunk,
    _itxt_chunk,
    _png_bytes_of,
    _split_png,
    _text_chunk,
)

GENSTUDIO_KEYWORD = "genstudio"
GENSTUDIO_FORMAT = "genstudio.image-params"
GENSTUDIO_FORMAT_VERSION = 1


def png_with_metadata(
    image: bytes | Any,
    settings: ImageSettings,
    genstudio_json: Mapping[str, Any] | None = None,
) -> bytes:
    """PNG bytes with the A1111 ``parameters`` chunk and GenStudio's ``genstudio`` record.

    ``image``: PNG bytes (the pixel chunks are copied byte for byte), a PIL image or a uint8
    array (encoded losslessly by Pillow). ``genstudio_json``: the generator's record (generator,
    model id and sha256, params, post-processing chain, parent asset); its keys go at the top
    level of the record beside ``format``, ``version`` and ``settings``, which it may not use.
    Both chunks go before the first ``IDAT``; earlier ``parameters``/``genstudio`` text chunks
    are dropped, other chunks are kept in order.
    """
    _check(settings)
    record: dict[str, Any] = {"format": GENSTUDIO_FORMAT, "version": GENSTUDIO_FORMAT_VERSION}
    if genstudio_json:
        if not isinstance(genstudio_json, Mapping):
            raise InvalidParamsError("The GenStudio record must be a JSON object (a dict).")
        reserved = sorted({"format", "version", "settings"} & set(genstudio_json))
        if reserved:
            raise InvalidParamsError(
                f"The GenStudio record may not set {', '.join(reserved)} (reserved keys)."
            )
        record.update(genstudio_json)
    record["settings"] = settings.to_dict()
    try:
        record_text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidParamsError(f"The GenStudio record is not plain JSON: {e}") from None
    params_text = a1111_parameters(settings)

    chunks = _split_png(_png_bytes_of(image))
    ours = {A1111_KEYWORD.encode("latin-1"), GENSTUDIO_KEYWORD.encode("latin-1")}
    parts = [_PNG_SIG]
    inserted = False
    for ctype, data in chunks:
        if ctype in _TEXT_TYPES and data.split(b"\0", 1)[0] in ours:
            continue
        if ctype == b"IDAT" and not inserted:
            parts.append(_text_chunk(A1111_KEYWORD, params_text))
            parts.append(_itxt_chunk(GENSTUDIO_KEYWORD, record_text))
            inserted = True
        parts.append(_chunk(ctype, data))
    return b"".join(parts)


def _genstudio_record(text: str | None) -> dict[str, Any] | None:
    """The record in a ``genstudio`` chunk's text, or None (not JSON, another format or
    version)."""
    if not text:
        return None
    rec = _json(text)
    if (
        isinstance(rec, dict)
        and rec.get("format") == GENSTUDIO_FORMAT
        and rec.get("version") == GENSTUDIO_FORMAT_VERSION
    ):
        return rec
    return None
