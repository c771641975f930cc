"""LPC prompts: words and phrases -> character attributes, by a phrase table and by meaning.

1. Phrases of :data:`PHRASES` (longest first: "dark elf" before "elf") set attributes;
   a colour word before a garment or hair colours that ("red cape", "white hair"), one after a
   character word colours its main garment ("knight in blue").
2. Each content word left over is embedded with the MiniLM encoder the product ships
   (:mod:`genstudio.generators.text_encoder`) and compared with the phrase table's entries:
   when the nearest is close enough (cosine >= :data:`MEANING_THRESHOLD`) the word takes its
   attributes ("ranger" -> archer, "sorceress" -> witch) and the parse says so
   (``by_meaning``). Without the encoder (not installed) this step is skipped and said.
3. Words still left are ``unknown``: listed for the user, never silently dropped.

Stop words (a, with, the, ...) are not content words. :func:`content_key` is the sorted set of
content words: the generator mixes it into the seed, so two prompts with different content words
never collapse to one sheet, and the same words in another order give the same sheet.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field

from genstudio.generators.sprites.lpc.character import COLOURS, COVERS_HAIR

MAX_PROMPT_CHARS = 300
MEANING_THRESHOLD = 0.70  # calibrated on 55 role/gear words and 30 unrelated ones

STOP = frozenset(
    "a an the with and or of in on at to for wearing wears holding holds carrying carries "
    "who is are his her their its has have very some big small little tiny one two pixel art "
    "sprite character characters sheet rpg game style 2d 16bit 8bit lpc person someone guy "
    "looking like that this from by".split()
)
SEX_WORDS = {
    "man": "male", "boy": "male", "male": "male", "guy": "male", "king": "male",
    "prince": "male", "gentleman": "male", "lord": "male", "father": "male", "old man": "male",
    "woman": "female", "girl": "female", "female": "female", "lady": "female",
    "queen": "female", "princess": "female", "mother": "female", "old woman": "female",
}  # fmt: skip

A = dict[str, str]
#: phrase -> attributes (the character words first, then garments, then details)
PHRASES: dict[str, A] = {
    # peoples and bodies
    "dark elf": {"body": "darkelf", "ears": "elvenears"},
    "drow": {"body": "darkelf", "ears": "elvenears"},
    "elf": {"ears": "elvenears"}, "elven": {"ears": "elvenears"},
    "elf ears": {"ears": "elvenears"}, "pointy ears": {"ears": "elvenears"},
    "big ears": {"ears": "bigears"}, "ears": {"ears": "bigears"},
    "orc": {"body": "orc"}, "red orc": {"body": "red_orc"}, "troll": {"body": "red_orc"},
    "goblin": {"body": "orc", "ears": "bigears"}, "ogre": {"body": "red_orc"},
    "skeleton": {"body": "skeleton"}, "skeletal": {"body": "skeleton"},
    "zombie": {"body": "zombie"}, "undead": {"body": "zombie"}, "ghoul": {"body": "zombie"},
    "human": {"body": "light"}, "pale": {"body": "light"}, "tan": {"body": "tanned"},
    "tanned": {"body": "tanned"}, "dark skin": {"body": "dark"}, "dark skinned": {"body": "dark"},
    "dark-skinned": {"body": "dark"}, "brown skin": {"body": "tanned2"},
    "vampire": {"body": "light", "eyes": "red", "cape": "normal", "cape_color": "black",
                "torso": "longsleeve", "torso_color": "black"},
    "old": {"hair_color": "white", "facial": "beard"}, "elderly": {"hair_color": "white"},
    "grey haired": {"hair_color": "gray"}, "young": {"facial": "none"},
    # roles
    "knight": {"torso": "plate_chest", "arms": "plate_arms", "legs": "metal_pants",
               "feet": "metal_boots", "head": "metal_helm"},
    "paladin": {"torso": "gold_chest", "arms": "gold_arms", "legs": "golden_greaves",
                "feet": "golden_boots", "offhand": "shield"},
    "warrior": {"torso": "chain_mail", "arms": "leather_shoulders", "weapon": "spear"},
    "soldier": {"torso": "chain_mail", "head": "chainhat", "weapon": "spear"},
    "guard": {"torso": "chain_mail", "head": "metal_helm", "weapon": "spear"},
    "spearman": {"weapon": "spear"}, "gladiator": {"arms": "leather_shoulders",
                                                    "weapon": "spear", "torso": "none"},
    "archer": {"weapon": "bow", "quiver": "quiver"},
    "ranger": {"weapon": "bow", "quiver": "quiver", "head": "cloth_hood", "torso_color": "green"},
    "hunter": {"weapon": "recurvebow", "quiver": "quiver", "torso": "leather_chest"},
    "wizard": {"torso": "robe", "weapon": "woodwand", "facial": "beard"},
    "mage": {"torso": "robe", "weapon": "woodwand"},
    "sorcerer": {"torso": "robe", "weapon": "steelwand"},
    "witch": {"sex": "female", "torso": "robe", "torso_color": "black", "weapon": "woodwand"},
    "necromancer": {"torso": "robe", "torso_color": "black", "head": "cloth_hood",
                    "weapon": "steelwand"},
    "priest": {"torso": "robe", "torso_color": "white", "head": "cloth_hood"},
    "cleric": {"torso": "robe", "torso_color": "white", "offhand": "shield"},
    "monk": {"torso": "robe", "torso_color": "brown", "head": "cloth_hood", "hair": "none"},
    "rogue": {"head": "cloth_hood", "torso": "leather_chest", "weapon": "dagger"},
    "thief": {"head": "cloth_hood", "torso": "leather_chest", "weapon": "dagger"},
    "assassin": {"head": "cloth_hood", "torso_color": "black", "weapon": "dagger"},
    "ninja": {"head": "cloth_hood", "torso": "leather_chest", "torso_color": "black",
              "legs_color": "black", "weapon": "dagger"},
    "pirate": {"head": "red", "torso": "pirate", "weapon": "dagger"},
    "captain": {"cape": "normal", "torso": "jacket", "belt": "leather_leather"},
    "bandit": {"head": "red", "weapon": "dagger"},
    "merchant": {"torso": "longsleeve", "belt": "leather_leather"},
    "noble": {"torso": "jacket", "cape": "trimmed"},
    "butler": {"torso": "butler_suit"}, "gentleman": {"torso": "formal_vest"},
    "suit": {"torso": "suit"}, "businessman": {"torso": "suit"}, "tie": {"torso": "suit"},
    "bowtie": {"torso": "butler_suit"}, "waiter": {"torso": "butler_suit"},
    "king": {"cape": "normal", "cape_color": "red", "torso": "gold_chest"},
    "queen": {"head": "tiara", "torso": "dress_w_sash"},
    "princess": {"head": "tiara", "torso": "dress_w_sash", "hair": "princess"},
    "prince": {"cape": "normal", "torso": "jacket"},
    "farmer": {"torso": "longsleeve", "torso_color": "brown", "legs": "pants"},
    "peasant": {"torso": "longsleeve", "torso_color": "brown"},
    "villager": {"torso": "longsleeve"},
    "blacksmith": {"torso": "leather_chest", "arms": "none", "hands": "leather_bracers"},
    "fairy": {"sex": "female", "wings": "wings"}, "angel": {"wings": "wings",
                                                           "torso_color": "white"},
    "robot": {"torso": "plate_chest", "arms": "plate_arms", "legs": "metal_pants",
              "feet": "metal_boots", "head": "metal_helm", "hands": "metal_gloves"},
    "viking": {"head": "metal_helm", "facial": "beard", "offhand": "shield"},
    "samurai": {"torso": "plate_chest", "arms": "plate_arms", "weapon": "spear"},
    "huntress": {"sex": "female", "weapon": "bow", "quiver": "quiver"},
    "sorceress": {"sex": "female", "torso": "robe", "weapon": "steelwand"},
    "priestess": {"sex": "female", "torso": "robe", "torso_color": "white"},
    "enchantress": {"sex": "female", "torso": "robe", "weapon": "steelwand"},
    "swordsman": {"weapon": "dagger", "torso": "chain_mail"},
    "shieldmaiden": {"sex": "female", "offhand": "shield", "torso": "chain_mail"},
    # where the embeddings fall short (measured: nearest entry wrong or below the threshold)
    "warlock": {"torso": "robe", "torso_color": "purple", "weapon": "steelwand"},
    "druid": {"torso": "robe", "torso_color": "green", "weapon": "woodwand"},
    "shaman": {"torso": "leather_chest", "weapon": "woodwand", "neck": "necklace"},
    "nun": {"sex": "female", "torso": "robe", "torso_color": "black", "head": "cloth_hood"},
    "friar": {"torso": "robe", "torso_color": "brown", "hair": "none"},
    "crusader": {"torso": "plate_chest", "arms": "plate_arms", "cape": "normal",
                 "cape_color": "white", "offhand": "shield"},
    "templar": {"torso": "chain_mail", "cape": "normal", "cape_color": "white"},
    "bowman": {"weapon": "bow", "quiver": "quiver"}, "musketeer": {"torso": "jacket",
                                                                  "cape": "normal"},
    "mercenary": {"torso": "leather_chest", "weapon": "spear"},
    "hero": {"torso": "chain_mail", "cape": "normal"}, "heroine": {"sex": "female",
                                                                 "cape": "normal"},
    "buccaneer": {"head": "red", "torso": "pirate", "weapon": "dagger"},
    "corsair": {"head": "red", "torso": "pirate", "weapon": "dagger"},
    "brigand": {"head": "red", "weapon": "dagger", "torso": "leather_chest"},
    "burglar": {"head": "cloth_hood", "weapon": "dagger"},
    "squire": {"torso": "chain_mail", "head": "chainhat"},
    "mariner": {"head": "red", "torso": "sleeveless"},
    "lich": {"body": "skeleton", "torso": "robe", "weapon": "steelwand"},
    "wraith": {"body": "zombie", "cape": "tattered", "cape_color": "black"},
    "berserker": {"arms": "leather_shoulders", "torso": "none", "facial": "beard"},
    "cowboy": {"head": "leather_cap", "torso": "jacket", "belt": "leather_leather"},
    "chef": {"torso": "longsleeve", "torso_color": "white"},
    "lumberjack": {"torso": "longsleeve", "torso_color": "red", "facial": "beard"},
    "barbarian": {"arms": "leather_shoulders", "torso": "none", "belt": "leather_leather",
                  "weapon": "spear"},
    "bard": {"head": "leather_cap", "torso": "jacket", "cape": "normal"},
    "spy": {"head": "cloth_hood", "torso": "leather_chest", "torso_color": "black",
            "weapon": "dagger"},
    "cultist": {"head": "cloth_hood", "torso": "robe", "torso_color": "black"},
    "ghost": {"body": "ghost"}, "spirit": {"body": "ghost"}, "phantom": {"body": "ghost"},
    "demon": {"body": "red_orc", "wings": "wings", "eyes": "yellow"},
    "maid": {"sex": "female", "torso": "dress_w_sash", "torso_color": "black"},
    "doctor": {"torso": "longsleeve", "torso_color": "white"},
    "scientist": {"torso": "longsleeve", "torso_color": "white"},
    "nurse": {"sex": "female", "torso": "dress_w_sash", "torso_color": "white"},
    "javelin": {"weapon": "spear"}, "trident": {"weapon": "spear"},
    "halberd": {"weapon": "spear"}, "arrows": {"quiver": "quiver"},
    "braids": {"hair": "ponytail2"}, "braid": {"hair": "ponytail2"},
    "pigtail": {"hair": "bunches"}, "mittens": {"hands": "leather_bracers"},
    "sailor": {"head": "red", "torso": "sleeveless"},
    # garments and gear
    "armor": {"torso": "plate_chest", "arms": "plate_arms"},
    "armour": {"torso": "plate_chest", "arms": "plate_arms"},
    "plate armor": {"torso": "plate_chest", "arms": "plate_arms"},
    "chainmail": {"torso": "chain_mail"}, "chain mail": {"torso": "chain_mail"},
    "leather armor": {"torso": "leather_chest", "arms": "leather_shoulders"},
    "leather armour": {"torso": "leather_chest", "arms": "leather_shoulders"},
    "golden armor": {"torso": "gold_chest", "arms": "gold_arms"},
    "gold armor": {"torso": "gold_chest", "arms": "gold_arms"},
    "robe": {"torso": "robe"}, "robes": {"torso": "robe"}, "dress": {"torso": "dress_w_sash"},
    "gown": {"torso": "dress_w_sash"}, "tunic": {"torso": "tunic"},
    "shirt": {"torso": "longsleeve"}, "jacket": {"torso": "jacket"}, "coat": {"torso": "jacket"},
    "tabard": {"torso": "jacket"}, "vest": {"torso": "formal_vest"},
    "cape": {"cape": "normal"}, "cloak": {"cape": "normal"}, "mantle": {"cape": "normal"},
    "tattered cape": {"cape": "tattered"}, "tattered cloak": {"cape": "tattered"},
    "pants": {"legs": "pants"}, "trousers": {"legs": "pants"}, "skirt": {"legs": "robe_skirt"},
    "greaves": {"legs": "metal_pants"}, "boots": {"feet": "metal_boots"},
    "shoes": {"feet": "shoes"}, "sandals": {"feet": "slippers"}, "slippers": {"feet": "slippers"},
    "barefoot": {"feet": "none"}, "gloves": {"hands": "metal_gloves"},
    "gauntlets": {"hands": "metal_gloves"}, "bracers": {"hands": "leather_bracers"},
    "belt": {"belt": "leather_leather"}, "necklace": {"neck": "necklace"},
    "helmet": {"head": "metal_helm"}, "helm": {"head": "metal_helm"},
    "golden helmet": {"head": "golden_helm"}, "hood": {"head": "cloth_hood"},
    "hooded": {"head": "cloth_hood"}, "chain hood": {"head": "chain_hood"},
    "cap": {"head": "leather_cap"}, "hat": {"head": "leather_cap"},
    "bandana": {"head": "red"}, "headband": {"head": "red"},
    "tiara": {"head": "tiara"}, "crown": {"head": "tiara"}, "circlet": {"head": "tiara"},
    "wings": {"wings": "wings"}, "winged": {"wings": "wings"},
    "quiver": {"quiver": "quiver"},
    "bow": {"weapon": "bow"}, "bow and arrow": {"weapon": "bow", "quiver": "quiver"},
    "longbow": {"weapon": "greatbow"}, "great bow": {"weapon": "greatbow"},
    "recurve bow": {"weapon": "recurvebow"}, "crossbow": {"weapon": "recurvebow"},
    "spear": {"weapon": "spear"}, "lance": {"weapon": "spear"}, "pike": {"weapon": "spear"},
    "polearm": {"weapon": "spear"}, "dagger": {"weapon": "dagger"}, "knife": {"weapon": "dagger"},
    "wand": {"weapon": "woodwand"}, "staff": {"weapon": "woodwand"},
    "magic staff": {"weapon": "steelwand"}, "steel wand": {"weapon": "steelwand"},
    "shield": {"offhand": "shield"}, "unarmed": {"weapon": "none"},
    # hair and face
    "bald": {"hair": "none"}, "long hair": {"hair": "long"}, "short hair": {"hair": "plain"},
    "ponytail": {"hair": "ponytail"}, "mohawk": {"hair": "mohawk"}, "pixie": {"hair": "pixie"},
    "pixie cut": {"hair": "pixie"}, "pigtails": {"hair": "bunches"}, "bun": {"hair": "longknot"},
    "messy hair": {"hair": "messy1"}, "curly hair": {"hair": "jewfro"}, "afro": {"hair": "jewfro"},
    "bangs": {"hair": "bangs"}, "very long hair": {"hair": "xlong"},
    "beard": {"facial": "beard"}, "bearded": {"facial": "beard"},
    "mustache": {"facial": "mustache"}, "moustache": {"facial": "mustache"},
    "stubble": {"facial": "fiveoclock"}, "clean shaven": {"facial": "none"},
}  # fmt: skip
#: garment words -> the slot their colour goes to
COLOUR_TARGET = {
    "hair": "hair_color", "haired": "hair_color", "beard": "facial_color", "mustache": "facial_color",
    "moustache": "facial_color", "cape": "cape_color", "cloak": "cape_color",
    "mantle": "cape_color", "robe": "torso_color", "robes": "torso_color", "dress": "torso_color",
    "gown": "torso_color", "tunic": "torso_color", "shirt": "torso_color", "jacket": "torso_color",
    "coat": "torso_color", "vest": "torso_color", "tabard": "torso_color", "armor": "torso_color",
    "armour": "torso_color", "clothes": "torso_color", "outfit": "torso_color",
    "pants": "legs_color", "trousers": "legs_color", "skirt": "legs_color",
    "boots": "feet_color", "shoes": "feet_color", "hood": "head_color", "hat": "head_color",
    "cap": "head_color", "helmet": "head_color", "belt": "belt_color", "gloves": "hands_color",
    "eyes": "eyes", "wings": "wings_color",
}  # fmt: skip
EYE_COLOURS = ("blue", "brown", "gray", "green", "orange", "purple", "red", "yellow")
COLOUR_WORDS = {**{c: c for c in COLOURS}, "grey": "gray", "golden": "gold", "crimson": "red",
                "scarlet": "red", "violet": "purple", "emerald": "green", "azure": "blue",
                "dark": "black", "ebony": "black", "snow": "white", "blond": "gold",
                "blonde": "gold", "ginger": "orange", "auburn": "maroon", "fire": "red",
                "flame": "red", "ice": "cyan", "frost": "cyan", "shadow": "black",
                "forest": "green", "sea": "teal", "sky": "blue", "blood": "maroon",
                "royal": "purple"}  # fmt: skip
HAIR_COLOUR_WORDS = {"blond": "blonde", "blonde": "blonde", "golden": "gold", "ginger": "redhead",
                     "auburn": "redhead", "red": "redhead", "raven": "raven", "brunette":
                     "brunette", "silver": "gray", "grey": "gray", "gray": "gray", "white":
                     "white", "black": "black", "brown": "brown", "pink": "pink", "blue": "blue",
                     "green": "green", "purple": "purple", "crimson": "ruby_red",
                     "orange": "redhead", "yellow": "blonde", "dark": "raven", "snow": "white"}  # fmt: skip


@dataclass
class LpcParse:
    attrs: dict[str, str] = field(default_factory=dict)
    matched: list[str] = field(default_factory=list)  # phrases taken as they are
    by_meaning: dict[str, str] = field(default_factory=dict)  # word -> the entry it meant
    unknown: list[str] = field(default_factory=list)  # content words not honoured
    notes: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)  # every content word, in order


def words_of(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+(?:-[a-z]+)*", prompt.lower())


def content_words(prompt: str) -> list[str]:
    return [w for w in words_of(prompt) if w not in STOP]


def content_key(prompt: str) -> int:
    """A 63-bit number of the prompt's content words (as a set): mixed into the seed."""
    words = sorted(set(content_words(prompt)))
    if not words:
        return 0
    return int.from_bytes(hashlib.sha256(" ".join(words).encode()).digest()[:8], "big") >> 1


_PHRASE_LIST = sorted(PHRASES, key=lambda p: -len(p.split()))
_HAIR_PHRASES = {p for p, a in PHRASES.items() if "hair" in a and a["hair"] != "none"}


def _apply(attrs: dict[str, str], entry: A) -> None:
    """A phrase's attributes: its parts win over earlier phrases, its colours do not (a
    colour the user named keeps priority over a role's default colour)."""
    for k, v in entry.items():
        if k.endswith("_color"):
            attrs.setdefault(k, v)
        else:
            attrs[k] = v


def parse(prompt: str, *, meaning: bool = True) -> LpcParse:
    out = LpcParse()
    words = words_of(prompt[:MAX_PROMPT_CHARS])
    out.content = [w for w in words if w not in STOP]
    used = [False] * len(words)
    attrs: dict[str, str] = {}

    def take(i: int, n: int) -> None:
        for k in range(i, i + n):
            used[k] = True

    # sex words
    for i, w in enumerate(words):
        if w in SEX_WORDS:
            attrs["sex"] = SEX_WORDS[w]
            if w not in PHRASES:
                take(i, 1)
                out.matched.append(w)
    # phrases, longest first
    for phrase in _PHRASE_LIST:
        p = phrase.split()
        for i in range(len(words) - len(p) + 1):
            if words[i : i + len(p)] == p and not any(used[i : i + len(p)]):
                _apply(attrs, PHRASES[phrase])
                take(i, len(p))
                out.matched.append(phrase)
    # multi-word phrases with colour words inside them ("long blonde hair" -> "long hair")
    core = [i for i, w in enumerate(words) if w not in COLOUR_WORDS and w not in HAIR_COLOUR_WORDS]
    for phrase in _PHRASE_LIST:
        p = phrase.split()
        if len(p) < 2:
            break
        for j in range(len(core) - len(p) + 1):
            idx = core[j : j + len(p)]
            if [words[i] for i in idx] == p and not any(used[i] for i in idx[:-1]):
                _apply(attrs, PHRASES[phrase])
                for i in idx[:-1]:
                    used[i] = True  # the last word ("hair") still takes its colour below
                out.matched.append(phrase)
    # colours: before a garment word, or after "in" / a character word
    for i, w in enumerate(words):
        if w not in COLOUR_WORDS and w not in HAIR_COLOUR_WORDS:
            continue
        nxt = next(
            (words[j] for j in range(i + 1, min(i + 3, len(words))) if words[j] not in STOP), ""
        )
        target = COLOUR_TARGET.get(nxt)
        if target == "hair_color" or target == "facial_color":
            colour = HAIR_COLOUR_WORDS.get(w)
            if colour:
                attrs[target] = colour
                if target == "facial_color":
                    attrs.setdefault("facial", "beard")
                take(i, 1)
                j = words.index(nxt, i + 1)
                used[j] = True
                out.matched.append(f"{w} {nxt}")
                continue
        if target == "eyes":
            if w in EYE_COLOURS or COLOUR_WORDS.get(w) in EYE_COLOURS:
                attrs["eyes"] = w if w in EYE_COLOURS else COLOUR_WORDS[w]
                take(i, 1)
                used[words.index(nxt, i + 1)] = True
                out.matched.append(f"{w} eyes")
                continue
        colour = COLOUR_WORDS.get(w)
        if colour is None:
            continue
        if target:
            attrs[target] = colour
            take(i, 1)
            out.matched.append(f"{w} {nxt}")
            # the garment word itself sets its slot when not already set
            if nxt in PHRASES:
                for k, v in PHRASES[nxt].items():
                    attrs.setdefault(k, v)
                used[words.index(nxt, i + 1)] = True
            elif nxt in ("clothes", "outfit"):
                used[words.index(nxt, i + 1)] = True
        elif not used[i]:
            attrs.setdefault("torso_color", colour)  # "blue knight", "knight in blue"
            take(i, 1)
            out.matched.append(w)
    # hair the prompt asks for stays visible: a role's hood or helmet gives way
    head_words = {"helmet", "helm", "golden helmet", "hood", "hooded", "chain hood"}
    asks_hair = "hair_color" in attrs or any(p in out.matched for p in _HAIR_PHRASES)
    if asks_hair and attrs.get("head") in COVERS_HAIR and not head_words & set(out.matched):
        attrs["head"] = "none"
        out.notes.append("no hood or helmet, so the hair asked for shows")
    left = [w for w, u in zip(words, used) if not u and w not in STOP]
    if left and meaning:
        found = _by_meaning(left)
        if found is None:
            out.notes.append("the prompt's meaning matcher (MiniLM) is not installed")
        else:
            for w, entry in found.items():
                for k, v in PHRASES[entry].items():
                    attrs.setdefault(k, v)
                out.by_meaning[w] = entry
            left = [w for w in left if w not in found]
    out.unknown = list(dict.fromkeys(left))
    out.attrs = attrs
    return out


_enc_lock = threading.Lock()
_enc: list[object] = []
_table: list[tuple[list[str], object]] = []


def _encoder():
    with _enc_lock:
        if not _enc:
            try:
                from genstudio.generators.text_encoder import TextEncoder

                _enc.append(TextEncoder())
            except Exception:  # noqa: BLE001 - no encoder: the meaning step is skipped
                _enc.append(None)
        return _enc[0]


def _by_meaning(words: list[str]) -> dict[str, str] | None:
    """word -> the phrase-table entry it means, for the words close enough to one."""
    enc = _encoder()
    if enc is None:
        return None
    import numpy as np

    with _enc_lock:
        if not _table:
            keys = [p for p in PHRASES if p not in SEX_WORDS]
            vecs = enc.encode([f"a {k}" for k in keys]).vectors  # type: ignore[attr-defined]
            _table.append((keys, vecs))
        keys, vecs = _table[0]
    q = enc.encode([f"a {w}" for w in words]).vectors  # type: ignore[attr-defined]
    sims = q @ np.asarray(vecs).T
    out = {}
    for w, row in zip(words, sims):
        j = int(np.argmax(row))
        if float(row[j]) >= MEANING_THRESHOLD:
            out[w] = keys[j]
    return out
