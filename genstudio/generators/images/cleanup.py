"""Clean-up of a generated icon: the loose fragments a small diffusion model scatters around the
subject (specks and half-drawn blobs in the transparent margin) are removed.

An icon's visible shapes are the 8-connected components of ``alpha >= threshold``. The largest
component is the subject; any other component smaller than ``min_share`` of it (and than
``max_px`` pixels) is a fragment: its pixels and the soft rim around it (the 1-pixel ring of
lower alpha the decoder draws around every shape) become transparent. Parts of the subject that
are big enough (two eyes, the stars of a flag, a bow beside its arrow) stay. numpy only.
"""

from __future__ import annotations

import numpy as np

_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected labels of a boolean (H, W) mask: (labels (H, W) int32, 0 = background; count)."""
    h, w = mask.shape
    labels = np.zeros((h, w), np.int32)
    n = 0
    for y0, x0 in zip(*np.nonzero(mask)):
        if labels[y0, x0]:
            continue
        n += 1
        labels[y0, x0] = n
        stack = [(int(y0), int(x0))]
        while stack:
            y, x = stack.pop()
            for dy, dx in _NEIGHBOURS:
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not labels[yy, xx]:
                    labels[yy, xx] = n
                    stack.append((yy, xx))
    return labels, n


def _grow(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= out[:, :-1].copy()
    out[:, :-1] |= out[:, 1:].copy()
    return out


def drop_fragments(
    rgba: np.ndarray, *, threshold: int = 96, min_share: float = 0.03, max_px: int = 24
) -> tuple[np.ndarray, int]:
    """(cleaned copy of a (H, W, 4) uint8 RGBA icon, number of fragments removed)."""
    alpha = rgba[..., 3]
    labels, n = components(alpha >= threshold)
    if n <= 1:
        # nothing solid at all: only faint haze - keep the picture as it is
        return rgba.copy(), 0
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    biggest = int(sizes.max())
    small = [i for i in range(1, n + 1) if sizes[i] < min(min_share * biggest, max_px)]
    if not small:
        return rgba.copy(), 0
    keep = np.isin(labels, [i for i in range(1, n + 1) if i not in small])
    near_kept = _grow(_grow(keep))
    gone = _grow(np.isin(labels, small)) & ~near_kept
    # also the faint haze that belongs to no solid shape and lies away from the subject
    gone |= (alpha > 0) & (alpha < threshold) & ~near_kept & ~_grow(_grow(alpha >= threshold))
    out = rgba.copy()
    out[gone] = 0
    return out, len(small)
