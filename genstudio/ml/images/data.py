"""Training data for the built-in image model: permissively licensed emoji icon sets, 64x64 RGBA.

Everything arrives through the npm registry at dataset-build time (never at run time):

* icon sets in Iconify JSON (each icon an SVG body): ``@iconify-json/fluent-emoji-flat`` (MIT,
  Microsoft Fluent Emoji), ``@iconify-json/noto`` and ``@iconify-json/noto-v1`` (Apache-2.0,
  Google Noto Emoji, current and first design), ``@iconify-json/fxemoji`` (Apache-2.0, Mozilla
  FxEmoji) - four drawing styles of the same emoji;
* ``@iconify-json/flag`` (MIT, lipis/flag-icons): the country and subdivision flags (4:3), which
  none of the emoji sets above draws - joined to emojibase through the ISO code (``us`` ->
  regional indicators U+1F1FA U+1F1F8, ``gb-eng`` -> the England tag sequence);
* ``@iconify-json/twemoji`` (CC BY 4.0, attributed in the pack and the About box): only the
  emoji components - the five skin-tone swatches and four hair styles - which no set above
  draws (:data:`TWEMOJI_COMPONENTS`);
* ``emojibase-data`` (MIT): for every emoji its CLDR label ("red apple"), tags ("fruit",
  "red", ...), group and subgroup ("food-fruit") - the captions and the categories.

An icon is joined to emojibase by its code points (the icon set's ``chars.json``); icons with
no emoji (logos, variants) and skin-tone variants (which would make people dominate the data)
are left out; ``index.json`` counts every skip. Each SVG is rasterised by resvg (``resvg-py``)
to 64x64 RGBA (straight alpha).

Captions: per icon :data:`N_CAPTIONS` variants, e.g. for Fluent's red apple::

    red apple
    red apple, food fruit
    red apple, fluent style
    red apple, fruit, ripe, food fruit, fluent style

(tags drawn with a seeded generator). Each caption is embedded at build time with the same int8
MiniLM encoder the app uses (``generators.text_encoder``) -> ``text.npz``.

Splits are by emoji, not by icon: ``sha1(hexcode)`` -> train (90%) / heldout (10%), so the four
drawings of one emoji are on the same side and held-out emoji are concepts the model never saw.
The category of an icon (for the eval's classifier) is its emoji subgroup.

Cache layout (written atomically, ``index.json`` last with the hashes of the arrays)::

    <out>/images.npz   rgba (N, 64, 64, 4) uint8
    <out>/text.npz     emb (N, N_CAPTIONS, 384) float16
    <out>/index.json   sources (package, version, license, tarball sha256), items, skips

    python -m genstudio.ml.images.data build OUT [--npm-dir DIR]
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_bytes, atomic_write_json, read_json

log = logging.getLogger(__name__)

FORMAT = "genstudio-image-data"
CACHE_VERSION = 3
SIZE = 64
N_CAPTIONS = 4
SKIN_TONES = ("1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff")

#: (npm package, version, style word, licence, upstream)
ICON_SETS: tuple[tuple[str, str, str, str, str], ...] = (
    ("@iconify-json/fluent-emoji-flat", "1.2.6", "fluent", "MIT", "microsoft/fluentui-emoji"),
    ("@iconify-json/noto", "1.2.9", "noto", "Apache-2.0", "googlefonts/noto-emoji"),
    ("@iconify-json/noto-v1", "1.2.5", "noto-v1", "Apache-2.0", "googlefonts/noto-emoji"),
    ("@iconify-json/fxemoji", "1.2.2", "fxemoji", "Apache-2.0", "mozilla/fxemoji"),
)
#: flags (none of the emoji sets above has them), joined through ISO codes
FLAG_SET = ("@iconify-json/flag", "1.2.12", "flag-icons", "MIT", "lipis/flag-icons")
#: the emoji components only (skin-tone swatches, hair styles), joined by these names
TWEMOJI = ("@iconify-json/twemoji", "1.2.5", "twemoji", "CC-BY-4.0", "jdecked/twemoji")
TWEMOJI_COMPONENTS = {
    "light-skin-tone": "1f3fb",
    "medium-light-skin-tone": "1f3fc",
    "medium-skin-tone": "1f3fd",
    "medium-dark-skin-tone": "1f3fe",
    "dark-skin-tone": "1f3ff",
    "red-haired": "1f9b0",
    "curly-haired": "1f9b1",
    "bald": "1f9b2",
    "white-haired": "1f9b3",
}
TWEMOJI_ATTRIBUTION = (
    "Twemoji graphics (skin-tone and hair-style components in the image model's training data) "
    "Copyright Twitter, Inc and other contributors, CC BY 4.0"
)
#: monochrome game icons (weapons, potions, chests, creatures ...), coloured at build time
GAME_ICONS = ("@iconify-json/game-icons", "1.2.4", "game-icons", "CC-BY-3.0", "game-icons/icons")
GAME_ICONS_ATTRIBUTION = (
    "Game icons from game-icons.net by Lorc, Delapouite and contributors, CC BY 3.0 "
    "(coloured and outlined by GenStudio)"
)
#: names with no drawable meaning (numbered abstract shapes)
_GAME_SKIP = re.compile(r"^(abstract|rank)-\d+$")
#: (colour word, RGB) - the fill of a game icon whose name has none of the keywords below
GAME_PALETTE: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (214, 48, 49)),
    ("orange", (235, 130, 40)),
    ("yellow", (240, 200, 40)),
    ("green", (60, 170, 70)),
    ("blue", (50, 110, 215)),
    ("purple", (140, 70, 190)),
    ("brown", (140, 90, 50)),
    ("grey", (130, 138, 150)),
)
_PAL = dict(GAME_PALETTE)
#: the colour a game icon is drawn in when its name says what it is made of (first match wins)
GAME_COLOURS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gold", "golden", "coin", "coins", "crown", "trophy", "key", "treasure", "sun"), "yellow"),
    (("fire", "flame", "flaming", "burning", "lava", "torch", "carrot", "pumpkin"), "orange"),
    (("health", "blood", "heart", "apple", "strawberry", "cherry", "rose", "meat", "ruby"), "red"),
    (("mana", "ice", "frost", "frozen", "water", "wave", "drop", "sapphire", "crystal"), "blue"),
    (
        (
            "tree",
            "leaf",
            "oak",
            "pine",
            "plant",
            "herb",
            "grass",
            "forest",
            "bush",
            "cactus",
            "frog",
            "snake",
            "emerald",
            "slime",
            "goblin",
            "orc",
            "clover",
            "vine",
        ),
        "green",
    ),
    (
        ("poison", "magic", "potion", "wizard", "mage", "witch", "spell", "amethyst", "ghost"),
        "purple",
    ),
    (
        (
            "wood",
            "wooden",
            "chest",
            "barrel",
            "bow",
            "staff",
            "club",
            "log",
            "bread",
            "boot",
            "boots",
            "leather",
            "bag",
            "sack",
            "horse",
            "bear",
            "dog",
            "door",
            "crate",
        ),
        "brown",
    ),
    (
        (
            "sword",
            "axe",
            "dagger",
            "blade",
            "spear",
            "mace",
            "hammer",
            "shield",
            "armor",
            "helmet",
            "knight",
            "iron",
            "steel",
            "anvil",
            "gear",
            "castle",
            "tower",
            "stone",
            "rock",
            "skull",
            "robot",
            "pickaxe",
            "arrow",
            "scythe",
            "trident",
            "halberd",
            "lance",
            "katana",
        ),
        "grey",
    ),
)
#: coarse kinds of game icon (the eval judge's categories); first match wins
GAME_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "weapon",
        (
            "sword",
            "axe",
            "dagger",
            "blade",
            "spear",
            "mace",
            "hammer",
            "bow",
            "arrow",
            "gun",
            "pistol",
            "rifle",
            "scythe",
            "trident",
            "halberd",
            "lance",
            "katana",
            "flail",
            "whip",
            "club",
            "saber",
            "sabre",
            "crossbow",
            "knife",
            "shuriken",
        ),
    ),
    (
        "armour",
        ("shield", "armor", "helmet", "helm", "gauntlet", "boot", "boots", "breastplate", "mail"),
    ),
    ("potion", ("potion", "flask", "vial", "bottle", "elixir")),
    (
        "treasure",
        (
            "chest",
            "coin",
            "coins",
            "gem",
            "crown",
            "treasure",
            "jewel",
            "ring",
            "key",
            "trophy",
            "gold",
        ),
    ),
    (
        "creature",
        (
            "dragon",
            "monster",
            "wolf",
            "bear",
            "spider",
            "snake",
            "bird",
            "fish",
            "cat",
            "dog",
            "horse",
            "beast",
            "demon",
            "skull",
            "ghost",
            "goblin",
            "orc",
            "troll",
            "head",
            "bat",
            "insect",
            "beetle",
            "worm",
        ),
    ),
    (
        "plant",
        (
            "tree",
            "leaf",
            "oak",
            "pine",
            "plant",
            "herb",
            "flower",
            "mushroom",
            "grass",
            "rose",
            "bush",
            "cactus",
            "fruit",
            "apple",
        ),
    ),
    (
        "building",
        (
            "castle",
            "tower",
            "house",
            "church",
            "temple",
            "hut",
            "wall",
            "bridge",
            "gate",
            "door",
            "fort",
            "tent",
            "village",
            "windmill",
        ),
    ),
    ("magic", ("magic", "spell", "wand", "staff", "orb", "rune", "scroll", "book")),
)

ALL_SETS = (*ICON_SETS, FLAG_SET, TWEMOJI)


def _names_any(name: str, keys: tuple[str, ...]) -> bool:
    """Whether a hyphenated icon name has one of ``keys`` as a word or, for keys of 4+ letters,
    as a word's ending (``broadsword`` is a sword, ``monkey`` is not a key)."""
    words = name.split("-")
    return any(w == k or (len(k) >= 4 and w.endswith(k)) for w in words for k in keys)


def game_colour(name: str, rng: np.random.Generator) -> tuple[str, tuple[int, int, int]]:
    """The (colour word, RGB) a game icon is drawn in: from its name when the name says (gold
    coin, oak tree, health potion), otherwise a seeded pick of :data:`GAME_PALETTE`."""
    for keys, colour in GAME_COLOURS:
        if _names_any(name, keys):
            return colour, _PAL[colour]
    word, rgb = GAME_PALETTE[int(rng.integers(len(GAME_PALETTE)))]
    return word, rgb


def game_kind(name: str) -> str:
    for kind, keys in GAME_KINDS:
        if _names_any(name, keys):
            return f"game-{kind}"
    return "game-other"


def colour_game_icon(mask: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """A monochrome icon (its rasterised alpha, (H, W) uint8) -> straight RGBA: filled with
    ``rgb``, a 1-pixel dark outline of the same hue outside it, and a soft top-left highlight,
    so it reads like a coloured game icon on any background rather than a flat stencil."""
    a = mask.astype(np.float32) / 255.0
    grown = a.copy()
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)):
        grown = np.maximum(grown, np.roll(np.roll(a, dy, 0), dx, 1))
    h, w = a.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 1.12 - 0.24 * (xx + yy) / (h + w - 2)  # lighter top-left, darker bottom-right
    fill = np.clip(np.array(rgb, np.float32)[None, None] * shade[..., None], 0, 255)
    dark = np.array(rgb, np.float32) * 0.3
    # where the icon is, its fill; in the added rim, the dark outline
    out_rgb = fill * a[..., None] + dark[None, None] * (grown - a)[..., None]
    alpha = np.maximum(a, grown)
    rgb_s = np.where(alpha[..., None] > 0, out_rgb / np.maximum(alpha, 1e-6)[..., None], 0)
    return np.dstack([np.clip(rgb_s, 0, 255), alpha * 255]).round().astype(np.uint8)


def game_captions(label: str, colour: str, kind: str) -> list[str]:
    k = kind.removeprefix("game-")
    coloured = label if colour in label.split() else f"{colour} {label}"
    return [label, f"{label}, game icon", coloured, f"{coloured}, {k}, game-icons style"]


EMOJIBASE = ("emojibase-data", "17.0.0", "MIT")
_FLAG_NAME = re.compile(r"^([a-z]{2})(?:-(eng|sct|wls))?-4x3$")


def _tarball_name(package: str, version: str) -> str:
    return f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"


def fetch(npm_dir: Path) -> dict[str, Path]:
    """The npm tarballs in ``npm_dir`` (``npm pack`` fetches a missing one; build time only)."""
    npm_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for package, version, *_ in (*ALL_SETS, GAME_ICONS, EMOJIBASE):
        path = npm_dir / _tarball_name(package, version)
        if not path.exists():
            log.info("npm pack %s@%s", package, version)
            subprocess.run(
                ["npm", "pack", "-q", f"{package}@{version}", "--pack-destination", str(npm_dir)],
                check=True,
                capture_output=True,
            )
        out[package] = path
    return out


def _members(tgz: Path, names: tuple[str, ...]) -> dict[str, Any]:
    with tarfile.open(tgz, "r:gz") as tar:
        got = {}
        for name in names:
            f = tar.extractfile(f"package/{name}")
            if f is None:
                raise RuntimeError(f"{tgz.name} has no {name}")
            got[name] = json.loads(f.read().decode("utf-8"))
        return got


def caption_variants(
    label: str, tags: list[str], subgroup: str, style: str, rng: np.random.Generator
) -> list[str]:
    sub = subgroup.replace("-", " ")
    pool = [t for t in tags if t.lower() not in label.lower().split()]
    k = min(len(pool), int(rng.integers(1, 4))) if pool else 0
    picked = [pool[i] for i in sorted(rng.choice(len(pool), k, replace=False))] if k else []
    return [
        label,
        f"{label}, {sub}",
        f"{label}, {style} style",
        ", ".join([label, *picked, sub, f"{style} style"]),
    ]


def rasterize(svg: str, size: int = SIZE) -> np.ndarray:
    """(size, size, 4) uint8 straight-alpha RGBA of an SVG document."""
    import resvg_py

    from genstudio.core.safeimage import open_image, pil_to_rgba

    png = bytes(resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size))
    return pil_to_rgba(open_image(png, label="A rasterised icon"))


def _svg(body: str, width: int, height: int, left: int = 0, top: int = 0) -> str:
    """A square document around an icon body (a non-square icon is centred, not stretched)."""
    side = max(width, height)
    left -= (side - width) / 2
    top -= (side - height) / 2
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{side}" height="{side}" viewBox="{left:g} {top:g} {side} {side}">{body}</svg>'
    )


#: how each source is credited (the pack's attribution, the About box, the model card)
CREDITS = {
    "@iconify-json/fluent-emoji-flat": "Microsoft Fluent Emoji (MIT)",
    "@iconify-json/noto": "Google Noto Emoji (Apache-2.0)",
    "@iconify-json/noto-v1": "Google Noto Emoji, first design (Apache-2.0)",
    "@iconify-json/fxemoji": "Mozilla FxEmoji (Apache-2.0)",
    FLAG_SET[0]: "flag-icons by Panayiotis Lipiridis (MIT)",
    TWEMOJI[0]: TWEMOJI_ATTRIBUTION,
    GAME_ICONS[0]: GAME_ICONS_ATTRIBUTION,
}


def attribution(index: dict[str, Any]) -> str:
    """One sentence crediting every source a data cache was built from."""
    arts = [CREDITS.get(s["package"], f"{s['package']} ({s['license']})") for s in index["sources"]]
    return (
        f"Trained by GenStudio on emoji and game-icon artwork: {'; '.join(arts)}; labels and tags from "
        "emojibase-data (MIT); text encoder all-MiniLM-L6-v2 (Apache-2.0)."
    )


def flag_hexcode(name: str) -> str | None:
    """The emoji of a flag-icons name: ``us-4x3`` -> ``1f1fa-1f1f8``, ``gb-sct-4x3`` -> the
    Scotland tag sequence; None for anything else (square variants, regions without an emoji)."""
    m = _FLAG_NAME.match(name)
    if m is None:
        return None
    iso, sub = m.groups()
    if sub is None:
        return "-".join(f"{0x1F1E6 + ord(c) - ord('a'):x}" for c in iso)
    if iso != "gb":
        return None
    tags = "-".join(f"{0xE0000 + ord(c):x}" for c in iso + sub)
    return f"1f3f4-{tags}-e007f"


def _icon_codepoints(package, icons, chars, known_names):
    """(name, icon, hexcode or None) for every icon of a set, joined as the module doc says."""
    if package == FLAG_SET[0]:
        every = dict(icons["icons"])
        for name, alias in (icons.get("aliases") or {}).items():
            if alias.get("parent") in icons["icons"]:
                every[name] = icons["icons"][alias["parent"]]
        for name, icon in sorted(every.items()):
            yield name, icon, flag_hexcode(name)
        return
    if package == TWEMOJI[0]:
        for name, cp in TWEMOJI_COMPONENTS.items():
            if name in icons["icons"]:
                yield name, icons["icons"][name], cp
        return
    name_to_hex: dict[str, str] = {}
    for cp, name in chars.items():
        name_to_hex.setdefault(name, cp.lower())
    # sets without chars.json (noto-v1, fxemoji) are joined by icon name through the
    # names of the sets that have one (fxemoji writes them without hyphens)
    for name, cp in name_to_hex.items():
        known_names.setdefault(name, cp)
        known_names.setdefault(name.replace("-", ""), cp)
    if not chars:
        name_to_hex = known_names
    for name, icon in icons["icons"].items():
        yield name, icon, name_to_hex.get(name)


def split_of(hexcode: str) -> str:
    return "heldout" if hashlib.sha1(hexcode.encode()).digest()[0] % 10 == 0 else "train"


def build(out: Path, npm_dir: Path | None = None, *, encoder=None, limit: int | None = None):
    """Build (or check) the cache in ``out``; returns the index dict."""
    out.mkdir(parents=True, exist_ok=True)
    npm_dir = npm_dir or out / "npm"
    tarballs = fetch(npm_dir)
    config = {"size": SIZE, "captions": N_CAPTIONS, "limit": limit}
    idx_path = out / "index.json"
    if idx_path.exists():
        idx = read_json(idx_path, what="image data index")
        if idx.get("version") == CACHE_VERSION and idx.get("config") == config:
            return idx
    t0 = time.time()
    eb = _members(tarballs[EMOJIBASE[0]], ("en/data.json", "meta/groups.json"))
    groups = eb["meta/groups.json"]
    by_hex = {e["hexcode"].lower(): e for e in eb["en/data.json"]}
    rng = np.random.Generator(np.random.PCG64(20261124))
    items, images, skips = [], [], {}
    known_names: dict[str, str] = {}
    sources = []

    def skip(why: str) -> None:
        skips[why] = skips.get(why, 0) + 1

    for package, version, style, licence, upstream in ALL_SETS:
        tgz = tarballs[package]
        sources.append(
            {
                "package": package,
                "version": version,
                "license": licence,
                "upstream": upstream,
                "tarball_sha256": hashlib.sha256(tgz.read_bytes()).hexdigest(),
            }
        )
        got = _members(tgz, ("icons.json", "chars.json"))
        icons, chars = got["icons.json"], got["chars.json"]
        w0, h0 = int(icons.get("width", 16)), int(icons.get("height", 16))
        n_set = 0
        for name, icon, cp in _icon_codepoints(package, icons, chars, known_names):
            if cp is None:
                skip("no_codepoint")
                continue
            if cp not in SKIN_TONES and any(t in cp for t in SKIN_TONES):
                skip("skin_tone_variant")
                continue
            e = by_hex.get(cp) or by_hex.get(cp.replace("-fe0f", ""))
            if e is None or "subgroup" not in e:
                skip("not_in_emojibase")
                continue
            svg = _svg(
                icon["body"],
                int(icon.get("width", w0)),
                int(icon.get("height", h0)),
                int(icon.get("left", 0)),
                int(icon.get("top", 0)),
            )
            try:
                rgba = rasterize(svg)
            except ValueError:
                skip("svg_render_failed")
                continue
            if rgba[..., 3].max() == 0:
                skip("empty_render")
                continue
            subgroup = groups["subgroups"][str(e["subgroup"])]
            group = groups["groups"][str(e["group"])]
            label = e["label"]
            tags = list(e.get("tags") or [])
            items.append(
                {
                    "set": package,
                    "style": style,
                    "name": name,
                    "hexcode": e["hexcode"],
                    "label": label,
                    "tags": tags,
                    "group": group,
                    "subgroup": subgroup,
                    "license": licence,
                    "split": split_of(e["hexcode"].lower()),
                    "captions": caption_variants(label, tags, subgroup, style, rng),
                }
            )
            images.append(rgba)
            n_set += 1
            if limit and n_set >= limit:
                break
        log.info("%s: %d icons", package, n_set)
    sources.append(_add_game_icons(tarballs[GAME_ICONS[0]], items, images, skip, limit))
    rgba = np.stack(images)
    buf = io.BytesIO()
    np.savez_compressed(buf, rgba=rgba)
    atomic_write_bytes(out / "images.npz", buf.getvalue())
    if encoder is None:
        encoder = default_encoder()
    caps = [c for it in items for c in it["captions"]]
    emb = encoder.encode(caps).vectors.reshape(len(items), N_CAPTIONS, -1).astype(np.float16)
    buf = io.BytesIO()
    np.savez(buf, emb=emb)
    atomic_write_bytes(out / "text.npz", buf.getvalue())
    categories = sorted({it["subgroup"] for it in items})
    idx = {
        "format": FORMAT,
        "version": CACHE_VERSION,
        "config": config,
        "sources": sources,
        "emojibase": {
            "package": EMOJIBASE[0],
            "version": EMOJIBASE[1],
            "license": EMOJIBASE[2],
            "tarball_sha256": hashlib.sha256(tarballs[EMOJIBASE[0]].read_bytes()).hexdigest(),
        },
        "categories": categories,
        "items": items,
        "skips": skips,
        "files": {
            n: hashlib.sha256((out / n).read_bytes()).hexdigest()
            for n in ("images.npz", "text.npz")
        },
        "build_s": round(time.time() - t0, 1),
    }
    atomic_write_json(idx_path, idx)
    return idx


def _add_game_icons(tgz: Path, items: list, images: list, skip, limit: int | None) -> dict:
    """Append the game icons (coloured as :func:`colour_game_icon` says) to ``items``/``images``;
    returns the source record. Captions come from the icon name (``health-potion`` -> "health
    potion"), split by name like emoji (all on one side)."""
    package, version, style, licence, upstream = GAME_ICONS
    got = _members(tgz, ("icons.json",))["icons.json"]
    w0, h0 = int(got.get("width", 512)), int(got.get("height", 512))
    rng = np.random.Generator(np.random.PCG64(20261203))
    n = 0
    for name, icon in sorted(got["icons"].items()):
        if _GAME_SKIP.match(name):
            skip("game_icon_abstract")
            continue
        body = icon["body"].replace("currentColor", "#000")
        svg = _svg(
            body,
            int(icon.get("width", w0)),
            int(icon.get("height", h0)),
            int(icon.get("left", 0)),
            int(icon.get("top", 0)),
        )
        try:
            mask = rasterize(svg)[..., 3]
        except ValueError:
            skip("svg_render_failed")
            continue
        if mask.max() == 0:
            skip("empty_render")
            continue
        colour, rgb = game_colour(name, rng)
        kind = game_kind(name)
        label = name.replace("-", " ")
        items.append(
            {
                "set": package,
                "style": style,
                "name": name,
                "hexcode": f"game-icons:{name}",
                "label": label,
                "tags": [colour],
                "group": "game-icons",
                "subgroup": kind,
                "license": licence,
                "split": split_of(name),
                "captions": game_captions(label, colour, kind),
            }
        )
        images.append(colour_game_icon(mask, rgb))
        n += 1
        if limit and n >= limit:
            break
    log.info("%s: %d icons", package, n)
    return {
        "package": package,
        "version": version,
        "license": licence,
        "upstream": upstream,
        "tarball_sha256": hashlib.sha256(tgz.read_bytes()).hexdigest(),
    }


def default_encoder():
    from genstudio.generators.text_encoder import TextEncoder

    return TextEncoder()


class Dataset:
    """The cache as arrays: ``rgba`` (N,64,64,4) uint8, ``emb`` (N,K,384) float16, ``items``."""

    def __init__(self, root: Path) -> None:
        idx = read_json(root / "index.json", what="image data index")
        if idx.get("format") != FORMAT:
            raise RuntimeError(f"{root} is not an image data cache")
        for name, digest in idx["files"].items():
            if hashlib.sha256((root / name).read_bytes()).hexdigest() != digest:
                raise RuntimeError(f"{root / name} does not match its index (rebuild the cache)")
        self.index = idx
        self.items: list[dict[str, Any]] = idx["items"]
        self.rgba = np.load(root / "images.npz")["rgba"]
        self.emb = np.load(root / "text.npz")["emb"]
        self.categories: list[str] = idx["categories"]
        self.cat_id = {c: i for i, c in enumerate(self.categories)}
        self.labels = np.array([self.cat_id[it["subgroup"]] for it in self.items])

    def split(self, name: str) -> np.ndarray:
        return np.array([i for i, it in enumerate(self.items) if it["split"] == name])


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m genstudio.ml.images.data")
    ap.add_argument("cmd", choices=["build", "stats"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--npm-dir", type=Path)
    ap.add_argument("--limit", type=int)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    idx = build(a.out, a.npm_dir, limit=a.limit) if a.cmd == "build" else None
    idx = idx or read_json(a.out / "index.json")
    items = idx["items"]
    stats = {
        "items": len(items),
        "by_style": {s: sum(it["style"] == s for it in items) for s in {i["style"] for i in items}},
        "by_split": {s: sum(it["split"] == s for it in items) for s in ("train", "heldout")},
        "categories": len(idx["categories"]),
        "heldout_categories": len({it["subgroup"] for it in items if it["split"] == "heldout"}),
        "skips": idx["skips"],
        "build_s": idx.get("build_s"),
    }
    print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
