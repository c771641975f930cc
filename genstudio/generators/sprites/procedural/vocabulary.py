"""The procedural characters' attributes: every key, its values and how a seed draws the ones
not given (``numpy.random.Generator(PCG64(seed))``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import palettes as pal
from genstudio.generators.sprites.procedural.templates import HAIR, HEADWEAR

# --- attributes --------------------------------------------------------------------------------

BODIES = ("slim", "regular", "stocky", "child")
HAIR_STYLES = tuple(HAIR)
EYE_STYLES = ("normal", "big", "small", "narrow")
TOPS = ("tshirt", "longsleeve", "tank", "tunic", "vest", "jacket", "robe", "armor")
BOTTOMS = ("trousers", "shorts", "skirt")
SHOES = ("shoes", "boots", "sandals", "barefoot")
HEADWEAR_STYLES = tuple(HEADWEAR)
ITEMS = ("none", "sword", "axe", "spear", "staff", "wand", "torch", "shield", "sword_shield")
CLOTH = tuple(pal.CLOTH_RAMPS)

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "body": BODIES,
    "skin": tuple(pal.SKIN_RAMPS),
    "hair_style": HAIR_STYLES,
    "hair_color": tuple(pal.HAIR_RAMPS),
    "eyes": tuple(pal.EYE_RAMPS),
    "eye_style": EYE_STYLES,
    "top": TOPS,
    "top_color": CLOTH,
    "bottom": BOTTOMS,
    "bottom_color": CLOTH,
    "shoes": SHOES,
    "shoes_color": CLOTH,
    "headwear": HEADWEAR_STYLES,
    "headwear_color": CLOTH,
    "item": ITEMS,
}
ATTRIBUTE_KEYS: tuple[str, ...] = tuple(ATTRIBUTES)

# sampling weights (relative); values not listed weigh 1
_WEIGHTS: dict[str, dict[str, float]] = {
    "body": {"child": 0.5},
    "skin": {"green": 0.25, "blue": 0.2},
    "hair_style": {"bald": 0.4, "mohawk": 0.5, "afro": 0.7},
    "hair_color": {"blue": 0.3, "green": 0.25, "pink": 0.3, "purple": 0.3, "white": 0.5},
    "eyes": {"red": 0.2, "violet": 0.3},
    "eye_style": {"narrow": 0.6},
    "headwear": {"none": 5.0, "crown": 0.4},
    "item": {"none": 2.5},
    "shoes_color": {
        "brown": 4.0,
        "black": 3.0,
        "maroon": 1.5,
        "grey": 1.5,
        "white": 1.0,
        "navy": 1.0,
    },
    "top": {"robe": 0.6, "armor": 0.7},
}


def _probs(key: str) -> np.ndarray:
    vals = ATTRIBUTES[key]
    w = _WEIGHTS.get(key, {})
    if key == "shoes_color":
        p = np.array([w.get(v, 0.15) for v in vals], dtype=np.float64)
    else:
        p = np.array([w.get(v, 1.0) for v in vals], dtype=np.float64)
    return p / p.sum()


def validate_attributes(attrs: dict[str, Any], *, partial: bool = True) -> dict[str, str]:
    """Check keys and values; returns a clean copy. ``partial=False`` requires every key."""
    if not isinstance(attrs, dict):
        raise InvalidParamsError("Sprite attributes must be a mapping of name -> value.")
    out: dict[str, str] = {}
    for k, v in attrs.items():
        if k not in ATTRIBUTES:
            raise InvalidParamsError(
                f"Unknown sprite attribute {k!r}.",
                hint=f"Known attributes: {', '.join(ATTRIBUTE_KEYS)}",
            )
        if not isinstance(v, str) or v not in ATTRIBUTES[k]:
            raise InvalidParamsError(
                f"Unknown value {v!r} for sprite attribute {k!r}.",
                hint=f"{k} is one of: {', '.join(ATTRIBUTES[k])}",
            )
        out[k] = v
    if not partial:
        missing = [k for k in ATTRIBUTE_KEYS if k not in out]
        if missing:
            raise InvalidParamsError(f"Missing sprite attributes: {', '.join(missing)}")
    return out


def make_rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(int(seed) & ((1 << 128) - 1)))


def sample_attributes(rng: np.random.Generator, **fixed: str) -> dict[str, str]:
    """Every attribute: the ``fixed`` ones as given, the others drawn from ``rng``.

    One draw is made per attribute in :data:`ATTRIBUTE_KEYS` order whether it is fixed or not,
    so fixing one attribute leaves all the others unchanged (variations of one character).
    """
    fixed = validate_attributes(fixed)
    out: dict[str, str] = {}
    for key in ATTRIBUTE_KEYS:
        vals = ATTRIBUTES[key]
        u = rng.random()
        idx = int(np.searchsorted(np.cumsum(_probs(key)), u, side="right"))
        out[key] = vals[min(idx, len(vals) - 1)]
    # a few coherent defaults for drawn (not fixed) values
    if out["top"] == "robe" and "bottom" not in fixed:
        out["bottom"] = "trousers"
    out.update(fixed)
    return out
