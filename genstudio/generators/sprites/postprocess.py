"""Pixel post-processing for sprite sheets: deterministic, integer numpy, whole-sheet at once.

Works on any ``(..., H, W, 4) uint8`` RGBA array (one frame, a ``(D, F, H, W, 4)`` sheet, or a
batch); every step treats the frames of a sheet *jointly* (one palette for all frames) and
*separately* for neighbourhoods (an outline never crosses from one frame into the next).

Steps (in the order :func:`clean_sheet` applies them):

1. :func:`binary_alpha` - alpha becomes 0 or 255 (threshold), transparent pixels get RGB 0;
2. :func:`remove_strays` - opaque pixels with no opaque 8-neighbour (or 4-neighbour) go;
3. :func:`add_outline` - optional 1-px outline of one colour around every silhouette;
4. :func:`limit_palette` - at most ``k`` colours: median cut over the distinct colours of all
   frames (weighted by pixel count), refined by a few integer k-means steps;
5. :func:`lock_palette` - every colour replaced by its nearest colour of a user palette.

Colour distance is the integer weighted RGB distance ``2 dR^2 + 4 dG^2 + 3 dB^2``; ties go to
the lowest palette index, so results are byte-identical on every machine.
"""

from __future__ import annotations

import numpy as np

from genstudio.core.errors import InvalidParamsError

_W = np.array([2, 4, 3], dtype=np.int64)


def _check(px: np.ndarray) -> np.ndarray:
    px = np.asarray(px)
    if px.dtype != np.uint8 or px.ndim < 3 or px.shape[-1] != 4:
        raise InvalidParamsError(
            f"Expected RGBA uint8 pixels (..., H, W, 4), got {px.dtype} {px.shape}."
        )
    return px


def binary_alpha(px: np.ndarray, threshold: int = 128) -> np.ndarray:
    """Alpha >= threshold -> 255, else 0 (with RGB 0)."""
    px = _check(px)
    if not 1 <= int(threshold) <= 255:
        raise InvalidParamsError(f"Alpha threshold must be 1..255, got {threshold}.")
    out = px.copy()
    on = out[..., 3] >= threshold
    out[..., 3] = np.where(on, 255, 0).astype(np.uint8)
    out[~on] = 0
    return out


def _neighbours(mask: np.ndarray, diagonal: bool) -> np.ndarray:
    """Number of set neighbours of every cell of ``mask`` (..., H, W), within each frame."""
    p = np.pad(mask.astype(np.uint8), [(0, 0)] * (mask.ndim - 2) + [(1, 1), (1, 1)])
    n = p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]
    if diagonal:
        n = n + p[..., :-2, :-2] + p[..., :-2, 2:] + p[..., 2:, :-2] + p[..., 2:, 2:]
    return n


def remove_strays(px: np.ndarray, *, connectivity: int = 8) -> np.ndarray:
    """Make opaque pixels that have no opaque neighbour (4- or 8-connectivity) transparent."""
    px = _check(px)
    if connectivity not in (4, 8):
        raise InvalidParamsError("Stray-pixel connectivity must be 4 or 8.")
    solid = px[..., 3] >= 128
    lonely = solid & (_neighbours(solid, connectivity == 8) == 0)
    out = px.copy()
    out[lonely] = 0
    return out


def parse_color(color: str | tuple[int, int, int] | list[int]) -> tuple[int, int, int]:
    """'#rrggbb' / 'rrggbb' / (r, g, b) -> (r, g, b)."""
    if isinstance(color, str):
        s = color.strip().lstrip("#")
        if len(s) != 6 or any(c not in "0123456789abcdefABCDEF" for c in s):
            raise InvalidParamsError(f"Colour {color!r} is not '#rrggbb'.")
        return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)
    vals = tuple(int(v) for v in color)
    if len(vals) != 3 or not all(0 <= v <= 255 for v in vals):
        raise InvalidParamsError(f"Colour {color!r} is not three values 0..255.")
    return vals  # type: ignore[return-value]


def add_outline(
    px: np.ndarray, color: str | tuple[int, int, int] = "#1c1421", *, diagonal: bool = False
) -> np.ndarray:
    """Paint transparent pixels that touch an opaque one (4-neighbours, or 8 with
    ``diagonal``) in ``color``. The outline stays inside each frame."""
    px = _check(px)
    rgb = parse_color(color)
    solid = px[..., 3] >= 128
    ring = ~solid & (_neighbours(solid, diagonal) > 0)
    out = px.copy()
    out[ring] = (*rgb, 255)
    return out


def _opaque_colours(px: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct colours (N, 3) int64 sorted, counts (N,), inverse for the opaque pixels)."""
    flat = px.reshape(-1, 4)
    solid = flat[:, 3] >= 128
    rgb = flat[solid, :3].astype(np.int64)
    keys = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    uniq, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    cols = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1)
    return cols, counts.astype(np.int64), inv


def count_colors(px: np.ndarray) -> int:
    """Distinct opaque colours (alpha >= 128)."""
    return int(len(_opaque_colours(_check(px))[0]))


def nearest(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour for each colour (ties: lowest index)."""
    c = np.asarray(colours, np.int64)[:, None, :]
    p = np.asarray(palette, np.int64)[None, :, :]
    d = (((c - p) ** 2) * _W).sum(-1)
    return d.argmin(axis=1)


def _wmean(cols: np.ndarray, w: np.ndarray) -> np.ndarray:
    tot = int(w.sum())
    return ((cols * w[:, None]).sum(0) + tot // 2) // tot


def median_cut(colours: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """Median cut of distinct ``colours`` weighted by ``counts`` into at most ``k`` colours."""
    boxes = [np.arange(len(colours))]
    while len(boxes) < k:
        best, best_score, best_ch = -1, -1, 0
        for bi, idx in enumerate(boxes):
            if len(idx) < 2:
                continue
            c = colours[idx]
            rng = (c.max(0) - c.min(0)) * np.array([2, 4, 3])
            ch = int(rng.argmax())
            score = int(rng[ch]) * int(counts[idx].sum())
            if score > best_score:
                best, best_score, best_ch = bi, score, ch
        if best < 0 or best_score == 0:
            break
        idx = boxes.pop(best)
        order = np.lexsort((idx, colours[idx, best_ch]))  # stable: value, then index
        idx = idx[order]
        cum = np.cumsum(counts[idx])
        cut = int(np.searchsorted(cum, cum[-1] / 2.0))
        cut = min(max(cut + 1, 1), len(idx) - 1)
        boxes.insert(best, idx[cut:])
        boxes.insert(best, idx[:cut])
    return np.array([_wmean(colours[b], counts[b]) for b in boxes], dtype=np.int64)


def quantize_colours(colours: np.ndarray, counts: np.ndarray, k: int, iters: int = 4):
    """(palette (k', 3) int64, assignment (N,)) for the distinct colours; k' <= k."""
    pal = median_cut(colours, counts, k)
    for _ in range(iters):
        a = nearest(colours, pal)
        new = pal.copy()
        for j in range(len(pal)):
            sel = a == j
            if sel.any():
                new[j] = _wmean(colours[sel], counts[sel])
        if np.array_equal(new, pal):
            break
        pal = new
    a = nearest(colours, pal)
    return pal, a


def limit_palette(px: np.ndarray, k: int) -> np.ndarray:
    """At most ``k`` opaque colours over the whole array (all frames jointly)."""
    px = _check(px)
    if not 1 <= int(k) <= 256:
        raise InvalidParamsError(f"Palette limit must be 1..256 colours, got {k}.")
    cols, counts, inv = _opaque_colours(px)
    if len(cols) <= k:
        return px.copy()
    pal, a = quantize_colours(cols, counts, int(k))
    out = px.copy()
    flat = out.reshape(-1, 4)
    solid = flat[:, 3] >= 128
    flat[solid, :3] = pal[a[inv]].astype(np.uint8)
    return out


def lock_palette(px: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Replace every opaque colour by its nearest colour in ``palette`` (N, 3)."""
    px = _check(px)
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] < 3 or not 1 <= len(palette) <= 256:
        raise InvalidParamsError("A palette must hold 1..256 RGB colours.")
    palette = palette[:, :3].astype(np.int64)
    cols, _, inv = _opaque_colours(px)
    out = px.copy()
    if len(cols) == 0:
        return out
    a = nearest(cols, palette)
    flat = out.reshape(-1, 4)
    solid = flat[:, 3] >= 128
    flat[solid, :3] = palette[a[inv]].astype(np.uint8)
    return out


def clean_sheet(
    sheet: np.ndarray,
    *,
    colors: int = 0,
    palette: np.ndarray | None = None,
    alpha_threshold: int = 128,
    outline: str | tuple[int, int, int] | None = None,
    strays: bool = True,
) -> np.ndarray:
    """The full chain: binary alpha, stray removal, optional outline, palette limit (``colors``
    > 0) and/or lock to ``palette``. With both, ``colors`` colours are chosen first and then
    snapped to the user palette, so the result has <= ``colors`` colours, all from it."""
    out = binary_alpha(sheet, alpha_threshold)
    if strays:
        out = remove_strays(out)
    if outline is not None:
        out = add_outline(out, outline)
    if colors:
        out = limit_palette(out, colors)
    if palette is not None:
        out = lock_palette(out, palette)
    return out


#: the ground shadow's colour (opaque: sprites keep binary alpha) and its rows' half-widths,
#: bottom row last, for a 32-px frame whose feet stand on the last row
SHADOW_RGB = (46, 42, 60)
_SHADOW_HALF_WIDTHS = (5, 7, 6)


def ground_shadow(sheet: np.ndarray) -> np.ndarray:
    """A flat oval shadow under the feet of every frame of a native (.., 32, 32, 4) sheet,
    drawn only where the frame is transparent (behind the character)."""
    out = _check(sheet).copy()
    size = out.shape[-2]
    centre = size / 2 - 0.5
    xs = np.arange(size)
    rows = len(_SHADOW_HALF_WIDTHS)
    for k, half in enumerate(_SHADOW_HALF_WIDTHS):
        y = size - rows + k
        cols = np.abs(xs - centre) <= half
        row = out[..., y, :, :]
        empty = (row[..., 3] == 0) & cols
        row[empty] = (*SHADOW_RGB, 255)
    return out


def resize_nearest(px: np.ndarray, size: int, native: int = 32) -> np.ndarray:
    """Nearest-neighbour resize of the last two pixel axes from ``native`` to ``size``.

    Upscaling uses source index ``floor(i * native / size)``; downscaling
    ``floor((i + 1) * native / size) - 1``. Both keep the last row (the feet baseline) on the
    last row: halving samples the odd rows/columns.
    """
    px = _check(px)
    if size == native:
        return px.copy()
    i = np.arange(size)
    idx = i * native // size if size > native else (i + 1) * native // size - 1
    return px[..., idx, :, :][..., :, idx, :]


def _luma(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return 299 * r + 587 * g + 114 * b  # x1000


def reduce_half(px: np.ndarray, *, outline_luma: int = 60_000) -> np.ndarray:
    """Halve pixel art (..., H, W, 4) -> (..., H/2, W/2, 4) the way a pixel artist would, not by
    dropping every other pixel: each 2 x 2 block becomes opaque when at least 2 of its 4 pixels
    are, takes the block's most frequent opaque colour (ties: the darker, so eyes and details
    survive), and on the silhouette's edge takes the block's outline colour (the darkest, when
    it is darker than ``outline_luma``/1000) so the character keeps its dark outline."""
    px = binary_alpha(_check(px))
    *lead, H, W, _ = px.shape
    if H % 2 or W % 2:
        raise InvalidParamsError(f"Only even sizes can be halved, got {W}x{H}.")
    b = px.reshape(*lead, H // 2, 2, W // 2, 2, 4)
    b = np.moveaxis(b, -4, -3).reshape(*lead, H // 2, W // 2, 4, 4)  # (..., h, w, 4 px, rgba)
    solid = b[..., 3] == 255
    key = (b[..., 0].astype(np.int64) << 16) | (b[..., 1].astype(np.int64) << 8) | b[..., 2]
    same = (key[..., :, None] == key[..., None, :]) & solid[..., :, None] & solid[..., None, :]
    count = same.sum(-1)
    lum = _luma(b)
    score = np.where(solid, count * 1_000_000 - lum, -1)
    best = np.argmax(score, axis=-1)
    out = np.take_along_axis(b, best[..., None, None], axis=-2)[..., 0, :].copy()
    on = solid.sum(-1) >= 2
    # the outline: edge pixels of the new silhouette take their block's darkest colour
    darkest = np.argmin(np.where(solid, lum, 1 << 40), axis=-1)
    dark = np.take_along_axis(b, darkest[..., None, None], axis=-2)[..., 0, :]
    dark_lum = np.take_along_axis(lum, darkest[..., None], axis=-1)[..., 0]
    edge = on & (_neighbours(on, False) < 4)
    use_dark = edge & (dark_lum < outline_luma)
    out[use_dark] = dark[use_dark]
    out[..., 3] = np.where(on, 255, 0)
    out[~on] = 0
    return out
