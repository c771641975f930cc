"""LPC characters: attributes -> one layer per slot (+ an optional tint), and a seed's draw.

Attributes (all strings, ``"none"`` = no layer in that slot):

* ``sex`` male | female - which body the layers fit;
* ``body`` a skin: light, tanned, tanned2, dark, dark2, darkelf, darkelf2, orc, red_orc,
  skeleton (male bodies only), zombie (the light body tinted grey-green);
* ``ears``, ``nose``, ``eyes`` (eye colour), ``hair`` + ``hair_color``, ``facial`` (beards and
  moustaches, coloured like the hair unless ``facial_color``), ``head`` (caps, hoods, helms,
  bandana, tiara) ;
* ``torso``, ``arms`` (arm/shoulder armour), ``legs``, ``feet``, ``belt``, ``hands``, ``cape``,
  ``neck``, ``wings``, ``quiver``, ``weapon``, ``offhand`` (shield, arrow);
* ``<slot>_color``: a colour name of :data:`COLOURS` - the layer's own colour variant when the
  art has one, else the layer recoloured with its shading kept (:func:`catalog.recolour`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.sprites.lpc import catalog as cat_mod
from genstudio.generators.sprites.lpc.catalog import Catalog, Layer, Pick

SEXES = ("male", "female")
SKINS = (
    "light", "tanned", "tanned2", "dark", "dark2", "darkelf", "darkelf2", "orc", "red_orc",
    "skeleton", "zombie", "ghost",
)  # fmt: skip
#: bodies that are a human body tinted (its shading kept)
TINTED_BODIES = {"zombie": (122, 150, 110), "ghost": (196, 214, 232)}
#: colour words -> RGB for recolouring (and matching the art's own colour names)
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (190, 40, 40), "maroon": (120, 30, 40), "orange": (220, 120, 30),
    "yellow": (230, 200, 50), "gold": (212, 170, 50), "green": (60, 150, 60),
    "teal": (40, 140, 140), "cyan": (70, 200, 220), "blue": (50, 80, 190),
    "navy": (30, 40, 110), "purple": (120, 60, 170), "lavender": (170, 140, 210),
    "pink": (230, 120, 170), "magenta": (200, 50, 160), "brown": (120, 80, 45),
    "black": (40, 40, 45), "gray": (128, 128, 132), "silver": (190, 195, 205),
    "white": (235, 235, 235),
}  # fmt: skip
#: the art's own colour names -> our colour words (hair/beard colours are matched by name)
HAIR_COLOURS = (
    "black", "blonde", "blue", "brown", "brunette", "dark_blonde", "gold", "gray", "green",
    "light_blonde", "pink", "purple", "raven", "redhead", "ruby_red", "white",
    "white_blonde", "white_cyan",
)  # fmt: skip
HAIR_ALIASES = {"red": "redhead", "grey": "gray", "silver": "gray", "blond": "blonde",
                "yellow": "blonde", "orange": "redhead", "cyan": "white_cyan"}  # fmt: skip
GARMENT_SLOTS = (
    "torso", "dress", "robe", "arms", "legs", "feet", "belt", "neck", "head", "hands", "cape",
    "formal",
)  # fmt: skip
#: slots a user sets directly (attribute key = slot), with "none" allowed
SLOTS = (
    "ears", "eyes", "nose", "hair", "facial", "head", "torso", "arms", "legs", "feet", "belt",
    "hands", "cape", "neck", "wings", "quiver", "weapon", "offhand",
)  # fmt: skip
#: torso values that live in their own slot in the art
TORSO_SLOT = {"robe": "robe", "dress_w_sash": "dress", "underdress": "dress"}
#: torso values made of the formal set's layers (shirt, vest, tie, bowtie; either body)
FORMAL = {
    "formal_shirt": ("shirt",), "formal_vest": ("shirt", "vest"),
    "suit": ("shirt", "vest", "tie"), "butler_suit": ("shirt", "vest", "bowtie"),
}  # fmt: skip
TINTABLE = ("torso", "legs", "feet", "cape", "head", "belt", "hands", "arms", "wings")
#: headwear that covers the hair (the hair layer is left out under it)
COVERS_HAIR = ("metal_helm", "golden_helm", "chain_hood", "cloth_hood", "chainhat")
#: a garment the art has for one body only -> what the other body wears instead
OTHER_BODY = {
    "longsleeve": ("tunic", "sleeveless"), "tunic": ("longsleeve",),
    "sleeveless": ("longsleeve",), "pirate": ("longsleeve",),
}  # fmt: skip


def complete(cat: Catalog, slot: str, name: str, sex: str) -> bool:
    """Whether the art of (slot, name) for ``sex`` has frames in every LPC animation."""
    from genstudio.generators.sprites import layout as layout_mod

    found = cat.find(slot, sex, name)
    if not found:
        return False
    rows = set(found[0].rows)
    return all(
        rows.intersection(range(row0, row0 + len(dirs)))
        for _n, row0, _f, _ms, _loop, dirs in layout_mod.LPC_ANIMATIONS
    )


@dataclass(frozen=True)
class Character:
    attrs: dict[str, str]
    picks: tuple[Pick, ...]
    notes: tuple[str, ...]  # what could not be done as asked

    @property
    def layers(self) -> list[Layer]:
        return [p.layer for p in self.picks]


def vocabulary(cat: Catalog) -> dict[str, list[str]]:
    """Every attribute and the values it takes."""
    v: dict[str, list[str]] = {"sex": list(SEXES), "body": list(SKINS)}
    for slot in SLOTS:
        names = cat.names(slot)
        if slot == "torso":
            names = names + sorted(TORSO_SLOT) + sorted(FORMAL)
        if slot == "eyes":
            names = sorted({la.colour for la in cat.layers if la.slot == "eyes" and la.colour})
        v[slot] = ["none", *sorted(set(names))]
    v["hair_color"] = list(HAIR_COLOURS)
    v["facial_color"] = list(HAIR_COLOURS)
    for s in TINTABLE:
        v[f"{s}_color"] = sorted(COLOURS)
    return v


def validate(attrs: Mapping[str, str], cat: Catalog | None = None) -> None:
    voc = vocabulary(cat or cat_mod.load())
    for k, val in attrs.items():
        if k not in voc:
            raise InvalidParamsError(
                f"Unknown LPC attribute {k!r}.", hint=f"Known: {', '.join(sorted(voc))}"
            )
        if val not in voc[k]:
            raise InvalidParamsError(
                f"{val!r} is not a value of {k}.", hint=f"Values: {', '.join(voc[k])}"
            )


def _weighted(rng: np.random.Generator, items: list[tuple[str, float]]) -> str:
    w = np.array([x[1] for x in items], np.float64)
    return items[int(rng.choice(len(items), p=w / w.sum()))][0]


def sample(fixed: Mapping[str, str], seed: int, cat: Catalog | None = None) -> dict[str, str]:
    """Fill in every attribute not in ``fixed`` from ``seed`` (PCG64): a plausible everyday
    character; ``fixed`` always wins."""
    cat = cat or cat_mod.load()
    rng = np.random.Generator(np.random.PCG64(seed))
    a: dict[str, str] = {}

    def pick(key: str, items: list[tuple[str, float]]) -> str:
        draw = _weighted(rng, items)  # always draw, so a locked value keeps the others' draws
        a[key] = fixed.get(key, draw)
        return a[key]

    body = pick("body", [(s, 3.0) for s in SKINS[:7]] + [("orc", 0.6), ("red_orc", 0.3),
                        ("skeleton", 0.3), ("zombie", 0.3)])  # fmt: skip
    sex = pick("sex", [("male", 1.0), ("female", 1.0)])
    if body == "skeleton" and "sex" not in fixed:
        a["sex"] = sex = "male"
    human = body not in ("skeleton",)
    pick("ears", [("none", 8.0), ("elvenears", 1.0), ("bigears", 0.5)] if human else [("none", 1)])
    pick("eyes", [(c, 1.0) for c in ("blue", "brown", "gray", "green")] + [("none", 0.5)])
    pick("nose", [("none", 4.0), ("buttonnose", 1.0), ("straightnose", 1.0), ("bignose", 0.5)])
    hairs = cat.names("hair", sex)
    pick("hair", [(h, 1.0) for h in hairs] + [("none", 3.0 if sex == "male" else 0.5)]
         if human else [("none", 1.0)])  # fmt: skip
    pick("hair_color", [(c, 1.0) for c in HAIR_COLOURS])
    pick("facial", [("none", 7.0)] + [(f, 0.6) for f in cat.names("facial", sex)]
         if sex == "male" and human else [("none", 1.0)])  # fmt: skip
    heads = [h for h in cat.names("head", sex) if h != "red"]
    if "hair" in fixed or "hair_color" in fixed:  # hair that was asked for stays visible
        heads = [h for h in heads if h not in COVERS_HAIR]
    pick("head", [("none", 6.0)] + [(h, 0.5) for h in heads] + [("red", 0.3)])
    torsos = [t for t in cat.names("torso", sex) if complete(cat, "torso", t, sex)]
    if sex == "female":
        torsos += ["robe", "dress_w_sash"]
    pick("torso", [(t, 1.0) for t in torsos] + [("none", 0.2)])
    pick("torso_color", [(c, 1.0) for c in COLOURS])
    pick("arms", [("none", 8.0)] + [(n, 0.5) for n in cat.names("arms", sex)])
    pick("legs", [("pants", 6.0), ("robe_skirt", 0.8), ("metal_pants", 0.6),
                  ("golden_greaves", 0.3)])  # fmt: skip
    pick("legs_color", [(c, 1.0) for c in COLOURS])
    pick("feet", [("shoes", 6.0), ("metal_boots", 0.8), ("golden_boots", 0.3), ("none", 0.4)])
    pick("feet_color", [(c, 1.0) for c in ("black", "brown", "maroon")])
    pick("belt", [("none", 2.0)] + [(n, 1.0) for n in ("leather_leather", "cloth")
                                     if complete(cat, "belt", n, sex)])  # fmt: skip
    pick("hands", [("none", 6.0)] + [(n, 0.5) for n in cat.names("hands", sex)
                                      if complete(cat, "hands", n, sex)])  # fmt: skip
    pick("cape", [("none", 7.0), ("normal", 1.0), ("tattered", 0.5)])
    pick("cape_color", [(c, 1.0) for c in ("red", "blue", "green", "black", "gray", "maroon",
                                           "purple", "white", "yellow", "brown")])  # fmt: skip
    pick("neck", [("none", 1.0)])
    pick("wings", [("none", 30.0), ("wings", 1.0)])
    weapon = pick("weapon", [("none", 3.0), ("dagger", 1.0), ("spear", 1.0), ("bow", 0.8),
                             ("recurvebow", 0.3), ("greatbow", 0.2), ("woodwand", 0.6)]
                  + ([("steelwand", 0.3)] if sex == "female" else []))  # fmt: skip
    pick("quiver", [("quiver", 1.0)] if "bow" in weapon else [("none", 1.0)])
    pick("offhand", [("none", 5.0), ("shield", 1.0)] if sex == "male" and "bow" not in weapon
         else [("none", 1.0)])  # fmt: skip
    for k, v in fixed.items():  # locked attributes the draw does not know (e.g. head_color)
        a.setdefault(k, v)
    return a


def _colour_layer(
    cat: Catalog, slot: str, name: str, sex: str, colour: str
) -> tuple[Layer | None, tuple[int, int, int] | None]:
    """The layer for (slot, name) in ``colour``: the art's own variant when it has one,
    else a tint of its first variant."""
    found = cat.find(slot, sex, name)
    if not found:
        return None, None
    if not colour:
        return found[0], None
    for la in found:
        if la.colour == colour:
            return la, None
    base = found[0]
    rgb = COLOURS.get(colour)
    return base, rgb


def build(attrs: Mapping[str, str], cat: Catalog | None = None) -> Character:
    """Full attributes -> the layers of the character (and notes on what was not possible)."""
    cat = cat or cat_mod.load()
    a = dict(attrs)
    notes: list[str] = []
    sex = a.get("sex", "male")
    body = a.get("body", "light")
    if body == "skeleton" and sex != "male":
        notes.append("the skeleton body exists only as a male body; a male body was used")
        sex = a["sex"] = "male"
    picks: list[Pick] = []
    skin = "light" if body in TINTED_BODIES else body
    body_layer = cat.find("body", sex, "body", skin)
    if not body_layer:
        raise InvalidParamsError(f"No {sex} {body} body in the LPC content.")
    picks.append(Pick(body_layer[0], TINTED_BODIES.get(body)))
    # facial features follow the skin colour (eyes by their own colour)
    skin_for_parts = skin if skin in ("light", "tanned", "tanned2", "dark", "dark2", "darkelf",
                                      "darkelf2") else "light"  # fmt: skip
    for slot in ("ears", "nose"):
        v = a.get(slot, "none")
        if v != "none" and body != "skeleton":
            la = cat.find(slot, sex, v, skin_for_parts)
            if la:
                tint = None
                if skin != skin_for_parts or body in TINTED_BODIES:
                    tint = _skin_rgb(cat, picks[0])
                picks.append(Pick(la[0], tint))
    eyes = a.get("eyes", "none")
    if eyes != "none" and body != "skeleton":
        la = cat.find("eyes", sex, "eyes", eyes)
        if la:
            picks.append(Pick(la[0]))
    hair = a.get("hair", "none")
    if a.get("head", "none") in COVERS_HAIR:
        hair = "none"
    hair_colour = HAIR_ALIASES.get(a.get("hair_color", "brown"), a.get("hair_color", "brown"))
    if hair != "none":
        found = cat.find("hair", sex, hair, hair_colour) or cat.find("hair", sex, hair)
        if found:
            picks.append(Pick(found[0]))
        else:
            notes.append(f"no {hair} hair for a {sex} body")
    facial = a.get("facial", "none")
    if facial != "none":
        fc = HAIR_ALIASES.get(
            a.get("facial_color", hair_colour), a.get("facial_color", hair_colour)
        )
        found = cat.find("facial", sex, facial, fc) or cat.find("facial", "male", facial, fc)
        if found:
            picks.append(Pick(found[0]))
    skip: set[str] = set()
    for slot in ("head", "torso", "arms", "legs", "feet", "belt", "hands", "cape", "neck",
                 "wings", "quiver", "weapon", "offhand"):  # fmt: skip
        v = a.get(slot, "none")
        if v == "none" or slot in skip:
            continue
        colour = a.get(f"{slot}_color", "")
        if slot == "torso" and v == "robe" and sex == "male":
            # no male robe in the art: a long-sleeved shirt over the robe skirt, one colour
            v = "longsleeve"
            layer, tint = _colour_layer(cat, "legs", "robe_skirt", sex, colour)
            if layer is not None:
                picks.append(Pick(layer, tint))
                a["legs"] = "robe_skirt"
                skip.add("legs")
        if slot == "torso" and v in FORMAL:
            # the formal set (either body): its shirt, vest, tie ... and its trousers
            # the shirt stays white and the tie as drawn; the vest takes the colour
            for name in FORMAL[v]:
                fl, tint = _colour_layer(cat, "formal", name, sex, colour if name == "vest" else "")
                if fl is not None:
                    picks.append(Pick(fl, tint))
            pants, _ = _colour_layer(cat, "legs", "pants", "either", "")
            if pants is not None and pants.sex == "either":  # a suit comes with its trousers
                picks.append(Pick(pants))
                a["legs"] = "pants"
                skip.update(("legs", "arms"))
            continue
        if slot == "torso" and not cat.find("torso", sex, v):
            v = next((o for o in OTHER_BODY.get(v, ()) if cat.find("torso", sex, o)), v)
        art_slot = TORSO_SLOT.get(v, slot) if slot == "torso" else slot
        layer, tint = _colour_layer(cat, art_slot, v, sex, colour)
        if layer is None:
            other = "female" if sex == "male" else "male"
            layer, tint = _colour_layer(cat, art_slot, v, other, colour)
            if layer is None or art_slot in ("torso", "dress", "robe", "legs", "feet"):
                notes.append(f"the LPC art has no {v.replace('_', ' ')} for a {sex} body")
                continue
        picks.append(Pick(layer, tint))
        if art_slot == "cape":  # the part of the cape behind the body
            back, btint = _colour_layer(cat, "cape_back", v, sex, colour)
            if back is None:
                back, btint = _colour_layer(cat, "cape_back", v, "female", colour)
            if back is not None:
                picks.append(Pick(back, btint))
    return Character(a, tuple(picks), tuple(notes))


def _skin_rgb(cat: Catalog, body: Pick) -> tuple[int, int, int]:
    """The body's mid skin colour (for features drawn only in human skins)."""
    px = np.asarray(cat.pixels(body.layer))
    frame = px[8 * 64 + 10 : 8 * 64 + 30, 128 + 20 : 128 + 44]  # walk down, the face
    m = frame[..., 3] > 0
    if body.tint is not None:
        return body.tint
    if not m.any():
        return (200, 160, 130)
    cols, counts = np.unique(frame[m][:, :3], axis=0, return_counts=True)
    return tuple(int(c) for c in cols[int(np.argmax(counts))])  # type: ignore[return-value]


def missing_animations(ch: Character) -> dict[str, list[str]]:
    """Animations a garment of the character has no frames for: {animation: [layers]}."""
    from genstudio.generators.sprites import layout as layout_mod

    out: dict[str, list[str]] = {}
    for p in ch.picks:
        if p.layer.slot not in GARMENT_SLOTS:
            continue
        rows = set(p.layer.rows)
        for name, row0, _n, _ms, _loop, dirs in layout_mod.LPC_ANIMATIONS:
            if not rows.intersection(range(row0, row0 + len(dirs))):
                out.setdefault(name, []).append(p.layer.id)
    return out
