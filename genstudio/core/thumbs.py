"""Thumbnail files for the gallery (Pillow, imported on first use so the window opens fast).

Only image files get a thumbnail. Music (``.mid``) and audio (``.wav``) assets have none:
:meth:`genstudio.core.gallery.Gallery.thumbnail` returns ``None`` for them, and the UI paints
its own icon for the kind. A file Pillow cannot read also gets ``None``, never an exception.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
from pathlib import Path

from genstudio.core.atomic import TMP_SUFFIX

log = logging.getLogger(__name__)

IMAGE_EXTS = frozenset({"png", "jpg", "jpeg", "webp", "gif", "bmp"})
MIN_SIZE, MAX_SIZE = 16, 1024
#: Kinds drawn as pixel art: scaled with nearest-neighbour so edges stay crisp.
PIXEL_KINDS = frozenset({"sprite"})
#: Sprite sheets are rows = 4 directions (down first) x columns = 6 frames (docs/ARCHITECTURE.md).
SHEET_ROWS, SHEET_COLUMNS = 4, 6
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_image_name(name: str) -> bool:
    return name.rsplit(".", 1)[-1].lower() in IMAGE_EXTS if "." in name else False


def render_thumbnail(src: Path, size: int, *, pixel_art: bool = False) -> bytes | None:
    """PNG bytes of ``src`` shrunk to fit ``size`` x ``size``, or None. Only the first frame of
    a pixel-art character sheet is enlarged (by a whole factor)."""
    from PIL import Image

    from genstudio.core.errors import GenStudioError
    from genstudio.core.safeimage import read_image_file

    try:
        # the product's one image reader: regular files only, capped, allowed formats only
        im = read_image_file(src, what="asset", draft=(size, size))
    except GenStudioError as e:
        log.debug("no thumbnail for %s: %s", src, e.message)
        return None
    try:
        if im.mode not in ("RGB", "RGBA", "L", "LA"):
            im = im.convert("RGBA")
        resample = Image.Resampling.NEAREST if pixel_art else Image.Resampling.BICUBIC
        w, h = im.size
        if pixel_art and h % SHEET_ROWS == 0 and w * SHEET_ROWS == h * SHEET_COLUMNS:
            # a character sheet: show its first frame (facing the viewer), enlarged by a
            # whole factor so every sprite pixel stays a crisp square
            frame = h // SHEET_ROWS
            im = im.crop((0, 0, frame, frame))
            k = max(1, size // frame)
            im = im.resize((frame * k, frame * k), Image.Resampling.NEAREST)
        im.thumbnail((size, size), resample)
        buf = io.BytesIO()
        im.save(buf, "PNG", compress_level=1)
        return buf.getvalue()
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as e:
        log.debug("no thumbnail for %s: %s", src, e)
        return None


def write_cache_file(path: Path, data: bytes) -> None:
    """Atomic (temp file + ``os.replace``) but not fsynced: a reader never sees half a file.

    Thumbnails are a cache that can always be made again, and the two fsyncs of
    :func:`genstudio.core.atomic.atomic_write_bytes` cost more than rendering them (about 80%
    of a cold first page, measured by ``genstudio bench gallery``). What a power cut could
    leave (an empty or zero-filled file) fails :func:`is_valid_cached` and is rendered again.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def is_valid_cached(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    except OSError:
        return False


def write_thumbnail(src: Path, dst: Path, size: int, *, pixel_art: bool = False) -> bool:
    """Render and write ``dst`` atomically; False when ``src`` is not a readable image."""
    data = render_thumbnail(src, size, pixel_art=pixel_art)
    if data is None:
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_cache_file(dst, data)
    except OSError as e:
        log.warning("cannot write the thumbnail %s: %s", dst, e)
        return False
    return True
