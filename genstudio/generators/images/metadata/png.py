"""PNG chunks: write text chunks the way Pillow does, split a well-formed PNG, walk the text
chunks of an untrusted one (never decoding pixels), and encode pixels given as an image."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any, BinaryIO

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.images.metadata.common import (
    MAX_TEXT_CHUNK_BYTES,
    MAX_TOTAL_TEXT_BYTES,
    _opened,
)

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
# Pillow modes it writes to PNG exactly ("I" is not: it is clipped to 16 bits).
_LOSSLESS_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"})
_MAX_CHUNKS = 1_000_000


# --- writing -----------------------------------------------------------------------------------


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _text_chunk(keyword: str, text: str) -> bytes:
    """What Pillow's ``PngInfo.add_text(keyword, text)`` writes: tEXt if Latin-1, else iTXt."""
    key = keyword.encode("latin-1")
    try:
        return _chunk(b"tEXt", key + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _itxt_chunk(keyword, text)


def _itxt_chunk(keyword: str, text: str) -> bytes:
    """Uncompressed iTXt, empty language and translated keyword (Pillow's ``add_itxt``)."""
    return _chunk(b"iTXt", keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


# --- reading -----------------------------------------------------------------------------------


def _bad_header(length: int, ctype: bytes) -> bool:
    """A chunk header no PNG has: a length past 2**31 - 1 or a type that is not 4 letters."""
    return length > 0x7FFFFFFF or not ctype.isalpha()


def _inflate(data: bytes) -> bytes | None:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_TEXT_CHUNK_BYTES)
    except zlib.error:
        return None
    if d.unconsumed_tail or not d.eof:
        return None  # larger than the limit, or truncated
    return out


def _decode_text(ctype: bytes, body: bytes) -> str | None:
    """The text of a tEXt/zTXt/iTXt chunk body after its keyword and NUL; None if corrupt."""
    if ctype == b"tEXt":
        return body.decode("latin-1")
    if ctype == b"zTXt":
        if not body or body[0] != 0:
            return None
        raw = _inflate(body[1:])
        return None if raw is None else raw.decode("latin-1")
    # iTXt: flag, method, language\0, translated keyword\0, text
    if len(body) < 2 or body[0] not in (0, 1) or body[1] != 0:
        return None
    parts = body[2:].split(b"\0", 2)
    if len(parts) != 3:
        return None
    raw = parts[2] if body[0] == 0 else _inflate(parts[2])
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _walk_png_text(f: BinaryIO, wanted: frozenset[str] | None) -> dict[str, str]:
    """Text chunks of a PNG stream positioned after the signature: ``{keyword: text}`` (the
    first chunk of each keyword wins). Never reads pixel data; stops at IEND, a malformed chunk
    header or the end of the data; skips chunks with a bad CRC, over the limits or corrupt."""
    out: dict[str, str] = {}
    total = 0
    for _ in range(_MAX_CHUNKS):
        head = f.read(8)
        if len(head) < 8:
            break
        length, ctype = struct.unpack(">I4s", head)
        if _bad_header(length, ctype):
            break
        if ctype == b"IEND":
            break
        if ctype not in _TEXT_TYPES or length > MAX_TEXT_CHUNK_BYTES:
            f.seek(length + 4, io.SEEK_CUR)
            continue
        first = f.read(min(length, 80))
        key_end = first.find(b"\0")
        keyword = first[:key_end].decode("latin-1") if key_end > 0 else ""
        if (
            not keyword
            or keyword in out
            or (wanted is not None and keyword not in wanted)
            or total + length > MAX_TOTAL_TEXT_BYTES
        ):
            f.seek(length - len(first) + 4, io.SEEK_CUR)
            continue
        data = first + f.read(length - len(first))
        crc = f.read(4)
        if len(data) < length or len(crc) < 4:
            break  # truncated inside this chunk
        total += length
        if struct.unpack(">I", crc)[0] != zlib.crc32(ctype + data):
            continue
        text = _decode_text(ctype, data[key_end + 1 :])
        if text is not None:
            out[keyword] = text
    return out


def png_text_chunks(source: Any) -> dict[str, str]:
    """All text chunks (tEXt, zTXt, iTXt) of a PNG as ``{keyword: text}``, within the limits;
    ``{}`` for anything that is not a PNG. Errors as :func:`read_metadata`."""
    with _opened(source) as f:
        if f.read(8) != _PNG_SIG:
            return {}
        return _walk_png_text(f, None)


def _split_png(png: bytes) -> list[tuple[bytes, bytes]]:
    """Every chunk of a well-formed PNG (CRCs checked), or InvalidParamsError."""
    if not png.startswith(_PNG_SIG):
        raise InvalidParamsError("Not a PNG image (the PNG signature is missing).")
    chunks: list[tuple[bytes, bytes]] = []
    pos = len(_PNG_SIG)
    while True:
        if pos + 12 > len(png):
            raise InvalidParamsError("The PNG image is truncated (no IEND chunk).")
        length, ctype = struct.unpack(">I4s", png[pos : pos + 8])
        end = pos + 8 + length
        if _bad_header(length, ctype) or end + 4 > len(png):
            raise InvalidParamsError("The PNG image is corrupt or truncated.")
        data = png[pos + 8 : end]
        if struct.unpack(">I", png[end : end + 4])[0] != zlib.crc32(ctype + data):
            raise InvalidParamsError(f"The PNG image is corrupt (bad CRC in {ctype!r}).")
        chunks.append((ctype, data))
        pos = end + 4
        if ctype == b"IEND":
            break
    if chunks[0][0] != b"IHDR" or not any(t == b"IDAT" for t, _ in chunks):
        raise InvalidParamsError("The PNG image is corrupt (no IHDR or no IDAT).")
    return chunks


# --- pixels -> PNG -------------------------------------------------------------------------------


def _png_bytes_of(image: Any) -> bytes:
    """PNG bytes as given, or a PIL image / uint8 array encoded losslessly by Pillow."""
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    from PIL import Image

    if not isinstance(image, Image.Image):
        if hasattr(image, "__array_interface__"):
            import numpy as np

            a = np.asarray(image)
            if (
                a.dtype != np.uint8
                or a.ndim not in (2, 3)
                or (a.ndim == 3 and a.shape[2] not in (3, 4))
            ):
                raise InvalidParamsError(
                    "Expected an (H, W), (H, W, 3) or (H, W, 4) uint8 array, "
                    f"got {a.dtype} {a.shape}."
                )
            image = Image.fromarray(np.ascontiguousarray(a))
        else:
            raise InvalidParamsError(
                f"Expected PNG bytes, a PIL image or a uint8 array, got {type(image).__name__}."
            )
    if image.mode not in _LOSSLESS_PNG_MODES:
        raise InvalidParamsError(
            f"Images of mode {image.mode} cannot be stored as a PNG without changing their pixels.",
            hint="Convert the image to RGB or RGBA first.",
        )
    buf = io.BytesIO()
    try:
        image.save(buf, format="PNG")
    except (OSError, ValueError, KeyError) as e:
        raise InvalidParamsError(
            f"This image (mode {image.mode}) cannot be stored as a PNG: {e}",
            hint="Convert it to RGB or RGBA first.",
        ) from None
    return buf.getvalue()
