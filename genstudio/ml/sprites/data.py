"""Training data for the sprite models: the procedural generator, rendered on the fly.

The procedural generator gives unlimited, exactly labelled sheets. Splits are by *character*:
a character is (attributes, seed) drawn from a seeded stream, and the three streams below never
share a seed, so the held-out sheets the judges are scored on were never trained on.

* ``train``  - the generator's training stream (seeds from 0)
* ``judge``  - the attribute classifier / feature extractor's training stream
* ``heldout``- the evaluation stream (fixed by a seed, recorded in the model card)
"""

from __future__ import annotations

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


def n_codes() -> int:
    """Number of material codes (the model's classes; 0 = transparent)."""
    return int(_proc().N_CODES)


def codes(attrs: dict[str, str]) -> np.ndarray:
    """(D, F, 32, 32) uint8 material codes of a character (see ``procedural.compose_codes``)."""
    return _proc().compose_codes(attrs)


def code_frequencies(n_sheets: int = 500) -> np.ndarray:
    """Share of pixels per material code over ``n_sheets`` characters of the 'palette' split."""
    counts = np.zeros(n_codes(), dtype=np.float64)
    for i in range(n_sheets):
        attrs, _ = character("palette", i)
        counts += np.bincount(codes(attrs).ravel(), minlength=n_codes())
    return counts / counts.sum()


def class_weights(freq: np.ndarray, power: float = 0.5, lo: float = 0.25, hi: float = 4.0):
    """Tempered median-frequency balancing (Eigen & Fergus 2015): rare codes (an item's gem, a
    shoe) weigh more than the background; codes that never occur weigh 1."""
    seen = freq > 0
    w = np.ones_like(freq)
    w[seen] = np.clip((np.median(freq[seen]) / freq[seen]) ** power, lo, hi)
    return w.astype(np.float32)


def encode_attrs(attrs: dict[str, str], vocab: dict[str, list[str]]) -> np.ndarray:
    return np.array([vocab[k].index(attrs[k]) for k in vocab], dtype=np.int64)


def batch(
    split: str, start: int, n: int, vocab: dict[str, list[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Characters ``start .. start+n`` of a split: (attrs (n, A), frames (n, P, 32, 32) codes)."""
    attrs = np.zeros((n, len(vocab)), dtype=np.int64)
    frames = []
    for j in range(n):
        a, _ = character(split, start + j)
        attrs[j] = encode_attrs(a, vocab)
        c = codes(a)
        frames.append(c.reshape(-1, *c.shape[2:]).astype(np.int64))
    return attrs, np.stack(frames)
