"""Images from files for display, through the product's one safe reader.

Every image file the studio shows (an init image, a dropped file, a gallery preview or
thumbnail, a sprite sheet) is read by :func:`genstudio.core.safeimage.read_image_file`: regular
files only (a FIFO or a device is refused, never blocks), a byte cap enforced while reading, the
format allow-list (PNG, JPEG, WebP, BMP, GIF, TIFF) and the header's pixel limit - the same rules
a job applies. Qt's own image plugins never see a user's bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QImage

from genstudio.core.errors import GenStudioError


@dataclass(frozen=True)
class LoadedImage:
    image: QImage  # RGBA, possibly scaled down to ``max_side``
    width: int  # the file's own size (EXIF orientation applied), before any scaling
    height: int


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """``(H, W, 4) uint8`` -> a QImage that owns its pixels."""
    a = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = a.shape[:2]
    return QImage(a.tobytes(), w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def load_image(path: str | os.PathLike[str], max_side: int = 0) -> tuple[LoadedImage | None, str]:
    """(image, "") or (None, why not, in words). ``max_side`` > 0 shrinks large images to fit
    (JPEGs are decoded at a reduced scale, which is much faster)."""
    from PIL import Image, ImageOps

    from genstudio.core.safeimage import pil_to_rgba, read_image_file

    try:
        im = read_image_file(path)
        try:
            im = ImageOps.exif_transpose(im)
        except (OSError, ValueError, SyntaxError, KeyError, TypeError, IndexError):
            pass  # an unreadable EXIF block: show the picture as stored
        w, h = im.size
        if max_side and max(w, h) > max_side:
            im = im.convert("RGBA") if im.mode not in ("RGB", "RGBA") else im
            im.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
        rgba = pil_to_rgba(im)
    except GenStudioError as e:
        return None, e.user_message()
    except (OSError, ValueError, MemoryError) as e:  # a decoder failing late
        return None, f"{os.fspath(path)} cannot be shown: {e}"
    return LoadedImage(rgba_to_qimage(rgba), w, h), ""
