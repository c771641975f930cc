"""The LPC content pack: its catalog of layers, their pixels, and compositing a character.

The pack (``resources/content/lpc``, built by :mod:`.build` from the Universal LPC layers) holds
one PNG per distinct drawing and ``catalog.json``: every upstream layer with its slot, body
type (``male`` / ``female`` / ``either``), style name, colour, and either its own drawing or a
drawing plus a colour table (a palette swap). :func:`compose` stacks one layer per slot in
:data:`SLOT_ORDER` on the 832 x 1344 LPC sheet.

All art here is GPL 3.0 / CC-BY-SA 3.0 (see the pack's AUTHORS.txt and license texts):
:func:`credits_text` is what goes beside every exported sheet.
"""

from __future__ import annotations

import colorsys
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import ModelPackError

FRAME = 64
SHEET_W, SHEET_H = 832, 1344
LICENSE = "GPL-3.0 OR CC-BY-SA-3.0"
LICENSE_TEXT = (
    "The LPC art is licensed CC-BY-SA 3.0 and GPL 3.0 (your choice). You may use it in any "
    "game, also commercially, if you credit the artists (the credits file beside the sheet) "
    "and share the sheet and art made from it under the same license."
)
#: back to front: behind-the-body parts first, weapons last
SLOT_ORDER: tuple[str, ...] = (
    "cape_back",
    "wings",
    "quiver",
    "body",
    "ears",
    "eyes",
    "nose",
    "legs",
    "feet",
    "torso",
    "dress",
    "robe",
    "formal",
    "arms",
    "cape",
    "belt",
    "neck",
    "facial",
    "hair",
    "head",
    "hands",
    "offhand",
    "weapon",
)


def default_pack_dir() -> Path:
    from genstudio.core.paths import resources_dir

    return resources_dir() / "content" / "lpc"


@dataclass(frozen=True)
class Layer:
    id: str
    path: str  # upstream path, for the credits
    slot: str
    sex: str
    name: str
    colour: str
    rows: tuple[int, ...]
    drawing: str
    colours: tuple[tuple[int, ...], ...] = ()

    def fits(self, sex: str) -> bool:
        return self.sex in ("either", sex)


@dataclass
class Catalog:
    root: Path
    layers: list[Layer]
    by_id: dict[str, Layer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {la.id: la for la in self.layers}

    def find(
        self, slot: str, sex: str, name: str | None = None, colour: str | None = None
    ) -> list[Layer]:
        """Layers of ``slot`` that fit ``sex`` (exact sex first), by name and colour."""
        out = [
            la
            for la in self.layers
            if la.slot == slot
            and la.fits(sex)
            and (name is None or la.name == name)
            and (colour is None or la.colour == colour)
        ]
        out.sort(key=lambda la: (la.sex != sex, la.id))
        return out

    def names(self, slot: str, sex: str | None = None) -> list[str]:
        return sorted(
            {la.name for la in self.layers if la.slot == slot and (sex is None or la.fits(sex))}
        )

    def colours(self, slot: str, name: str, sex: str) -> list[str]:
        return sorted({la.colour for la in self.find(slot, sex, name)})

    def pixels(self, layer: Layer) -> np.ndarray:
        """(1344, 832, 4) uint8, read-only."""
        return _pixels(str(self.root), layer.drawing, layer.colours)


_lock = threading.Lock()
_catalogs: dict[str, Catalog] = {}


def load(root: str | Path | None = None) -> Catalog:
    path = Path(root) if root else default_pack_dir()
    key = str(path.resolve())
    with _lock:
        if key not in _catalogs:
            cat_file = path / "catalog.json"
            try:
                doc = json.loads(cat_file.read_text(encoding="utf-8"))
                if doc.get("format") != "genstudio-lpc-content":
                    raise ValueError("not a GenStudio LPC content catalog")
                layers = [
                    Layer(
                        id=str(e["id"]),
                        path=str(e["path"]),
                        slot=str(e["slot"]),
                        sex=str(e["sex"]),
                        name=str(e["name"]),
                        colour=str(e["colour"]),
                        rows=tuple(int(r) for r in e["rows"]),
                        drawing=str(e["drawing"]),
                        colours=tuple(tuple(int(v) for v in c) for c in e.get("colours", ())),
                    )
                    for e in doc["layers"]
                ]
            except FileNotFoundError as e:
                raise ModelPackError(
                    f"The LPC content is not installed ({cat_file} is missing).",
                    hint="Reinstall GenStudio, or pick the GenStudio style.",
                ) from e
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ModelPackError(
                    f"The LPC content at {path} is damaged ({e}).",
                    hint="Reinstall GenStudio, or pick the GenStudio style.",
                ) from e
            _catalogs[key] = Catalog(path, _rename_arms(layers))
        return _catalogs[key]


def _rename_arms(layers: list[Layer]) -> list[Layer]:
    """Arm and shoulder armour goes over the torso layer, so it gets its own slot."""
    out = []
    for la in layers:
        if la.slot == "torso" and la.name in ("plate_arms", "gold_arms", "leather_shoulders"):
            la = Layer(**{**la.__dict__, "slot": "arms"})
        out.append(la)
    return out


@lru_cache(maxsize=48)
def _drawing(root: str, drawing: str) -> np.ndarray:
    from genstudio.core.safeimage import open_image, pil_to_rgba

    path = Path(root) / "layers" / drawing
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelPackError(
            f"An LPC layer is missing ({path}).", hint="Reinstall GenStudio."
        ) from e
    a = pil_to_rgba(open_image(data, label="An LPC layer"))
    if a.shape != (SHEET_H, SHEET_W, 4):
        raise ModelPackError(f"The LPC layer {path} is not an 832 x 1344 sheet.")
    a.setflags(write=False)
    return a


@lru_cache(maxsize=96)
def _pixels(root: str, drawing: str, colours: tuple[tuple[int, ...], ...]) -> np.ndarray:
    ref = _drawing(root, drawing)
    if not colours:
        return ref
    out = apply_table(ref, colours)
    out.setflags(write=False)
    return out


def rgba_keys(px: np.ndarray) -> np.ndarray:
    """(..., 4) uint8 RGBA -> one uint32 per pixel (for colour tables and lookups)."""
    p = px.astype(np.uint32)
    return (p[..., 0] << 24) | (p[..., 1] << 16) | (p[..., 2] << 8) | p[..., 3]


def apply_table(ref: np.ndarray, table: Sequence[Sequence[int]]) -> np.ndarray:
    """``ref`` with each colour (RGBA) in ``table[i][:4]`` replaced by ``table[i][4:]``."""
    out = ref.copy()
    m = ref[..., 3] > 0
    key = rgba_keys(ref[m])
    t = np.asarray(table, np.uint32)
    tk = rgba_keys(t[:, :4])
    order = np.argsort(tk)
    pos = np.clip(np.searchsorted(tk[order], key), 0, len(tk) - 1)
    idx = order[pos]
    hit = tk[idx] == key
    px = ref[m].copy()
    px[hit] = t[idx[hit], 4:8].astype(np.uint8)
    out[m] = px
    return out


def recolour(px: np.ndarray, rgb: tuple[int, int, int], *, keep_dark: float = 0.13) -> np.ndarray:
    """Recolour a layer to ``rgb`` keeping its shading: every colour keeps its lightness
    relative to the layer's mean lightness and takes the target's hue and saturation; the
    near-black outline colours (lightness < ``keep_dark``) stay as drawn."""
    out = px.copy()
    m = px[..., 3] > 0
    if not m.any():
        return out
    cols, inv, counts = np.unique(px[m][:, :3], axis=0, return_inverse=True, return_counts=True)
    hls = np.array([colorsys.rgb_to_hls(*(c / 255.0)) for c in cols])
    th, tl, ts = colorsys.rgb_to_hls(*(np.array(rgb) / 255.0))
    shade = hls[:, 1] >= keep_dark
    if not shade.any():
        return out
    mean_l = float(np.average(hls[shade, 1], weights=counts[shade]))
    new = cols.astype(np.float64) / 255.0
    for i in np.flatnonzero(shade):
        li = float(np.clip(tl + (hls[i, 1] - mean_l) * 1.1, 0.08, 0.97))
        new[i] = colorsys.hls_to_rgb(th, li, ts)
    new8 = np.clip(np.rint(new * 255), 0, 255).astype(np.uint8)
    sel = px[m].copy()
    sel[:, :3] = new8[inv.reshape(-1)]
    out[m] = sel
    return out


@dataclass(frozen=True)
class Pick:
    """One layer of a character, optionally recoloured to ``tint``."""

    layer: Layer
    tint: tuple[int, int, int] | None = None


def compose(cat: Catalog, picks: Iterable[Pick]) -> np.ndarray:
    """Alpha-composite the picks in :data:`SLOT_ORDER` -> (1344, 832, 4) uint8."""
    order = {s: i for i, s in enumerate(SLOT_ORDER)}
    ordered = sorted(picks, key=lambda p: order.get(p.layer.slot, len(order)))
    out = np.zeros((SHEET_H, SHEET_W, 4), np.uint8)
    for p in ordered:
        src = cat.pixels(p.layer)
        if p.tint is not None:
            src = recolour(np.asarray(src), p.tint)
        a = src[..., 3]
        full = a == 255
        out[full] = src[full]
        part = (a > 0) & ~full
        if part.any():
            sa = a[part].astype(np.float32)[:, None] / 255.0
            da = out[part][:, 3:4].astype(np.float32) / 255.0
            oa = sa + da * (1 - sa)
            rgb = (src[part][:, :3] * sa + out[part][:, :3] * da * (1 - sa)) / np.maximum(oa, 1e-6)
            out[part] = np.concatenate([rgb, oa * 255], 1).round().clip(0, 255).astype(np.uint8)
    return out


def credits_text(layers: Sequence[Layer], root: Path | None = None) -> str:
    """The credits file for a sheet made of ``layers``: the layers used, the license and the
    artists of the Universal LPC Sprite Sheet (its AUTHORS.txt, verbatim)."""
    cat_root = root or default_pack_dir()
    try:
        authors = (cat_root / "AUTHORS.txt").read_text(encoding="utf-8-sig").strip()
    except OSError:
        authors = "(AUTHORS.txt of the Universal LPC Sprite Sheet)"
    used = "\n".join(f"- {la.path}" for la in sorted(layers, key=lambda la: la.path))
    return (
        "Credits for this sprite sheet\n"
        "=============================\n\n"
        "Made with GenStudio from the Universal LPC Sprite Sheet\n"
        "(https://github.com/makrohn/Universal-LPC-spritesheet, commit 29c1d69d0608),\n"
        "art of the Liberated Pixel Cup (https://lpc.opengameart.org) and its contributors.\n\n"
        f"License: {LICENSE}. {LICENSE_TEXT}\n"
        "License texts: https://creativecommons.org/licenses/by-sa/3.0/ and\n"
        "https://www.gnu.org/licenses/gpl-3.0.html (copies ship with GenStudio in\n"
        "resources/content/lpc).\n\n"
        f"Layers used in this sheet:\n{used}\n\n"
        "Artists (AUTHORS.txt of the Universal LPC Sprite Sheet):\n\n"
        f"{authors}\n"
    )


def artists(root: Path | None = None) -> list[str]:
    """The artist names of AUTHORS.txt (the lines underlined with dashes)."""
    cat_root = root or default_pack_dir()
    try:
        lines = (cat_root / "AUTHORS.txt").read_text(encoding="utf-8-sig").splitlines()
    except OSError:
        return []
    return [
        lines[i - 1].strip()
        for i in range(1, len(lines))
        if lines[i].strip() and set(lines[i].strip()) == {"-"} and lines[i - 1].strip()
    ]


def describe(layers: Sequence[Layer]) -> list[dict[str, Any]]:
    return [{"id": la.id, "path": la.path} for la in layers]
