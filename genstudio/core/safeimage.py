"""The one way GenStudio decodes image bytes that come from outside (a user's file, a dropped
file, a gallery import, a thumbnail, a palette image, an init image or mask).

* **An allow-list of formats**: PNG, JPEG, WebP, BMP, GIF and TIFF (``Image.open(formats=...)``),
  so Pillow's rarely used decoders never see user bytes, whatever the file is named.
* **No Ghostscript, ever**: :func:`harden_pillow` (run before every decode, and idempotent)
  removes Pillow's EPS plugin from its open/save tables and tells it that Ghostscript does not
  exist, so no code path of the product - ours or a library's ``Image.open`` without
  ``formats`` - can hand PostScript to ``gs``.
* **Bombs refused from the header**: the pixel count is checked before ``load()`` allocates.
* **Every failure is an** :class:`InvalidParamsError` naming the file, never a Pillow exception.

Reading the bytes (regular files only, a byte cap enforced while reading) is
:func:`genstudio.core.atomic.read_file_bytes`; :func:`read_image_file` does both.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError

#: The formats Pillow may try on outside bytes.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
#: Largest image file read at all.
MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024
#: Largest image (pixels, read from the header) that is decoded: 50 MP, e.g. an 8K x 6K photo.
MAX_IMAGE_PIXELS = 50_000_000
FORMAT_HINT = "Use a PNG, JPEG, WebP, BMP, GIF or TIFF image."
#: Largest image decoded by one of Pillow's pure-Python decoders (RLE BMP): ~0.2 s of CPU.
MAX_SLOW_DECODER_PIXELS = 1 << 20

_hardened = False


def harden_pillow() -> None:
    """Make Ghostscript unreachable through Pillow in this process (see the module docstring)."""
    global _hardened
    if _hardened:
        return
    from PIL import EpsImagePlugin, Image

    Image.init()  # import every plugin now, so none registers EPS again later
    EpsImagePlugin.gs_binary = False
    EpsImagePlugin.gs_windows_binary = False  # type: ignore[assignment]
    for fmt in ("EPS",):
        Image.OPEN.pop(fmt, None)
        Image.SAVE.pop(fmt, None)
        Image.MIME.pop(fmt, None)
        if fmt in Image.ID:
            Image.ID.remove(fmt)
        for ext in [e for e, f in Image.EXTENSION.items() if f == fmt]:
            del Image.EXTENSION[ext]
    _hardened = True


def _slow_decoder(im: Any) -> bool:
    """Does decoding ``im`` run one of Pillow's decoders written in Python?"""
    from PIL import Image

    try:
        return any(t.codec_name in Image.DECODERS for t in (im.tile or ()))
    except (AttributeError, TypeError):  # a tile of another shape: assume the worst
        return True


def open_image(
    data: bytes,
    *,
    label: str = "The image data",
    max_pixels: int = MAX_IMAGE_PIXELS,
    draft: tuple[int, int] | None = None,
) -> Any:
    """Open ``data`` with the allowed formats, check the header's pixel count, then decode
    frame 0. Returns a loaded PIL image; raises :class:`InvalidParamsError` for anything else.
    ``draft=(w, h)``: a JPEG may be decoded at a reduced scale of at least that size (fast
    thumbnails)."""
    from PIL import Image, UnidentifiedImageError

    harden_pillow()
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise InvalidParamsError(f"max_pixels must be a positive integer, got {max_pixels!r}.")
    if not data:
        raise InvalidParamsError(f"{label} is empty (0 bytes).", hint=FORMAT_HINT)
    try:
        im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as e:
        raise InvalidParamsError(
            f"{label} is too large to open safely ({e}).",
            hint=f"Use an image of at most {max_pixels:,} pixels.",
        ) from None
    except UnidentifiedImageError:
        raise InvalidParamsError(
            f"{label} is not a readable image (not a supported format, or damaged).",
            hint=FORMAT_HINT,
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError) as e:
        raise InvalidParamsError(
            f"{label} is damaged and cannot be opened ({e}).", hint=FORMAT_HINT
        ) from None
    w, h = im.size
    # the header is all that has been read so far: refuse before anything is allocated
    if w < 1 or h < 1:
        raise InvalidParamsError(f"{label} has no pixels ({w}x{h}).", hint=FORMAT_HINT)
    if w * h > max_pixels:
        raise InvalidParamsError(
            f"{label} is {w}x{h} = {w * h:,} pixels, more than the limit of {max_pixels:,}.",
            hint="Scale the image down before using it (a few megapixels is plenty).",
        )
    if w * h > MAX_SLOW_DECODER_PIXELS and _slow_decoder(im):
        # Pillow decodes these (RLE-compressed BMP) in Python: a 168-byte file declaring 9 MP
        # took seconds of CPU (found by fuzzing)
        raise InvalidParamsError(
            f"{label} is a {w}x{h} RLE-compressed {im.format} image; GenStudio reads those up "
            f"to {MAX_SLOW_DECODER_PIXELS:,} pixels.",
            hint="Save it again as PNG.",
        )
    try:
        if draft is not None and im.format == "JPEG":
            im.draft("RGB", draft)
        im.seek(0)  # animated images: the first frame
        im.load()
    except Image.DecompressionBombError as e:
        raise InvalidParamsError(
            f"{label} is too large to decode safely ({e}).",
            hint=f"Use an image of at most {max_pixels:,} pixels.",
        ) from None
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        IndexError,
        TypeError,
        KeyError,
        MemoryError,
        ZeroDivisionError,
    ) as e:
        raise InvalidParamsError(
            f"{label} is damaged or truncated and cannot be decoded ({e}).",
            hint="Save the image again from an image editor, or choose another file.",
        ) from None
    return im


def read_image_file(
    path: str | os.PathLike[str],
    *,
    what: str = "image",
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_bytes: int = MAX_IMAGE_FILE_BYTES,
    draft: tuple[int, int] | None = None,
) -> Any:
    """Read a user's image file (regular files only, ``max_bytes`` cap) and decode it with
    :func:`open_image`. Returns a loaded PIL image."""
    from genstudio.core.atomic import read_file_bytes

    data = read_file_bytes(path, what=f"{what} file", error=InvalidParamsError, max_bytes=max_bytes)
    label = f"The {what} {os.fspath(path)!r}"
    return open_image(data, label=label, max_pixels=max_pixels, draft=draft)


def pil_to_rgba(im: Any) -> np.ndarray:
    """A loaded PIL image of any mode -> ``(H, W, 4) uint8`` RGBA (see the module docstring)."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im)
        out = np.empty((*a.shape[:2], 4), np.uint8)
        out[..., 3] = 255
        for r in range(0, a.shape[0], 256):  # in blocks of rows: bounded temporaries
            b = np.clip(a[r : r + 256].astype(np.int64), 0, 65535)
            out[r : r + 256, :, :3] = ((b * 255 + 32767) // 65535).astype(np.uint8)[..., None]
        return out
    if mode == "RGBA":
        return np.array(im, dtype=np.uint8)
    try:
        if mode in ("CMYK", "LAB", "HSV", "YCbCr"):
            im = im.convert("RGB")
        return np.array(im.convert("RGBA"), dtype=np.uint8)
    except (ValueError, OSError) as e:
        raise InvalidParamsError(
            f"Images in colour mode {mode!r} are not supported ({e}).",
            hint="Save the image as 8-bit RGB or RGBA.",
        ) from None
