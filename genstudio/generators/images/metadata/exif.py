"""JPEG/WebP: the EXIF ``UserComment`` (where A1111 stores its ``parameters`` text), through
Pillow. Prefixes ``UNICODE`` (UTF-16 BE, as piexif writes it; a BOM is honoured), ``ASCII``
and undefined (UTF-8, else Latin-1) are read; others are not text we know."""

from __future__ import annotations

from typing import Any, BinaryIO

from genstudio.generators.images.metadata.common import MAX_TEXT_CHUNK_BYTES


def _exif_user_comment(f: BinaryIO) -> str | None:
    from PIL import Image

    try:
        with Image.open(f, formats=["JPEG", "WEBP"]) as im:
            raw = im.getexif().get_ifd(0x8769).get(0x9286)
    except Exception:  # Pillow raises many kinds on hostile files; none of them is ours
        return None
    return _decode_user_comment(raw)


def _decode_user_comment(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw.rstrip("\0") or None
    if not isinstance(raw, bytes) or len(raw) <= 8 or len(raw) > MAX_TEXT_CHUNK_BYTES:
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\0":
        enc = "utf-16-be"
        if body[:2] == b"\xff\xfe":
            enc, body = "utf-16-le", body[2:]
        elif body[:2] == b"\xfe\xff":
            body = body[2:]
        text = body.decode(enc, errors="replace")
    elif prefix == b"ASCII\0\0\0":
        text = body.decode("ascii", errors="replace")
    elif prefix == b"\0" * 8:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("latin-1")
    else:
        return None
    return text.rstrip("\0") or None
