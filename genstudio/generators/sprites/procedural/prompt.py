"""Prompts to attributes: the words and phrases the procedural generator understands."""

from __future__ import annotations

import re
from dataclasses import dataclass

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import palettes as pal
from genstudio.generators.sprites.procedural.vocabulary import CLOTH

# --- prompt parsing ----------------------------------------------------------------------------

_COLOUR_WORDS: dict[str, str] = {c: c for c in CLOTH}
_COLOUR_WORDS.update(
    {
        "gray": "grey",
        "silver": "grey",
        "crimson": "red",
        "scarlet": "red",
        "violet": "purple",
        "magenta": "pink",
        "gold": "yellow",
        "golden": "yellow",
        "cyan": "teal",
        "turquoise": "teal",
        "tan": "brown",
        "dark": "black",
        "beige": "white",
        "burgundy": "maroon",
        "lime": "green",
    }
)
_HAIR_COLOUR_WORDS: dict[str, str] = {c: c for c in pal.HAIR_RAMPS}
_HAIR_COLOUR_WORDS.update(
    {
        "blond": "blonde",
        "yellow": "blonde",
        "golden": "blonde",
        "gold": "blonde",
        "orange": "ginger",
        "copper": "auburn",
        "gray": "grey",
        "silver": "platinum",
        "dark": "black",
        "violet": "purple",
        "brunette": "dark_brown",
        "dark brown": "dark_brown",
        "light brown": "brown",
        "teal": "green",
        "magenta": "pink",
    }
)
_SKIN_WORDS: dict[str, str] = {c: c for c in pal.SKIN_RAMPS}
_SKIN_WORDS.update(
    {
        "white": "pale",
        "black": "deep",
        "ebony": "deep",
        "porcelain": "pale",
        "tanned": "tan",
        "orc": "green",
        "medium": "tan",
    }
)
_EYE_WORDS: dict[str, str] = {c: c for c in pal.EYE_RAMPS}
_EYE_WORDS.update(
    {"hazel": "amber", "gray": "grey", "gold": "amber", "golden": "amber", "purple": "violet"}
)

# nouns that take a colour: noun -> (style key, style value or None, colour key)
_NOUNS: dict[str, tuple[str | None, str | None, str]] = {}
for _w, _v in {
    "tshirt": "tshirt",
    "t-shirt": "tshirt",
    "shirt": "longsleeve",
    "longsleeve": "longsleeve",
    "sweater": "longsleeve",
    "tank": "tank",
    "tanktop": "tank",
    "tunic": "tunic",
    "vest": "vest",
    "jacket": "jacket",
    "coat": "jacket",
    "robe": "robe",
    "robes": "robe",
    "armor": "armor",
    "armour": "armor",
}.items():
    _NOUNS[_w] = ("top", _v, "top_color")
for _w in ("top", "clothes", "outfit"):
    _NOUNS[_w] = (None, None, "top_color")
for _w, _v in {
    "trousers": "trousers",
    "pants": "trousers",
    "jeans": "trousers",
    "shorts": "shorts",
    "skirt": "skirt",
    "kilt": "skirt",
}.items():
    _NOUNS[_w] = ("bottom", _v, "bottom_color")
for _w, _v in {
    "shoes": "shoes",
    "boots": "boots",
    "sandals": "sandals",
}.items():
    _NOUNS[_w] = ("shoes", _v, "shoes_color")
for _w, _v in {
    "cap": "cap",
    "hood": "hood",
    "hoodie": "hood",
    "beanie": "beanie",
    "bandana": "bandana",
    "headband": "bandana",
    "helmet": "helmet",
    "crown": "crown",
    "hat": "wizard_hat",
}.items():
    _NOUNS[_w] = ("headwear", _v, "headwear_color")

# single words / phrases that set attributes directly
_PHRASES: dict[str, dict[str, str]] = {
    "slim": {"body": "slim"},
    "thin": {"body": "slim"},
    "skinny": {"body": "slim"},
    "slender": {"body": "slim"},
    "regular": {"body": "regular"},
    "average": {"body": "regular"},
    "stocky": {"body": "stocky"},
    "burly": {"body": "stocky"},
    "muscular": {"body": "stocky"},
    "fat": {"body": "stocky"},
    "chubby": {"body": "stocky"},
    "dwarf": {"body": "stocky"},
    "child": {"body": "child"},
    "kid": {"body": "child"},
    "boy": {"body": "child"},
    "girl": {"body": "child"},
    "bald": {"hair_style": "bald"},
    "short hair": {"hair_style": "short"},
    "spiky": {"hair_style": "spiky"},
    "spiky hair": {"hair_style": "spiky"},
    "bob": {"hair_style": "bob"},
    "long hair": {"hair_style": "long"},
    "ponytail": {"hair_style": "ponytail"},
    "bun": {"hair_style": "bun"},
    "mohawk": {"hair_style": "mohawk"},
    "afro": {"hair_style": "afro"},
    "braids": {"hair_style": "braids"},
    "braided": {"hair_style": "braids"},
    "wizard hat": {"headwear": "wizard_hat"},
    "witch hat": {"headwear": "wizard_hat"},
    "no hat": {"headwear": "none"},
    "big eyes": {"eye_style": "big"},
    "small eyes": {"eye_style": "small"},
    "narrow eyes": {"eye_style": "narrow"},
    "barefoot": {"shoes": "barefoot"},
    "sword": {"item": "sword"},
    "blade": {"item": "sword"},
    "axe": {"item": "axe"},
    "spear": {"item": "spear"},
    "lance": {"item": "spear"},
    "staff": {"item": "staff"},
    "wand": {"item": "wand"},
    "torch": {"item": "torch"},
    "shield": {"item": "shield"},
    "sword and shield": {"item": "sword_shield"},
    "unarmed": {"item": "none"},
    # archetypes (explicit words win over these)
    "knight": {"top": "armor", "headwear": "helmet", "item": "sword_shield"},
    "warrior": {"top": "armor", "item": "sword"},
    "soldier": {"top": "armor", "headwear": "helmet", "item": "spear"},
    "guard": {"top": "armor", "headwear": "helmet", "item": "spear"},
    "wizard": {"top": "robe", "headwear": "wizard_hat", "item": "staff"},
    "mage": {"top": "robe", "headwear": "wizard_hat", "item": "staff"},
    "witch": {"top": "robe", "headwear": "wizard_hat", "item": "wand"},
    "sorcerer": {"top": "robe", "item": "wand"},
    "monk": {"top": "robe", "hair_style": "bald", "item": "staff"},
    "king": {"headwear": "crown", "top": "robe"},
    "queen": {"headwear": "crown", "top": "robe", "hair_style": "long"},
    "prince": {"headwear": "crown"},
    "princess": {"headwear": "crown", "bottom": "skirt"},
    "thief": {"headwear": "hood", "top": "jacket", "item": "wand"},
    "rogue": {"headwear": "hood", "top": "jacket", "item": "sword"},
    "ranger": {"headwear": "hood", "top": "tunic", "item": "spear"},
    "farmer": {"top": "tunic", "headwear": "cap", "item": "axe"},
    "lumberjack": {"top": "longsleeve", "headwear": "beanie", "item": "axe"},
    "pirate": {"headwear": "bandana", "top": "vest", "item": "sword"},
    "explorer": {"top": "jacket", "item": "torch"},
    "orc": {"skin": "green", "body": "stocky", "item": "axe"},
}
_FILLER = set(
    "a an the with and in of on wearing wears holding holds carrying carries has having who is "
    "his her their its character person man woman guy lady hero heroine sprite pixel art npc "
    "style looking wielding wields dressed plus".split()
)
_COLOURED_TARGETS = {"hair": ("hair_color", _HAIR_COLOUR_WORDS), "eyes": ("eyes", _EYE_WORDS)}
_COLOURED_TARGETS["eye"] = _COLOURED_TARGETS["eyes"]
_COLOURED_TARGETS["skin"] = ("skin", _SKIN_WORDS)
_COLOURED_TARGETS["skinned"] = _COLOURED_TARGETS["skin"]

MAX_PROMPT_CHARS = 2000


@dataclass(frozen=True)
class PromptParse:
    attrs: dict[str, str]
    unknown: tuple[str, ...]
    matched: tuple[str, ...]


def parse_prompt(prompt: str) -> PromptParse:
    """Map words of a prompt to attributes. Vocabulary: see :func:`prompt_vocabulary`.

    ``<colour> hair|eyes|skin``, ``<colour> <garment/headwear/shoes>`` (e.g. "blue tunic"),
    body/hair-style/item words ("stocky", "ponytail", "sword"), and archetypes ("knight",
    "wizard", ...; explicit words override them). Words it does not know are ignored and
    returned in ``unknown``.
    """
    if not isinstance(prompt, str):
        raise InvalidParamsError("The prompt must be text.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidParamsError(
            f"The prompt is {len(prompt)} characters long; at most {MAX_PROMPT_CHARS} are read.",
            hint="Describe the character in a few words, e.g. 'stocky knight, red hair'.",
        )
    words = re.findall(r"[a-z]+(?:-[a-z]+)?", prompt.lower())
    archetype: dict[str, str] = {}
    explicit: dict[str, str] = {}
    unknown: list[str] = []
    matched: list[str] = []
    i = 0
    n = len(words)
    while i < n:
        w = words[i]
        # colour + target: "dark brown hair", "red hair", "blue eyes", "dark skin"
        done = False
        for span in (2, 1):
            colour = " ".join(words[i : i + span])
            tgt_i = i + span
            if tgt_i >= n:
                continue
            tgt = words[tgt_i]
            if tgt in _COLOURED_TARGETS:
                key, table = _COLOURED_TARGETS[tgt]
                if colour in table:
                    explicit[key] = table[colour]
                    matched.append(f"{colour} {tgt}")
                    i = tgt_i + 1
                    done = True
                    break
            elif span == 1 and colour in _COLOUR_WORDS and tgt in _NOUNS:
                style_key, style_val, colour_key = _NOUNS[tgt]
                if style_key and style_val:
                    explicit[style_key] = style_val
                explicit[colour_key] = _COLOUR_WORDS[colour]
                matched.append(f"{colour} {tgt}")
                i = tgt_i + 1
                done = True
                break
        if done:
            continue
        # phrases, longest first
        for span in (3, 2, 1):
            phrase = " ".join(words[i : i + span])
            if span > 1 and i + span > n:
                continue
            if phrase in _PHRASES:
                target = archetype if phrase in _ARCHETYPES else explicit
                target.update(_PHRASES[phrase])
                matched.append(phrase)
                i += span
                done = True
                break
        if done:
            continue
        if w in _NOUNS:
            style_key, style_val, _ = _NOUNS[w]
            if style_key and style_val:
                explicit[style_key] = style_val
                matched.append(w)
            i += 1
            continue
        if w in _FILLER or w in ("hair", "eyes", "skin"):
            i += 1
            continue
        unknown.append(w)
        i += 1
    attrs = dict(archetype)
    attrs.update(explicit)
    return PromptParse(attrs=attrs, unknown=tuple(unknown), matched=tuple(matched))


_ARCHETYPES = {
    "knight",
    "warrior",
    "soldier",
    "guard",
    "wizard",
    "mage",
    "witch",
    "sorcerer",
    "monk",
    "king",
    "queen",
    "prince",
    "princess",
    "thief",
    "rogue",
    "ranger",
    "farmer",
    "lumberjack",
    "pirate",
    "explorer",
    "orc",
}


def prompt_vocabulary() -> dict[str, list[str]]:
    """The words the prompt parser knows, grouped (for docs and the UI's help)."""
    return {
        "colours (clothes)": sorted(_COLOUR_WORDS),
        "hair colours (<colour> hair)": sorted(_HAIR_COLOUR_WORDS),
        "skin (<tone> skin)": sorted(_SKIN_WORDS),
        "eyes (<colour> eyes)": sorted(_EYE_WORDS),
        "garments, headwear, shoes (<colour> <noun>)": sorted(_NOUNS),
        "words and phrases": sorted(p for p in _PHRASES if p not in _ARCHETYPES),
        "archetypes": sorted(_ARCHETYPES),
    }
