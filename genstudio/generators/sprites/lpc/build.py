"""Build GenStudio's LPC content pack (``resources/content/lpc``) from the Universal LPC layers.

``python -m genstudio.generators.sprites.lpc.build [SRC] [OUT]`` (defaults
``../shared/data/lpc-universal`` and ``resources/content/lpc``) writes:

* ``layers/<n>.png`` - one PNG per distinct drawing (RGBA, 832 x 1344);
* ``catalog.json`` - every upstream layer: its slot, body type, name, colour, which LPC rows it
  draws, and how to make it from a drawing: the drawing itself, or the drawing with a colour
  table applied (most LPC colour variants - 1,800 hair files, skins, capes - are palette swaps
  of one drawing, so the pack keeps one drawing and the table, about 1/15 of the bytes);
* the license texts and AUTHORS.txt of the upstream folder.

Every variant is rebuilt and compared with the upstream file pixel for pixel before it is
written as a table; a layer whose colours do not map one-to-one is kept as its own drawing.
Oversize weapons (192 px frames, slash/thrust only) and the hair "shadows-*" overlays are left
out. Deterministic: the same folder gives the same pack.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.generators.sprites.lpc.catalog import apply_table, rgba_keys

W, H, FRAME = 832, 1344, 64
ROWS = H // FRAME

# path prefix -> slot (first match wins); the compositing order is lpc.catalog.SLOT_ORDER
SLOT_RULES: tuple[tuple[str, str], ...] = (
    ("behind_body/cape", "cape_back"),
    ("behind_body/equipment/quiver", "quiver"),
    ("body/male/ears", "ears"),
    ("body/female/ears", "ears"),
    ("body/male/eyes", "eyes"),
    ("body/female/eyes", "eyes"),
    ("body/male/nose", "nose"),
    ("body/female/nose", "nose"),
    ("body/", "body"),
    ("facial/", "facial"),
    ("hair/", "hair"),
    ("head/", "head"),
    ("torso/back/wings", "wings"),
    ("torso/back/cape", "cape"),
    ("torso/dress_female/", "dress"),
    ("torso/robes_female", "robe"),
    ("torso/", "torso"),
    ("formal_male_no_th-sh/pants", "legs"),
    ("formal_male_no_th-sh/", "formal"),
    ("legs/", "legs"),
    ("feet/", "feet"),
    ("belt/", "belt"),
    ("hands/", "hands"),
    ("accessories/", "neck"),
    ("weapons/left hand/", "offhand"),
    ("weapons/", "weapon"),
)
SKIP = (re.compile(r"^weapons/oversize/"), re.compile(r"/shadows-[^/]*\.png$"))


def slot_of(rel: str) -> str | None:
    for prefix, slot in SLOT_RULES:
        if rel.startswith(prefix):
            return slot
    return None


def sex_of(rel: str) -> str:
    """'male', 'female' or 'either' from the folder or file name."""
    parts = rel.lower().replace(" ", "_").split("/")
    for p in parts:
        if p in ("male", "female"):
            return p
    stem = parts[-1]
    if re.search(r"(^|_)female(_|\.|$)", stem) or "female" in rel.lower():
        return "female"
    if re.search(r"(^|_)male(_|\.|$)", stem):
        return "male"
    return "either"


def _clean(text: str) -> str:
    text = text.lower().replace(" ", "_").replace("-", "_")
    text = re.sub(r"_?(female|male|no_th_sh|cutoutfor\w+|incomplete|wc_sc_only)", "", text)
    text = re.sub(r"_+", "_", text).strip("_")
    return text


def name_and_colour(rel: str, slot: str) -> tuple[str, str]:
    """A short style name and its colour (or '') of an upstream layer path."""
    parts = rel[: -len(".png")].split("/")
    stem = parts[-1]
    folders = [p for p in parts[:-1] if p.lower() not in ("male", "female", "either")]
    if slot in ("hair", "facial"):
        # hair/<sex>/<style>/<colour>.png ; facial/<sex>/<style>/<colour>.png
        if len(folders) >= 2:
            return _clean(folders[-1]), _clean(stem)
        return _clean(stem), ""
    if slot == "body":
        return "body", _clean(stem)
    if slot in ("ears", "nose"):
        style, _, skin = stem.partition("_")
        return _clean(style), _clean(skin)
    if slot == "eyes":
        return "eyes", _clean(stem)
    if slot in ("cape", "cape_back"):
        kind = _clean(folders[-1]) if folders else "cape"
        colour = _clean(stem.split("_", 1)[1]) if "_" in stem else ""
        return kind, colour
    if slot == "neck" and ("capeclip" in rel or "capetie" in rel):
        kind, _, colour = stem.partition("_")
        return _clean(kind), _clean(colour)
    if slot == "robe":
        return "robe", _clean(stem)
    if slot == "head" and "tiaras" in rel:
        return "tiara", _clean(stem)
    if slot == "belt" and "buckles" in rel:
        return "buckle", _clean(stem)
    if slot == "neck" and "necklaces" in rel:
        return "necklace", _clean(stem)
    if slot == "feet" and "slippers" in rel:
        return "slippers", _clean(stem)
    words = _clean(stem)
    for colour in ("black", "brown", "maroon", "teal", "white", "red", "magenta", "blue"):
        if words.startswith(colour + "_"):
            return words[len(colour) + 1 :], colour
    if folders and folders[-1].lower() in ("gold", "plate", "leather", "chain"):
        return f"{_clean(folders[-1])}_{words}", ""
    return words, ""


def _load(path: Path) -> np.ndarray:
    """An upstream layer through the product's one safe image opener (PNG allow-list)."""
    from genstudio.core.safeimage import pil_to_rgba, read_image_file

    return pil_to_rgba(read_image_file(path, what="LPC layer"))


def rows_drawn(a: np.ndarray) -> list[int]:
    alpha = a[..., 3].reshape(ROWS, FRAME, W)
    return [int(r) for r in range(ROWS) if alpha[r].any()]


def colour_map(ref: np.ndarray, var: np.ndarray) -> list[list[int]] | None:
    """[[ref rgba..., var rgba...], ...] when ``var`` is ``ref`` with its colours swapped
    one-to-one (same transparent pixels), else None."""
    m_ref = ref[..., 3] > 0
    if not np.array_equal(m_ref, var[..., 3] > 0):
        return None
    kr = rgba_keys(ref[m_ref])
    kv = rgba_keys(var[m_ref])
    pairs = np.unique(np.stack([kr, kv], 1), axis=0)
    if len(np.unique(pairs[:, 0])) != len(pairs):
        return None  # one ref colour becomes two colours: not a palette swap
    out = []
    for a, b in pairs.tolist():
        out.append(
            [(a >> s) & 255 for s in (24, 16, 8, 0)] + [(b >> s) & 255 for s in (24, 16, 8, 0)]
        )
    # the fully transparent pixels must stay fully transparent in both
    if not (np.array_equal(ref[~m_ref], var[~m_ref]) or not var[~m_ref].any()):
        return None
    return out


def _encode(a: np.ndarray) -> bytes:
    from genstudio.generators.sprites.export import encode_png

    return encode_png(a)


def build(src: Path, out: Path) -> dict[str, Any]:
    files = sorted(p for p in src.rglob("*.png"))
    layers: list[dict[str, Any]] = []
    drawings: dict[str, np.ndarray] = {}  # file name -> pixels
    groups: dict[tuple[str, bytes], list[str]] = {}  # (folder, alpha hash) -> drawing names
    out_tmp = out.with_name(out.name + ".partial")
    if out_tmp.exists():
        shutil.rmtree(out_tmp)
    (out_tmp / "layers").mkdir(parents=True)
    skipped = []
    for p in files:
        rel = p.relative_to(src).as_posix()
        slot = slot_of(rel)
        if slot is None or any(s.search(rel) for s in SKIP):
            skipped.append(rel)
            continue
        a = _load(p)
        if a.shape != (H, W, 4):
            skipped.append(rel)
            continue
        name, colour = name_and_colour(rel, slot)
        entry: dict[str, Any] = {
            "id": f"{slot}/{sex_of(rel)}/{name}" + (f"/{colour}" if colour else ""),
            "path": rel,
            "slot": slot,
            "sex": sex_of(rel),
            "name": name,
            "colour": colour,
            "rows": rows_drawn(a),
        }
        folder = rel.rsplit("/", 1)[0]
        if slot in ("ears", "nose"):
            folder += "/" + name
        key = (folder, hashlib.sha1(np.packbits(a[..., 3] > 0).tobytes()).digest())
        done = False
        for dname in groups.get(key, []):
            table = colour_map(drawings[dname], a)
            if table is not None and np.array_equal(apply_table(drawings[dname], table), a):
                entry["drawing"] = dname
                entry["colours"] = table
                done = True
                break
        if not done:
            dname = f"{len(drawings):04d}.png"
            drawings[dname] = a
            groups.setdefault(key, []).append(dname)
            (out_tmp / "layers" / dname).write_bytes(_encode(a))
            entry["drawing"] = dname
        layers.append(entry)
    ids = [e["id"] for e in layers]
    dup = {i for i in ids if ids.count(i) > 1}
    for e in layers:  # make ids unique and stable
        if e["id"] in dup:
            e["id"] += "/" + re.sub(r"[^a-z0-9]+", "_", e["path"].lower())[:-4].strip("_")
    catalog = {
        "format": "genstudio-lpc-content",
        "version": 1,
        "source": "Universal LPC Sprite Sheet (makrohn/Universal-LPC-spritesheet @ 29c1d69d0608)",
        "license": "GPL-3.0 OR CC-BY-SA-3.0",
        "frame": FRAME,
        "size": [W, H],
        "layers": layers,
        "skipped": skipped,
    }
    (out_tmp / "catalog.json").write_text(json.dumps(catalog, indent=0) + "\n", encoding="utf-8")
    for name in ("AUTHORS.txt", "gpl-3.0.txt", "cc-by-sa-3.0.txt", "UPSTREAM-README.md"):
        shutil.copyfile(src / name, out_tmp / name)
    if out.exists():
        shutil.rmtree(out)
    out_tmp.rename(out)
    return {"layers": len(layers), "drawings": len(drawings), "skipped": len(skipped)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parents[4]
    src = Path(args[0]) if args else root.parent / "shared" / "data" / "lpc-universal"
    out = Path(args[1]) if len(args) > 1 else root / "resources" / "content" / "lpc"
    print(json.dumps(build(src, out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
