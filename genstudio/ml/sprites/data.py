"""Training data for the sprite models: the procedural generator, rendered on the fly.

The procedural generator gives unlimited, exactly labelled sheets. Splits are by *character*:
a character is (attributes, seed) drawn from a seeded stream, and the three streams below never
share a seed, so the held-out sheets the judges are scored on were never trained on.

* ``train``  - the generator's training stream (seeds from 0)
* ``judge``  - the attribute classifier / feature extractor's training stream
* ``heldout``- the evaluation stream (fixed by a seed, recorded in the model card)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_SEED_BASE = {"train": 0, "judge": 50_000_000, "heldout": 100_000_000, "palette": 150_000_000}


def _proc():
    from genstudio.generators.sprites import procedural

    return procedural


def vocabulary() -> dict[str, list[str]]:
    """Attribute key -> ordered list of values, as the procedural generator defines them."""
    return {k: list(v) for k, v in _proc().ATTRIBUTES.items()}


def character(split: str, index: int) -> tuple[dict[str, str], int]:
    """The ``index``-th character of a split: its attributes and render seed."""
    seed = SPLIT_SEED_BASE[split] + index
    rng = np.random.Generator(np.random.PCG64(seed))
    return _proc().sample_attributes(rng), seed


def render(attrs: dict[str, str], seed: int) -> np.ndarray:
    """(D, F, 32, 32, 4) uint8 sheet."""
    return _proc().render_sheet(attrs, seed)


@dataclass
class Palette:
    """Global palette: index 0 is transparent; the rest are every opaque colour the data uses."""

    colors: np.ndarray  # (K, 4) uint8

    def __post_init__(self) -> None:
        rgb = self.colors[1:, :3].astype(np.int64)
        keys = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
        self._keys = keys
        self._order = np.argsort(keys)

    @property
    def size(self) -> int:
        return int(self.colors.shape[0])

    def to_indices(self, rgba: np.ndarray) -> np.ndarray:
        """(..., 4) uint8 -> (...) int64 palette indices; unknown colours map to the nearest."""
        flat = rgba.reshape(-1, 4)
        out = np.zeros(flat.shape[0], dtype=np.int64)
        opaque = flat[:, 3] >= 128
        rgb = flat[opaque, :3].astype(np.int64)
        keys = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
        sk = self._keys[self._order]
        pos = np.clip(np.searchsorted(sk, keys), 0, len(sk) - 1)
        hit = sk[pos] == keys
        idx = np.where(hit, self._order[pos] + 1, 0)
        if not hit.all():  # nearest colour for anything outside the palette
            miss = ~hit
            d = ((rgb[miss, None, :] - self.colors[None, 1:, :3].astype(np.int64)) ** 2).sum(-1)
            idx[miss] = d.argmin(1) + 1
        out[opaque] = idx
        return out.reshape(rgba.shape[:-1])

    def to_rgba(self, indices: np.ndarray) -> np.ndarray:
        return self.colors[np.asarray(indices, dtype=np.int64)]


def build_palette(n_sheets: int = 3000) -> Palette:
    """Collect every opaque colour of ``n_sheets`` procedural sheets (a split of their own)."""
    seen: set[int] = set()
    for i in range(n_sheets):
        attrs, seed = character("palette", i)
        sheet = render(attrs, seed).reshape(-1, 4)
        rgb = sheet[sheet[:, 3] >= 128, :3].astype(np.int64)
        seen.update(np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).tolist())
    keys = np.array(sorted(seen), dtype=np.int64)
    colors = np.zeros((len(keys) + 1, 4), dtype=np.uint8)
    colors[1:, 0] = keys >> 16
    colors[1:, 1] = (keys >> 8) & 255
    colors[1:, 2] = keys & 255
    colors[1:, 3] = 255
    return Palette(colors)


def encode_attrs(attrs: dict[str, str], vocab: dict[str, list[str]]) -> np.ndarray:
    return np.array([vocab[k].index(attrs[k]) for k in vocab], dtype=np.int64)


def batch(
    split: str, start: int, n: int, palette: Palette, vocab: dict[str, list[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Characters ``start .. start+n`` of a split: (attrs (n, A), frames (n, P, 32, 32) indices)."""
    attrs = np.zeros((n, len(vocab)), dtype=np.int64)
    frames = []
    for j in range(n):
        a, seed = character(split, start + j)
        attrs[j] = encode_attrs(a, vocab)
        sheet = render(a, seed)
        frames.append(palette.to_indices(sheet.reshape(-1, *sheet.shape[2:])))
    return attrs, np.stack(frames)
