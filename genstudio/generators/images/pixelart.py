"""Turn an image into pixel art: a small grid, hard alpha, a few colours. numpy only.

:func:`pixelate` runs these steps; every one is integer or exactly-representable arithmetic
after the colour conversion, so the same input and settings give the same bytes every time.

1. **Grid.** ``grid`` is the long side in pixels; the short side keeps the aspect ratio
   (``round(short * grid / long)``, at least 1).
2. **Sub-cells.** The source is box-averaged (premultiplied alpha, integer sums, then
   un-premultiplied) to ``s x s`` sub-cells per grid cell (``s`` = 4 up to a 128 grid, 2 above,
   fewer when the source is small). Transparent pixels therefore never tint their neighbours.
3. **Binary alpha.** A cell is opaque when its mean alpha is ``>= alpha_threshold``; alpha is
   0 or 255, transparent cells are ``(0, 0, 0, 0)``.
4. **Palette.** Either fitted to the opaque sub-cells (their distinct colours, weighted by
   count) or the user's palette, or both (``colors`` colours fitted, then each snapped to its
   nearest user colour). Colours are compared in **OKLab** (Ottosson 2020), rounded to an
   integer grid of 1/4096, so distances and means after that are exact integers:

   * ``method="kmeans"``: k-means++ seeding (Arthur & Vassilvitskii 2007; D^2 sampling from a
     fixed-seed PCG64, integer weights) then Lloyd iterations until no colour changes cluster
     (at most 24). k-means++ keeps small but distinct details (eyes, gems) that a
     volume-driven split tends to merge away.
   * ``method="median_cut"``: Heckbert's median cut - the box with the largest weighted
     squared error along its widest OKLab axis is split at its weighted median - then one
     nearest-centre pass. Faster at 256 colours, flatter results.

   An image with no more distinct colours than ``colors`` keeps them exactly.
   More than 8192 distinct colours are first merged into OKLab bins (1/256 to 1/32 per axis,
   the finest that leaves at most 8192; a bin is its weighted mean) for the fit only; every
   colour is then mapped to its nearest palette colour with its exact value. This bounds the
   fit's cost by the bin count, not the image size.
5. **Downscale by majority (mode) vote.** Each sub-cell takes its nearest palette colour and
   every opaque cell takes the colour that covers most of its opaque sub-cells (ties: the
   lower palette index). Voting *after* quantising, rather than averaging colours, is what
   keeps edges crisp: the area average of a red/green edge is a brown that is in neither
   region and becomes a halo of a third palette colour; the vote picks red or green.
   ``downscale="mean"`` (area average, then nearest colour) is kept for soft sources where
   thin lines matter more than clean edges.
6. **Cleanup** (``cleanup=True``), all decided on the grid before the step, so the result does
   not depend on scan order: opaque pixels with no opaque 8-neighbour become transparent;
   transparent pixels whose 8 neighbours are all opaque are filled with their most common
   neighbour colour; *speckles* - an opaque pixel whose colour none of its 8 neighbours has,
   where at least 5 of the 8 share one colour that is within :data:`SPECKLE_MAX_DELTA_E` (OKLab)
   of it - take that colour. High-contrast single pixels (an eye, a highlight) stay.
7. **Outline** (``outline=True``): every transparent pixel 4-adjacent to the silhouette is
   painted in the darkest palette colour (lowest OKLab L). The outline is drawn *outside* the
   silhouette within the grid, so an image that is opaque to its borders gets none.

The result carries the grid (``(h, w, 4) uint8``), its palette, per-pixel palette indices, an
optional nearest-neighbour enlargement for display, and metrics measured on the final pixels
(share of opaque pixels whose colour is in the palette, share of alpha values in {0, 255}).

Palette files are not read here: :func:`genstudio.generators.palettes.read_palette`
reads every format (GIMP ``.gpl``, ``.hex``, JASC and RIFF ``.pal``, palette images, with one
file-size guard) into the ``(N, 3) uint8`` array that ``palette=`` takes.

Cross-machine note: the sRGB -> OKLab conversion is float64 (a cube root); it is rounded to
integers before use, so only a colour sitting exactly on a rounding boundary could differ
between two CPUs' ``cbrt``. Everything after that is exact.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError

#: OKLab coordinates are stored as integers in units of 1/_LAB_SCALE.
_LAB_SCALE = 4096
#: A speckle is merged into its surroundings only when the two colours are this close (OKLab
#: Euclidean, 1.0 = black to white lightness).
SPECKLE_MAX_DELTA_E = 0.1
#: Largest input pixelate accepts (pixels).
MAX_PIXELATE_PIXELS = 50_000_000
#: Largest side of the nearest-neighbour display enlargement.
MAX_DISPLAY_SIDE = 8192
_KMEANS_SEED = 0x5EED
_KMEANS_MAX_ITER = 24
_FIT_POINTS = 8192
_ROW_CHUNK_PIXELS = 1 << 20

Palette = Sequence[Sequence[int]] | np.ndarray


# --- colour space --------------------------------------------------------------------------

_SRGB_TO_LINEAR = np.where(
    (np.arange(256) / 255.0) <= 0.04045,
    (np.arange(256) / 255.0) / 12.92,
    (((np.arange(256) / 255.0) + 0.055) / 1.055) ** 2.4,
)
_M1 = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_M2 = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_M2_INV = np.array(
    [
        [1.0, 0.3963377774, 0.2158037573],
        [1.0, -0.1055613458, -0.0638541728],
        [1.0, -0.0894841775, -1.2914855480],
    ]
)
_M1_INV = np.array(
    [
        [4.0767416621, -3.3077115913, 0.2309699292],
        [-1.2684380046, 2.6097574011, -0.3413193965],
        [-0.0041960863, -0.7034186147, 1.7076147010],
    ]
)


def srgb_to_oklab_int(rgb: np.ndarray) -> np.ndarray:
    """``(N, 3) uint8`` sRGB -> ``(N, 3) int64`` OKLab in units of 1/4096."""
    lin = _SRGB_TO_LINEAR[np.asarray(rgb, dtype=np.intp)]
    # explicit sums instead of a matmul: the summation order is fixed
    lms = np.cbrt(lin[:, 0:1] * _M1[:, 0] + lin[:, 1:2] * _M1[:, 1] + lin[:, 2:3] * _M1[:, 2])
    lab = lms[:, 0:1] * _M2[:, 0] + lms[:, 1:2] * _M2[:, 1] + lms[:, 2:3] * _M2[:, 2]
    return np.rint(lab * _LAB_SCALE).astype(np.int64)


def oklab_int_to_srgb(lab: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_to_oklab_int`, clipped to the sRGB gamut, ``(N, 3) uint8``."""
    lab = np.asarray(lab, dtype=np.float64) / _LAB_SCALE
    lms = lab[:, 0:1] * _M2_INV[:, 0] + lab[:, 1:2] * _M2_INV[:, 1] + lab[:, 2:3] * _M2_INV[:, 2]
    lms = lms**3
    lin = lms[:, 0:1] * _M1_INV[:, 0] + lms[:, 1:2] * _M1_INV[:, 1] + lms[:, 2:3] * _M1_INV[:, 2]
    lin = np.clip(lin, 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


# --- exact nearest centre / weighted means ---------------------------------------------------


def _nearest(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``c`` for each row of ``x`` (int64 OKLab; ties: lowest).

    |c|^2 - 2 x.c (|x|^2 does not change the argmin) in float64: every term is an integer
    below 2^53, so the result is exact. Broadcast products rather than a BLAS matmul: with
    k <= 256 and 3 channels they are faster and never start a thread pool."""
    cf = c.astype(np.float64)
    c2 = (cf * cf).sum(1)
    out = np.empty(len(x), np.int64)
    step = max(1, (1 << 20) // max(len(c), 1))  # bound each (rows, k) temporary to 8 MB
    for i in range(0, len(x), step):
        xf = x[i : i + step].astype(np.float64)
        dot = xf[:, 0:1] * cf[:, 0] + xf[:, 1:2] * cf[:, 1] + xf[:, 2:3] * cf[:, 2]
        out[i : i + step] = (c2 - 2.0 * dot).argmin(axis=1)
    return out


def _bin_points(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge colours into OKLab bins (of 1/256 up to 1/32 per axis, the finest that leaves at
    most :data:`_FIT_POINTS`) for fitting; each bin is its weighted mean. Small sets stay."""
    if len(x) <= _FIT_POINTS:
        return x, w
    for shift in (4, 5, 6, 7):
        q = (x >> shift) + (1 << (13 - shift))  # non-negative: |a|, |b| < 4096
        key = (q[:, 0] << 32) | (q[:, 1] << 16) | q[:, 2]
        uniq, inv = np.unique(key, return_inverse=True)
        if len(uniq) <= _FIT_POINTS:
            break
    inv = inv.reshape(-1)
    means, wsum = _wmeans(x, w, inv, len(uniq))
    return means, wsum


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = x - c
    return (d * d).sum(-1)


def _wmeans(x: np.ndarray, w: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Rounded weighted means per label (int64) and the label weights."""
    wsum = np.bincount(labels, weights=w, minlength=k).astype(np.int64)
    sums = np.stack(
        [np.bincount(labels, weights=w * x[:, j], minlength=k) for j in range(3)], axis=1
    ).astype(np.int64)  # exact: integer sums far below 2^53
    safe = np.maximum(wsum, 1)[:, None]
    return (2 * sums + safe) // (2 * safe), wsum


def _kmeans(x: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Weighted k-means++ then Lloyd on int64 OKLab points; returns the centres (k', 3)."""
    rng = np.random.Generator(np.random.PCG64(_KMEANS_SEED))
    first = int(np.argmax(w))  # the most common colour, not a random one
    centres = [x[first]]
    d2 = _sq_dist(x, x[first])
    for _ in range(1, k):
        p = d2 * w
        total = int(p.sum())
        if total <= 0:
            break
        r = int(rng.integers(0, total))
        i = int(np.searchsorted(np.cumsum(p), r, side="right"))
        centres.append(x[i])
        d2 = np.minimum(d2, _sq_dist(x, x[i]))
    c = np.array(centres, dtype=np.int64)
    labels = _nearest(x, c)
    for _ in range(_KMEANS_MAX_ITER):
        means, wsum = _wmeans(x, w, labels, len(c))
        c = np.where(wsum[:, None] > 0, means, c)  # an emptied cluster keeps its centre
        new = _nearest(x, c)
        if np.array_equal(new, labels):
            break
        labels = new
    return c


def _median_cut(x: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Heckbert's median cut on int64 OKLab points weighted by ``w``; returns box means."""

    def score(idx: np.ndarray) -> tuple[int, int]:
        if len(idx) < 2:
            return -1, 0
        pts, ww = x[idx], w[idx]
        tot = int(ww.sum())
        mean2 = (pts * ww[:, None]).sum(0) * 2 // (2 * tot)
        sse = (((pts - mean2) ** 2) * ww[:, None]).sum(0)
        axis = int(np.argmax(sse))
        return int(sse[axis]), axis

    boxes = [(np.arange(len(x)), *score(np.arange(len(x))))]
    while len(boxes) < k:
        best = max(range(len(boxes)), key=lambda b: (boxes[b][1], -b))
        idx, s, axis = boxes[best]
        if s <= 0:
            break
        idx = idx[np.lexsort((idx, x[idx, axis]))]
        cum = np.cumsum(w[idx])
        cut = int(np.searchsorted(cum, (int(cum[-1]) + 1) // 2, side="left")) + 1
        cut = min(max(cut, 1), len(idx) - 1)
        lo, hi = idx[:cut], idx[cut:]
        boxes[best : best + 1] = [(lo, *score(lo)), (hi, *score(hi))]
    labels = np.empty(len(x), np.int64)
    for b, (idx, _, _) in enumerate(boxes):
        labels[idx] = b
    means, _ = _wmeans(x, w, labels, len(boxes))
    return means


# --- palettes ------------------------------------------------------------------------------


def _as_palette(palette: Palette) -> np.ndarray:
    try:
        arr = np.asarray(palette)
        ok = arr.ndim == 2 and arr.shape[1] == 3 and np.issubdtype(arr.dtype, np.integer)
    except (TypeError, ValueError):
        ok = False
    if not ok or not 1 <= len(arr) <= 256 or arr.min() < 0 or arr.max() > 255:
        raise InvalidParamsError(
            "A palette must be 1 to 256 (r, g, b) colours with values 0..255.",
            hint="Load one with palettes.read_palette(), or pass a list of (r, g, b) tuples.",
        )
    _, first = np.unique(arr.astype(np.int64) @ np.array([65536, 256, 1]), return_index=True)
    return arr[np.sort(first)].astype(np.uint8)  # distinct, first occurrence kept


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PixelArtMetrics:
    """Measured on the final pixels, not assumed from the construction."""

    palette_share: float  # opaque pixels whose RGB is a palette colour (1.0 when none)
    binary_alpha_share: float  # pixels whose alpha is 0 or 255
    colors_used: int  # distinct opaque colours
    opaque_share: float
    grid: tuple[int, int]  # (width, height)


@dataclass(frozen=True)
class PixelArtResult:
    """The pixel grid and what it was drawn from.

    ``image``: ``(h, w, 4) uint8`` RGBA, alpha 0/255; ``palette``: ``(N, 3) uint8`` - the user's
    palette as given (distinct, in order) or the fitted colours that are used, darkest first;
    ``indices``: ``(h, w) int16`` index into ``palette``, -1 = transparent; ``display``: the
    grid enlarged ``scale`` times by nearest neighbour, or None."""

    image: np.ndarray
    palette: np.ndarray
    indices: np.ndarray
    metrics: PixelArtMetrics
    display: np.ndarray | None = None

    def to_png_bytes(self, *, display: bool = False) -> bytes:
        from PIL import Image

        px = self.display if display and self.display is not None else self.image
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(px), "RGBA").save(buf, "PNG", optimize=False)
        return buf.getvalue()


def measure(image: np.ndarray, palette: np.ndarray) -> PixelArtMetrics:
    """Palette share and binary-alpha share of an RGBA image, measured pixel by pixel."""
    img = np.asarray(image)
    flat = img.reshape(-1, 4)
    opaque = flat[:, 3] > 0
    keys = flat[opaque, :3].astype(np.int64) @ np.array([65536, 256, 1])
    pal = np.asarray(palette).reshape(-1, 3).astype(np.int64) @ np.array([65536, 256, 1])
    n_op = int(opaque.sum())
    in_pal = int(np.isin(keys, pal).sum())
    binary = int(((flat[:, 3] == 0) | (flat[:, 3] == 255)).sum())
    return PixelArtMetrics(
        palette_share=in_pal / n_op if n_op else 1.0,
        binary_alpha_share=binary / len(flat) if len(flat) else 1.0,
        colors_used=int(len(np.unique(keys))),
        opaque_share=n_op / len(flat) if len(flat) else 0.0,
        grid=(int(img.shape[1]), int(img.shape[0])),
    )


# --- the pipeline --------------------------------------------------------------------------


def _to_rgba(image: Any) -> np.ndarray:
    from PIL import Image

    if isinstance(image, Image.Image):
        from genstudio.generators.images.imageio import pil_to_rgba

        w, h = image.size
        if w * h > MAX_PIXELATE_PIXELS:
            raise InvalidParamsError(f"The image is {w}x{h}, too large to pixelate.")
        return pil_to_rgba(image)
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4) or 0 in arr.shape:
        raise InvalidParamsError(
            f"pixelate needs an (H, W, 4) uint8 RGBA array or a PIL image, got "
            f"{arr.dtype} {arr.shape}."
        )
    if arr.shape[0] * arr.shape[1] > MAX_PIXELATE_PIXELS:
        raise InvalidParamsError(f"The image is {arr.shape[1]}x{arr.shape[0]}, too large.")
    if arr.shape[2] == 3:
        arr = np.concatenate([arr, np.full((*arr.shape[:2], 1), 255, np.uint8)], axis=2)
    return arr


def _int_param(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise InvalidParamsError(f"{name} must be a whole number {lo}..{hi}, got {value!r}.")
    return int(value)


def _edges(n_src: int, n_dst: int) -> np.ndarray:
    return (np.arange(n_dst + 1, dtype=np.int64) * n_src) // n_dst


def _box_reduce(rgba: np.ndarray, sh: int, sw: int) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied box average of ``rgba`` (H >= sh, W >= sw) to ``(sh, sw)``: returns
    (rgb uint8 un-premultiplied, alpha uint8), both rounded to nearest, in row chunks."""
    h, w = rgba.shape[:2]
    ye, xe = _edges(h, sh), _edges(w, sw)
    xcount = np.diff(xe)
    rows_per_chunk = max(1, _ROW_CHUNK_PIXELS // max(w, 1))
    rgb_out = np.empty((sh, sw, 3), np.uint8)
    a_out = np.empty((sh, sw), np.uint8)
    r0 = 0
    while r0 < sh:
        r1 = r0 + 1
        while r1 < sh and ye[r1 + 1] - ye[r0] <= rows_per_chunk:
            r1 += 1
        block = rgba[ye[r0] : ye[r1]]
        prem = np.empty(block.shape, np.uint32)  # rgb * a <= 65025, a
        np.multiply(block[..., :3], block[..., 3:4], out=prem[..., :3], dtype=np.uint32)
        prem[..., 3] = block[..., 3]
        s = np.add.reduceat(prem, ye[r0:r1] - ye[r0], axis=0, dtype=np.int64)
        s = np.add.reduceat(s, xe[:-1], axis=1)  # (r1 - r0, sw, 4): sum(rgb * a), sum(a)
        count = np.diff(ye[r0 : r1 + 1])[:, None] * xcount[None, :]
        asum = s[..., 3]
        a_out[r0:r1] = (2 * asum + count) // (2 * count)
        den = np.maximum(asum, 1)[..., None]
        rgb_out[r0:r1] = np.where(asum[..., None] > 0, (2 * s[..., :3] + den) // (2 * den), 0)
        r0 = r1
    return rgb_out, a_out


def _neighbour_stack(lab: np.ndarray, fill: int) -> np.ndarray:
    """(8, h, w) labels of the 8 neighbours (``fill`` outside the grid)."""
    p = np.pad(lab, 1, constant_values=fill)
    h, w = lab.shape
    return np.stack(
        [p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3) if (dy, dx) != (1, 1)]
    )


def _neighbour_mode(nb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (8, n) neighbour labels (-1 = transparent): the most common opaque label (ties: the
    lowest) and its count; -1/0 where all are transparent."""
    counts = (nb[:, None, :] == nb[None, :, :]).sum(axis=1)  # (8, n): how often each occurs
    counts = np.where(nb >= 0, counts, -1)
    key = counts.astype(np.int64) * 1024 - nb  # more votes first, then the lower label
    j = key.argmax(axis=0)
    cols = np.arange(nb.shape[1])
    return nb[j, cols], np.maximum(counts[j, cols], 0)


def _cleanup(lab: np.ndarray, pal_lab: np.ndarray) -> np.ndarray:
    out = lab.copy()
    nb = _neighbour_stack(lab, -1)
    opaque = lab >= 0
    n_opaque = (nb >= 0).sum(0)
    out[opaque & (n_opaque == 0)] = -1  # lonely pixels
    holes = ~opaque & (n_opaque == 8)
    isolated = opaque & (n_opaque > 0) & ~(nb == lab[None]).any(0)
    for sel, need in ((holes, 1), (isolated, 5)):
        ys, xs = np.nonzero(sel)
        if not len(ys):
            continue
        mode, cnt = _neighbour_mode(nb[:, ys, xs])
        ok = cnt >= need
        if need > 1:  # speckles: only near shades merge
            limit = (SPECKLE_MAX_DELTA_E * _LAB_SCALE) ** 2
            ok &= _sq_dist(pal_lab[lab[ys, xs]], pal_lab[np.maximum(mode, 0)]) <= limit
        out[ys[ok], xs[ok]] = mode[ok]
    return out


def _outline(lab: np.ndarray, index: int) -> np.ndarray:
    solid = np.pad(lab >= 0, 1)
    ring = ~solid[1:-1, 1:-1] & (
        solid[:-2, 1:-1] | solid[2:, 1:-1] | solid[1:-1, :-2] | solid[1:-1, 2:]
    )
    out = lab.copy()
    out[ring] = index
    return out


def pixelate(
    image: Any,
    *,
    grid: int = 64,
    colors: int | None = 16,
    palette: Palette | None = None,
    outline: bool = False,
    cleanup: bool = True,
    alpha_threshold: int = 128,
    scale: int | None = None,
    method: str = "kmeans",
    downscale: str = "mode",
) -> PixelArtResult:
    """Pixel art from an ``(H, W, 4|3) uint8`` array or a PIL image (see the module docstring).

    ``grid``: long side of the result, 8..256. ``colors``: 2..256 colours fitted to the image,
    or None to use all of ``palette``. ``palette``: a user palette (1..256 ``(r, g, b)``); with
    ``colors`` too, at most ``colors`` of its colours are used. ``scale``: also return the grid
    enlarged by this whole factor (nearest) as ``display``.
    """
    rgba = _to_rgba(image)
    grid = _int_param(grid, "grid", 8, 256)
    alpha_threshold = _int_param(alpha_threshold, "alpha_threshold", 1, 255)
    if colors is not None:
        colors = _int_param(colors, "colors", 2, 256)
    user = _as_palette(palette) if palette is not None else None
    if colors is None and user is None:
        raise InvalidParamsError(
            "Pixel art needs a number of colours or a palette.",
            hint="Set colors (2..256) or load a palette file.",
        )
    if method not in ("kmeans", "median_cut"):
        raise InvalidParamsError(f"method must be 'kmeans' or 'median_cut', got {method!r}.")
    if downscale not in ("mode", "mean"):
        raise InvalidParamsError(f"downscale must be 'mode' or 'mean', got {downscale!r}.")

    h, w = rgba.shape[:2]
    if w >= h:
        gw, gh = grid, max(1, round(h * grid / w))
    else:
        gw, gh = max(1, round(w * grid / h)), grid
    if scale is not None:
        scale = _int_param(scale, "scale", 1, 64)
        if max(gw, gh) * scale > MAX_DISPLAY_SIDE:
            raise InvalidParamsError(
                f"A {gw}x{gh} grid enlarged {scale} times is larger than {MAX_DISPLAY_SIDE} px.",
                hint="Use a smaller scale.",
            )
    s = max(1, min(h // gh, w // gw, 4 if grid <= 128 else 2))
    sh, sw = gh * s, gw * s
    if h < sh or w < sw:  # a source smaller than the grid: nearest-enlarge it first
        f = max(-(-sh // h), -(-sw // w))
        rgba = np.repeat(np.repeat(rgba, f, axis=0), f, axis=1)

    sub_rgb, sub_a = _box_reduce(rgba, sh, sw)  # (sh, sw, 3), (sh, sw)
    # cell alpha = mean of its sub-cell alphas (equal areas), thresholded
    cell_a = sub_a.reshape(gh, s, gw, s).astype(np.int64).sum(axis=(1, 3))
    cell_opaque = cell_a >= alpha_threshold * s * s
    sub_opaque = sub_a >= alpha_threshold

    # distinct opaque sub-cell colours (the fitting set), and the inverse for voting
    keys = sub_rgb.reshape(-1, 3).astype(np.int64) @ np.array([65536, 256, 1])
    op_flat = sub_opaque.reshape(-1)
    uniq, inv, counts = np.unique(keys[op_flat], return_inverse=True, return_counts=True)
    uniq_rgb = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1).astype(np.uint8)
    uniq_lab = srgb_to_oklab_int(uniq_rgb)

    # the palette (centres in OKLab) and each distinct colour's palette index
    if len(uniq) == 0:
        pal_rgb = user if user is not None else np.zeros((0, 3), np.uint8)
    elif user is not None and colors is None:
        pal_rgb = user
    else:
        k = colors if colors is not None else len(user)  # type: ignore[arg-type]
        if len(uniq) <= k:
            centres = uniq_lab
        else:
            fit_x, fit_w = _bin_points(uniq_lab, counts.astype(np.int64))
            quantise = _kmeans if method == "kmeans" else _median_cut
            centres = quantise(fit_x, fit_w, k)
        if user is not None:  # snap the fitted colours to the user's palette
            pick = np.unique(_nearest(centres, srgb_to_oklab_int(user)))
            pal_rgb = user[pick]
        elif centres is uniq_lab:
            pal_rgb = uniq_rgb
        else:
            pal_rgb = oklab_int_to_srgb(centres)
        pal_keys = pal_rgb.astype(np.int64) @ np.array([65536, 256, 1])
        _, first = np.unique(pal_keys, return_index=True)
        pal_rgb = pal_rgb[np.sort(first)]
    pal_lab = srgb_to_oklab_int(pal_rgb) if len(pal_rgb) else np.zeros((0, 3), np.int64)

    lab = np.full((gh, gw), -1, np.int64)
    if len(uniq) and len(pal_rgb):
        uniq_idx = _nearest(uniq_lab, pal_lab)
        ys, xs = np.nonzero(cell_opaque)
        if downscale == "mode":
            sub_idx = np.full(sh * sw, -1, np.int64)
            sub_idx[op_flat] = uniq_idx[inv.reshape(-1)]
            cell_id = (np.arange(sh)[:, None] // s) * gw + (np.arange(sw)[None, :] // s)
            ok = sub_idx >= 0
            k_pal = len(pal_rgb)
            vote_keys, votes = np.unique(
                cell_id.reshape(-1)[ok] * k_pal + sub_idx[ok], return_counts=True
            )
            cells, labels = vote_keys // k_pal, vote_keys % k_pal
            order = np.lexsort((labels, -votes, cells))  # per cell: most votes, lower index
            cells, labels = cells[order], labels[order]
            first = np.ones(len(cells), bool)
            first[1:] = cells[1:] != cells[:-1]
            winner = np.full(gh * gw, -1, np.int64)
            winner[cells[first]] = labels[first]
            lab[ys, xs] = winner.reshape(gh, gw)[ys, xs]
        else:
            mean_rgb, _ = _box_reduce(np.concatenate([sub_rgb, sub_a[..., None]], axis=2), gh, gw)
            lab[ys, xs] = _nearest(srgb_to_oklab_int(mean_rgb[ys, xs]), pal_lab)

    if cleanup and len(pal_rgb):
        lab = _cleanup(lab, pal_lab)
    if outline and len(pal_rgb):
        darkest = int(np.lexsort((np.arange(len(pal_lab)), pal_lab[:, 0]))[0])
        lab = _outline(lab, darkest)

    if user is None or colors is not None:
        # fitted (or picked) colours: keep the used ones, darkest first
        used = np.unique(lab[lab >= 0])
        order = used[np.lexsort((used, pal_lab[used, 0]))]
        remap = np.full(max(len(pal_rgb), 1), -1, np.int64)
        remap[order] = np.arange(len(order))
        lab = np.where(lab >= 0, remap[np.maximum(lab, 0)], -1)
        pal_rgb = pal_rgb[order]

    img = np.zeros((gh, gw, 4), np.uint8)
    solid = lab >= 0
    img[solid, :3] = pal_rgb[lab[solid]]
    img[solid, 3] = 255
    pal_out = np.ascontiguousarray(pal_rgb, dtype=np.uint8).reshape(-1, 3)
    display = None
    if scale is not None:
        display = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    return PixelArtResult(
        image=img,
        palette=pal_out,
        indices=lab.astype(np.int16),
        metrics=measure(img, pal_out),
        display=display,
    )
