"""Safe loading of user images for the Images mode: img2img init images, inpainting masks, and
the 2x/4x upscale of results. numpy + Pillow only.

Every failure a user can cause is an :class:`InvalidParamsError` with a hint, never a Pillow
exception or a half-read array:

* **Missing / unreadable paths** (no file, a folder, no permission, a FIFO or a device such as
  ``/dev/zero``) are named as such; files are read through
  :func:`genstudio.core.atomic.read_file_bytes` (regular files only, the byte cap enforced while
  reading).
* **Formats**: only PNG, JPEG, WebP, BMP, GIF and TIFF are opened, through the product's one
  image opener :func:`genstudio.core.safeimage.open_image` (which also makes Ghostscript
  unreachable); Pillow's many rarely used decoders are never reached with user bytes. Anything
  else - a text file or EPS renamed ``.png``, random bytes - is "not a readable image".
* **Decompression bombs**: ``Image.open`` only parses the header, so the pixel count
  (``width * height``) is checked against ``max_pixels`` (default :data:`MAX_INPUT_PIXELS`,
  50 MP) *before* ``load()`` allocates or decodes anything. A header beyond twice Pillow's own
  ``Image.MAX_IMAGE_PIXELS`` is refused by Pillow inside ``open`` (``DecompressionBombError``),
  which is reported the same way. The process-wide Pillow settings (``MAX_IMAGE_PIXELS``,
  ``LOAD_TRUNCATED_IMAGES``) are never changed.
* **Corrupt or truncated data** (bad CRC, broken zlib stream, missing end) fails in ``load()``
  and is reported as "damaged or truncated".
* **Animated images** (GIF, APNG, animated WebP): the *first frame* is used, silently; the
  caller can check ``n_frames`` itself if it wants to warn.
* **Colour modes** are converted to RGBA uint8 by :func:`pil_to_rgba`: 16-bit grayscale
  (``I;16*``, and ``I`` as decoded from 16-bit PNG/TIFF) is *scaled* ``v * 255 / 65535``
  (Pillow's own ``convert`` clips at 255, which turns a 16-bit image almost white); palette
  images keep their transparency (``tRNS``); CMYK is converted with Pillow's naive formula (ICC
  profiles are not applied); ``1``/``L``/``LA``/``RGB``/``YCbCr``/... go through ``convert``.
* **EXIF orientation** (tag 274) is applied with ``ImageOps.exif_transpose``, so a phone photo
  comes in the way it is displayed.

Sizes: ``size=(W, H)`` makes the init image exactly that size. ``fit="crop"`` (default) scales
to cover the size keeping the aspect ratio and cuts the centre; ``fit="stretch"`` scales each
axis on its own. Init images are resized with Lanczos (on premultiplied alpha, as Pillow does
for RGBA); :func:`load_init_image_and_size` also returns the size before the resize, from the
same single decode. A mask must already have the requested size unless ``resize=True``; it is then
resized with the same geometry as the init image (so a mask painted over the original photo
still lines up), bilinear, clipped to [0, 1].

Masks: white = repaint, black = keep. From an ``L``/``1``/16-bit image: its grey value. From an
image with an alpha channel that is not fully opaque: the alpha (opaque strokes on a transparent
layer = repaint). From a fully opaque RGB(A) image: its luminance. From arrays: ``bool`` (True =
repaint), ``uint8`` (/255) or float in [0, 1], all ``(H, W)``. ``invert=True`` swaps the meaning
(for tools where transparent = repaint).
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np

from genstudio.core.atomic import read_file_bytes
from genstudio.core.errors import InvalidParamsError
from genstudio.core.safeimage import MAX_IMAGE_FILE_BYTES as MAX_INPUT_BYTES
from genstudio.core.safeimage import MAX_IMAGE_PIXELS as MAX_INPUT_PIXELS
from genstudio.core.safeimage import open_image, pil_to_rgba

#: Largest side of an image this module returns (a target ``size`` or an upscale result).
MAX_OUTPUT_SIDE = 16384
#: Largest upscale result in pixels (64 MP RGBA = 256 MB).
MAX_UPSCALE_PIXELS = 64 * 1024 * 1024

Source = str | os.PathLike[str] | bytes | bytearray | memoryview
Fit = Literal["crop", "stretch"]


def _label(source: Source) -> str:
    if isinstance(source, bytes | bytearray | memoryview):
        return "The image data"
    return f"Image {os.fspath(source)!r}"


def _read_source(source: Source, what: str) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > MAX_INPUT_BYTES:
            raise InvalidParamsError(
                f"The {what} data is {len(data)} bytes, more than {MAX_INPUT_BYTES}.",
                hint="Use a smaller image file.",
            )
        return data
    if not isinstance(source, str | os.PathLike):
        raise InvalidParamsError(
            f"The {what} must be a file path or bytes, got {type(source).__name__}."
        )
    # regular files only, the cap enforced while reading (core.atomic.read_file_bytes)
    return read_file_bytes(
        source, what=f"{what} file", error=InvalidParamsError, max_bytes=MAX_INPUT_BYTES
    )


def _open_decoded(source: Source, *, max_pixels: int, what: str) -> Any:
    """Open, check the header's pixel count, then decode frame 0. Returns a loaded PIL image."""
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise InvalidParamsError(f"max_pixels must be a positive integer, got {max_pixels!r}.")
    data = _read_source(source, what)
    return open_image(data, label=_label(source), max_pixels=max_pixels)


def _apply_orientation(im: Any) -> Any:
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, IndexError):
        # an unreadable EXIF block is not worth refusing the picture for: use it as stored
        return im


def _check_size(size: Any, what: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
        ok = all(not isinstance(v, bool) and int(v) == v for v in size)
    except (TypeError, ValueError):
        ok = False
    if not ok or not (1 <= w <= MAX_OUTPUT_SIDE and 1 <= h <= MAX_OUTPUT_SIDE):
        raise InvalidParamsError(
            f"The {what} size must be (width, height) with 1..{MAX_OUTPUT_SIDE} each, got {size!r}."
        )
    return w, h


def _fit_box(
    src: tuple[int, int], dst: tuple[int, int], fit: str
) -> tuple[float, float, float, float] | None:
    """The source box (l, t, r, b) that maps onto ``dst``; None = the whole image."""
    if fit == "stretch":
        return None
    if fit != "crop":
        raise InvalidParamsError(f"fit must be 'crop' or 'stretch', got {fit!r}.")
    sw, sh = src
    dw, dh = dst
    if sw * dh > sh * dw:  # source wider: cut the sides
        cw = sh * dw / dh
        left = (sw - cw) / 2
        return (left, 0.0, left + cw, float(sh))
    ch = sw * dh / dw
    top = (sh - ch) / 2
    return (0.0, top, float(sw), top + ch)


def load_init_image(
    source: Source,
    *,
    size: tuple[int, int] | None = None,
    max_pixels: int = MAX_INPUT_PIXELS,
    fit: Fit = "crop",
) -> np.ndarray:
    """Load an img2img init image as ``(H, W, 4) uint8`` RGBA, EXIF orientation applied.

    ``source`` is a path or the file's bytes. With ``size=(W, H)`` the result is exactly that
    size (``fit`` says how, Lanczos). Raises :class:`InvalidParamsError` for anything that is
    not a safe, readable image (see the module docstring).
    """
    rgba, _ = load_init_image_and_size(source, size=size, max_pixels=max_pixels, fit=fit)
    return rgba


def load_init_image_and_size(
    source: Source,
    *,
    size: tuple[int, int] | None = None,
    max_pixels: int = MAX_INPUT_PIXELS,
    fit: Fit = "crop",
) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`load_init_image`, plus the image's own ``(W, H)`` before any resize (EXIF
    orientation applied), from the same single decode - for checking that a mask lines up
    with the original without reading the file twice."""
    from PIL import Image

    target = _check_size(size, "init image") if size is not None else None
    im = _open_decoded(source, max_pixels=max_pixels, what="init image")
    im = _apply_orientation(im)
    rgba = pil_to_rgba(im)
    original = (int(rgba.shape[1]), int(rgba.shape[0]))
    if target is None or original == target:
        return rgba, original
    box = _fit_box(original, target, fit)
    out = Image.fromarray(rgba, "RGBA").resize(target, Image.Resampling.LANCZOS, box=box)
    return np.array(out, dtype=np.uint8), original


_ROWS = 256  # rows per block: big images are converted in blocks to bound the temporaries


def _by_rows(src: np.ndarray, fn: Any) -> np.ndarray:
    """``fn`` applied to blocks of rows of ``src`` into one float32 ``(H, W)`` array: the same
    values as ``fn(src)``, with temporaries the size of one block instead of the whole image
    (a 50 MP mask would otherwise need well over 1 GB on the way)."""
    out = np.empty(src.shape[:2], np.float32)
    for r in range(0, src.shape[0], _ROWS):
        out[r : r + _ROWS] = fn(src[r : r + _ROWS])
    return out


def _mask_from_pil(im: Any) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im)
        return _by_rows(a, lambda b: np.clip(b.astype(np.float64), 0, 65535) / 65535.0)
    if mode == "F":
        a = np.asarray(im, dtype=np.float32)
        if not np.isfinite(a).all():
            raise InvalidParamsError("The mask image holds NaN or infinite values.")
        return np.clip(a / 255.0, 0.0, 1.0).astype(np.float32)
    if mode in ("1", "L"):
        out = np.asarray(im.convert("L")).astype(np.float32)
        out /= np.float32(255.0)
        return out
    rgba = pil_to_rgba(im)
    del im
    return _mask_from_rgba(rgba)


def _mask_from_rgba(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3]
    if (alpha != 255).any():
        out = alpha.astype(np.float32)
        out /= np.float32(255.0)
        return out

    # fully opaque: a black/white mask saved with colour channels -> its luminance (Rec. 601,
    # the weights Pillow's convert("L") uses)
    def lum(block: np.ndarray) -> np.ndarray:
        rgb = block[..., :3].astype(np.float32)
        v = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
        return np.clip(v / 255.0, 0.0, 1.0)

    return _by_rows(rgba, lum)


def _mask_from_array(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.dtype == np.uint8:
        rgba = (
            arr
            if arr.shape[2] == 4
            else np.concatenate([arr, np.full((*arr.shape[:2], 1), 255, np.uint8)], axis=2)
        )
        return _mask_from_rgba(rgba)
    if arr.ndim != 2:
        raise InvalidParamsError(
            f"A mask array must be (H, W) (or (H, W, 3|4) uint8), got shape {arr.shape}."
        )
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InvalidParamsError("The mask array holds NaN or infinite values.")
        lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
        if lo < 0.0 or hi > 1.0:
            raise InvalidParamsError(
                f"A float mask must lie in [0, 1], got values from {lo:g} to {hi:g}."
            )
        return arr.astype(np.float32)
    raise InvalidParamsError(
        f"A mask array must be bool, uint8 or float, got {arr.dtype}.",
        hint="Use True/1.0/255 for the area to repaint.",
    )


def load_mask(
    source: Source | np.ndarray | Any,
    *,
    size: tuple[int, int] | None,
    resize: bool = False,
    invert: bool = False,
    max_pixels: int = MAX_INPUT_PIXELS,
    fit: Fit = "crop",
) -> np.ndarray:
    """Load an inpainting mask as ``(H, W) float32`` in [0, 1]; 1 = repaint.

    ``source``: a path, bytes, a numpy array or a PIL image. ``size=(W, H)`` is the size of the
    image being inpainted: a mask of another size is refused (both sizes in the message) unless
    ``resize=True``, which resizes it with the same ``fit`` as :func:`load_init_image`.
    """
    from PIL import Image

    target = _check_size(size, "mask") if size is not None else None
    if isinstance(source, np.ndarray):
        mask = _mask_from_array(source)
    elif isinstance(source, Image.Image):
        try:
            source.load()
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise InvalidParamsError(f"The mask image cannot be decoded ({e}).") from None
        mask = _mask_from_pil(source)
    else:
        im = _open_decoded(source, max_pixels=max_pixels, what="mask")
        im = _apply_orientation(im)
        mask = _mask_from_pil(im)
    if invert:
        mask = np.float32(1.0) - mask
    if target is None:
        return np.ascontiguousarray(mask, dtype=np.float32)
    h, w = mask.shape
    if (w, h) != target:
        if not resize:
            raise InvalidParamsError(
                f"The mask is {w}x{h} but the image is {target[0]}x{target[1]}.",
                hint="Use a mask of the same size as the image, or allow resizing the mask.",
            )
        box = _fit_box((w, h), target, fit)
        im_f = Image.fromarray(np.ascontiguousarray(mask, dtype=np.float32), "F")
        mask = np.asarray(im_f.resize(target, Image.Resampling.BILINEAR, box=box))
    return np.clip(mask, 0.0, 1.0).astype(np.float32)


def upscale(image: np.ndarray, factor: int, *, method: str = "nearest") -> np.ndarray:
    """Enlarge an ``(H, W, 4|3) uint8`` image by 2 or 4: ``"nearest"`` keeps pixel art crisp
    (every pixel becomes a ``factor x factor`` square, exactly), ``"lanczos"`` for everything
    else (Pillow, premultiplied alpha). The result is limited to :data:`MAX_UPSCALE_PIXELS`
    and :data:`MAX_OUTPUT_SIDE` per side."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4) or 0 in arr.shape:
        raise InvalidParamsError(
            f"upscale needs an (H, W, 3|4) uint8 image, got {arr.dtype} {arr.shape}."
        )
    if isinstance(factor, bool) or factor not in (2, 4):
        raise InvalidParamsError(f"The upscale factor must be 2 or 4, got {factor!r}.")
    if method not in ("nearest", "lanczos"):
        raise InvalidParamsError(
            f"The upscale method must be 'nearest' or 'lanczos', got {method!r}.",
            hint="Use 'nearest' for pixel art and 'lanczos' for everything else.",
        )
    h, w = arr.shape[:2]
    oh, ow = h * factor, w * factor
    if ow > MAX_OUTPUT_SIDE or oh > MAX_OUTPUT_SIDE or ow * oh > MAX_UPSCALE_PIXELS:
        raise InvalidParamsError(
            f"Upscaling {w}x{h} by {factor} gives {ow}x{oh}, more than the limit "
            f"({MAX_OUTPUT_SIDE} per side, {MAX_UPSCALE_PIXELS:,} pixels).",
            hint="Use a smaller factor or a smaller image.",
        )
    if method == "nearest":
        return np.repeat(np.repeat(arr, factor, axis=0), factor, axis=1)
    mode = "RGBA" if arr.shape[2] == 4 else "RGB"
    out = Image.fromarray(np.ascontiguousarray(arr), mode).resize(
        (ow, oh), Image.Resampling.LANCZOS
    )
    return np.array(out, dtype=np.uint8)
