"""Sprite sheet exports: PNG sheet, Aseprite JSON (hash + array), Godot 4 SpriteFrames, PixiJS
spritesheet JSON, a Unity grid description and single frames - every one derived from the
sheet's :class:`~genstudio.generators.sprites.layout.SheetLayout`.

A sheet is a grid of equal frames; frame (cell) ``i = row * columns + column`` is the Aseprite
frame number. A *track* is one animation in one direction (``walk_down``, ``slash_left``, ...):
a run of cells in one row. The layout says which tracks a sheet has (GenStudio's 6 x 4 grid of
idle + walk, or the Universal LPC 13 x 21 grid plus GenStudio's idle rows); cells of no track
(the LPC rows' unused columns) are still frames of the Aseprite/PixiJS/Unity files, named by
their index, but no animation uses them.

What each engine gets (``<base>`` is the stem, ``<stem>_x<scale>`` for an upscaled export):

* ``png``: ``<base>.png``, RGBA8;
* ``aseprite``: ``<base>.json`` (hash) and ``<base>.array.json`` (array), one ``frameTag`` per
  track named ``<animation>_<direction>``; frames are named by their bare index (Aseprite's
  ``--filename-format {frame}``) because Phaser's ``createFromAseprite`` looks a tag's frames up
  as ``String(index)``;
* ``godot``: ``<base>.tres``, a Godot 4 ``SpriteFrames`` with one animation per track;
* ``pixi``: ``<base>.pixi.json``, the TexturePacker hash format PixiJS v8's ``Spritesheet``
  reads, with frame names unique per sheet (``<base>/<animation>_<direction>_<n>``) so several
  sheets can be loaded at once, and an ``animations`` map for ``AnimatedSprite``;
* ``unity``: ``<base>.unity.json`` (see :func:`unity_json`);
* ``frames``: ``<base>_frames/<animation>_<direction>_<n>.png`` for every track frame.

``meta.scale`` is always ``"1"``: the PNG is already upscaled, and PixiJS reads ``meta.scale``
as the texture's resolution (a x4 sheet with ``scale: "4"`` is shown at a quarter of its size).

PNG bytes are written by our own encoder (RGBA8, filter 0, CPython's zlib at level 9, no
metadata chunks), so the same pixels give the same file.

Every file is written atomically; an export that fails half way removes the files it had
created, so nothing half-written is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_bytes
from genstudio.core.errors import InvalidParamsError
from genstudio.generators.sprites import layout as layouts
from genstudio.generators.sprites.layout import SheetLayout, Track

APP = "GenStudio"
try:  # the package version, when installed
    from genstudio import __version__ as VERSION  # type: ignore[attr-defined]
except Exception:  # pragma: no cover
    VERSION = "0.1.0"
FORMATS = ("png", "aseprite", "godot", "pixi", "unity", "frames")
#: what the formats are called in the studio's export dialog
FORMAT_LABELS: dict[str, str] = {
    "png": "PNG sheet",
    "aseprite": "Aseprite JSON (hash + array)",
    "godot": "Godot 4 SpriteFrames (.tres)",
    "pixi": "PixiJS spritesheet (.pixi.json)",
    "unity": "Unity sprite grid (.unity.json)",
    "frames": "Individual frames (PNG)",
}
#: the formats whose files refer to the PNG sheet (which is then always written)
_NEEDS_PNG = ("png", "aseprite", "godot", "pixi", "unity")
#: the duration of a cell that is in no track (Aseprite's default)
UNTRACKED_MS = 100
MAX_SCALE = 8


# --- PNG -------------------------------------------------------------------------------------


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(rgba: np.ndarray) -> bytes:
    """(H, W, 4) uint8 -> PNG bytes (RGBA8, no ancillary chunks), deterministic."""
    a = np.ascontiguousarray(rgba, dtype=np.uint8)
    if a.ndim != 3 or a.shape[2] != 4 or a.shape[0] < 1 or a.shape[1] < 1:
        raise InvalidParamsError(f"Expected an (H, W, 4) image, got {a.shape}.")
    h, w = a.shape[:2]
    raw = np.zeros((h, 1 + 4 * w), np.uint8)
    raw[:, 1:] = a.reshape(h, 4 * w)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> (H, W, 4) uint8, through the product's one safe image opener."""
    from genstudio.core.safeimage import open_image, pil_to_rgba

    im = open_image(data, label="The sprite sheet")
    if im.format != "PNG":
        raise InvalidParamsError(f"The sprite sheet is a {im.format} image, not a PNG.")
    return pil_to_rgba(im)


def read_sheet_png(path: str | os.PathLike[str]) -> np.ndarray:
    """A sheet PNG on disk -> (H, W, 4) uint8 (regular files only, size-capped)."""
    from genstudio.core.atomic import read_file_bytes
    from genstudio.core.safeimage import MAX_IMAGE_FILE_BYTES

    data = read_file_bytes(path, what="sprite sheet", max_bytes=MAX_IMAGE_FILE_BYTES)
    return decode_png(data)


# --- layout helpers ----------------------------------------------------------------------------


def sheet_image(sheet: np.ndarray) -> np.ndarray:
    """(D, F, h, w, 4) -> (D*h, F*w, 4): rows = directions, columns = frames."""
    d, f, h, w, c = sheet.shape
    return np.ascontiguousarray(sheet.transpose(0, 2, 1, 3, 4).reshape(d * h, f * w, c))


def split_image(img: np.ndarray, rows: int = 4, columns: int = 6) -> np.ndarray:
    """(rows*h, columns*w, 4) -> (rows, columns, h, w, 4)."""
    H, W, c = img.shape
    if H % rows or W % columns:
        raise InvalidParamsError(
            f"A {W}x{H} image does not split into {columns}x{rows} equal frames."
        )
    h, w = H // rows, W // columns
    return np.ascontiguousarray(img.reshape(rows, h, columns, w, c).transpose(0, 2, 1, 3, 4))


def scale_nearest(img: np.ndarray, scale: int) -> np.ndarray:
    """Integer nearest-neighbour upscale of the two leading pixel axes of (H, W, C)."""
    check_scale(scale)
    if scale == 1:
        return img
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


def check_scale(scale: Any) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE:
        raise InvalidParamsError(
            f"Export scale must be a whole number 1..{MAX_SCALE}, got {scale!r}."
        )
    return scale


def layout_of(
    width: int, height: int, layout: SheetLayout | Mapping[str, Any] | None = None
) -> SheetLayout:
    """The layout of a ``width`` x ``height`` sheet: ``layout`` itself (which must fit), a
    stored layout dict (used when it fits), or the style the size matches."""
    if isinstance(layout, SheetLayout):
        layout.check()
        if not layout.fits(width, height):
            raise InvalidParamsError(
                f"The {layout.style} layout ({layout.columns} x {layout.rows} frames of "
                f"{layout.frame_w}x{layout.frame_h}) does not fit a {width}x{height} sheet.",
                hint="Export the sheet with the layout it was made with.",
            )
        return layout
    return layouts.detect(width, height, layout)


@dataclass(frozen=True)
class Cell:
    """One frame of the grid and the track it belongs to (``None``: no track uses it)."""

    index: int
    row: int
    column: int
    rect: tuple[int, int, int, int]  # x, y, w, h, top-left origin
    track: Track | None
    n: int  # the frame's number in its track

    @property
    def ms(self) -> int:
        return self.track.frame_ms if self.track else UNTRACKED_MS

    @property
    def label(self) -> str:
        """``<animation>_<direction>_<n>``, or ``cell_<index>`` outside every track."""
        return f"{self.track.name}_{self.n}" if self.track else f"cell_{self.index}"


def cells(lay: SheetLayout) -> list[Cell]:
    """Every cell of the grid in frame order (row-major), with the first track that uses it."""
    owner: dict[tuple[int, int], tuple[Track | None, int]] = {}
    for t in lay.tracks:
        for k, rc in enumerate(t.cells()):
            owner.setdefault(rc, (t, k))
    out = []
    for r in range(lay.rows):
        for c in range(lay.columns):
            track, k = owner.get((r, c), (None, 0))
            out.append(Cell(lay.index(r, c), r, c, lay.rect(r, c), track, k))
    return out


def tracks_in_order(lay: SheetLayout) -> list[Track]:
    """The tracks in sheet (frame index) order: what the tag and animation lists follow."""
    return sorted(lay.tracks, key=lambda t: (lay.index(t.row, t.column), t.frames))


def track_indices(lay: SheetLayout, t: Track) -> list[int]:
    return [lay.index(r, c) for r, c in t.cells()]


def frame_entries(lay: SheetLayout) -> list[dict[str, Any]]:
    """One dict per track frame (``index, row, column, direction, animation, n, rect, ms``),
    in frame order: the frames the ``frames`` export writes."""
    out = []
    for t in lay.tracks:
        for k, (r, c) in enumerate(t.cells()):
            out.append(
                {
                    "index": lay.index(r, c),
                    "row": r,
                    "column": c,
                    "direction": t.direction,
                    "animation": t.animation,
                    "n": k,
                    "rect": lay.rect(r, c),
                    "ms": t.frame_ms,
                }
            )
    out.sort(key=lambda e: (e["index"], e["animation"], e["direction"]))
    return out


def _frame_body(rect: tuple[int, int, int, int]) -> dict[str, Any]:
    x, y, w, h = rect
    return {
        "frame": {"x": x, "y": y, "w": w, "h": h},
        "rotated": False,
        "trimmed": False,
        "spriteSourceSize": {"x": 0, "y": 0, "w": w, "h": h},
        "sourceSize": {"w": w, "h": h},
    }


def _meta(image_name: str, lay: SheetLayout) -> dict[str, Any]:
    return {
        "app": APP,
        "version": VERSION,
        "image": image_name,
        "format": "RGBA8888",
        "size": {"w": lay.sheet_w, "h": lay.sheet_h},
        "scale": "1",  # the PNG is already scaled; PixiJS reads this as the resolution
    }


# --- Aseprite ----------------------------------------------------------------------------------


def aseprite_json(image_name: str, lay: SheetLayout, *, flavour: str = "hash") -> dict[str, Any]:
    """The Aseprite ``--data`` JSON for a sheet image laid out as ``lay`` (the layout of the
    image as written, i.e. already scaled)."""
    if flavour not in ("hash", "array"):
        raise InvalidParamsError("Aseprite JSON flavour must be 'hash' or 'array'.")
    frames_h: dict[str, Any] = {}
    frames_a: list[dict[str, Any]] = []
    for cell in cells(lay):
        body = {**_frame_body(cell.rect), "duration": cell.ms}
        # Frame keys are the bare frame index (Aseprite's ``--filename-format {frame}``), not
        # the default "{title} {frame}.png": Phaser's createFromAseprite looks frames up by index.
        name = str(cell.index)
        if flavour == "hash":
            frames_h[name] = body
        else:
            frames_a.append({"filename": name, **body})
    tags = []
    for t in tracks_in_order(lay):
        idx = track_indices(lay, t)
        tags.append(
            {
                "name": t.name,
                "from": idx[0],
                "to": idx[-1],
                "direction": "forward",
                "color": "#000000ff",
            }
        )
    fw, fh = lay.frame_w, lay.frame_h
    px, py = lay.pivot
    meta = {
        **_meta(image_name, lay),
        "frameTags": tags,
        "layers": [{"name": "Layer 1", "opacity": 255, "blendMode": "normal"}],
        "slices": [
            {
                "name": "feet",
                "color": "#0000ffff",
                "keys": [
                    {
                        "frame": 0,
                        "bounds": {"x": 0, "y": 0, "w": fw, "h": fh},
                        "pivot": {"x": px, "y": py},
                    }
                ],
            }
        ],
    }
    return {"frames": frames_h if flavour == "hash" else frames_a, "meta": meta}


# --- PixiJS ------------------------------------------------------------------------------------


def pixi_json(image_name: str, lay: SheetLayout, prefix: str) -> dict[str, Any]:
    """A PixiJS v8 spritesheet (TexturePacker "JSON hash"): ``Assets.load("<base>.pixi.json")``
    gives a ``Spritesheet`` whose ``textures`` are named ``<prefix>/<animation>_<direction>_<n>``
    (cells outside every track ``<prefix>/cell_<index>``) and whose ``animations`` map
    ``walk_down`` etc. to their textures, ready for ``new AnimatedSprite(sheet.animations.walk_down)``.

    PixiJS puts every texture of every loaded sheet into one global cache under its frame
    name, so the names carry the sheet's ``prefix`` (the PNG's base name): loading two sheets
    exported with Aseprite's bare index names would make the second overwrite the first
    ("[Cache] already has key: 0"). Each frame's ``anchor`` is the feet, bottom centre."""
    frames: dict[str, Any] = {}
    names: dict[int, str] = {}
    ax = (lay.frame_w // 2) / lay.frame_w
    for cell in cells(lay):
        name = f"{prefix}/{cell.label}"
        names[cell.index] = name
        frames[name] = {**_frame_body(cell.rect), "anchor": {"x": ax, "y": 1.0}}
    animations = {t.name: [names[i] for i in track_indices(lay, t)] for t in tracks_in_order(lay)}
    return {"frames": frames, "animations": animations, "meta": _meta(image_name, lay)}


# --- Unity -------------------------------------------------------------------------------------


def unity_json(image_name: str, lay: SheetLayout) -> dict[str, Any]:
    """A description of the sheet for Unity (2D Sprite package; any version with the Sprite
    Editor).

    Using it in Unity:

    1. Put the PNG into ``Assets``; in its import settings set *Texture Type* = Sprite (2D and
       UI), *Sprite Mode* = Multiple, *Pixels Per Unit* = ``pixelsPerUnit`` (one frame is one
       unit tall), *Filter Mode* = Point, *Compression* = None.
    2. Sprite Editor -> Slice -> *Grid By Cell Size*, *Pixel Size* = ``grid.cellWidth`` x
       ``grid.cellHeight``, offset and padding 0, *Pivot* = Bottom, *Keep Empty Rects* on:
       Unity cuts exactly the rects of ``sprites`` (its names are ``<texture>_<index>``, given
       here as ``gridName``). An editor script can instead set
       ``TextureImporter.spritesheet`` from ``sprites`` (``name``, ``rect``, ``pivot``) to get
       these names.
    3. One ``AnimationClip`` per entry of ``animations``: its ``frames`` (sprite names) at
       ``frameRate`` frames per second (``frameMs`` per frame), looping when ``loop``.

    ``rect`` is in Unity's texture coordinates: pixels with the origin at the BOTTOM-left, so
    row 0 of the sheet (its top) has ``y = textureSize.h - cellHeight``. ``pivot`` is
    normalized over a frame: ``(0.5, 0.0)``, the bottom centre, i.e. the Sprite Editor's
    "Bottom" pivot. The character's feet are on the frame's last pixel row (GenStudio's
    ``pivot`` pixel ``(frame_w // 2, frame_h - 1)`` from the top); the pivot lies on the bottom
    edge of that row, so a sprite placed at ground height stands on the ground and the pivot
    is on the pixel grid (no half-pixel blur with a pixel-perfect camera). ``pivotPixels`` is
    the same point in pixels from the frame's bottom-left corner.
    """
    fw, fh = lay.frame_w, lay.frame_h
    H = lay.sheet_h
    texture_stem = image_name.rsplit(".", 1)[0]
    pivot = {"x": (fw // 2) / fw, "y": 0.0}
    names: dict[int, str] = {}
    sprites = []
    for cell in cells(lay):
        x, y, w, h = cell.rect
        names[cell.index] = cell.label
        sprites.append(
            {
                "name": cell.label,
                "gridName": f"{texture_stem}_{cell.index}",
                "index": cell.index,
                "row": cell.row,
                "column": cell.column,
                "rect": {"x": x, "y": H - y - h, "width": w, "height": h},
                "pivot": dict(pivot),
            }
        )
    animations = [
        {
            "name": t.name,
            "animation": t.animation,
            "direction": t.direction,
            "frames": [names[i] for i in track_indices(lay, t)],
            "frameRate": round(1000.0 / t.frame_ms, 6),
            "frameMs": t.frame_ms,
            "loop": t.loop,
        }
        for t in tracks_in_order(lay)
    ]
    return {
        "app": APP,
        "version": VERSION,
        "texture": image_name,
        "textureSize": {"w": lay.sheet_w, "h": H},
        "style": lay.style,
        "pixelsPerUnit": fh,
        "filterMode": "Point",
        "origin": "bottom-left",
        "grid": {
            "cellWidth": fw,
            "cellHeight": fh,
            "columns": lay.columns,
            "rows": lay.rows,
            "offset": {"x": 0, "y": 0},
            "padding": {"x": 0, "y": 0},
        },
        "pivot": pivot,
        "pivotPixels": {"x": fw // 2, "y": 0},
        "sprites": sprites,
        "animations": animations,
    }


# --- Godot 4 -----------------------------------------------------------------------------------


def _gfloat(v: float) -> str:
    s = repr(float(v))
    return s if "e" not in s else f"{v:.6f}"


def godot_tres(texture_path: str, lay: SheetLayout) -> str:
    """A Godot 4 ``SpriteFrames`` resource (format=3) over the sheet at ``texture_path``
    (``res://...`` or a path relative to the .tres file): one animation per track, named
    ``<animation>_<direction>``, looping as the track does, ``speed`` = frames per second."""
    tracks = tracks_in_order(lay)
    used = {i for t in tracks for i in track_indices(lay, t)}
    subs = [c for c in cells(lay) if c.index in used]
    lines = [f'[gd_resource type="SpriteFrames" load_steps={len(subs) + 2} format=3]', ""]
    lines += [f'[ext_resource type="Texture2D" path="{texture_path}" id="1_sheet"]', ""]
    sub_id = {}
    for c in subs:
        sid = f"AtlasTexture_{c.label}"
        sub_id[c.index] = sid
        x, y, w, h = c.rect
        lines += [
            f'[sub_resource type="AtlasTexture" id="{sid}"]',
            'atlas = ExtResource("1_sheet")',
            f"region = Rect2({x}, {y}, {w}, {h})",
            "",
        ]
    anims = []
    for t in tracks:
        frames = ", ".join(
            '{\n"duration": 1.0,\n"texture": SubResource("' + sub_id[i] + '")\n}'
            for i in track_indices(lay, t)
        )
        anims.append(
            "{\n"
            f'"frames": [{frames}],\n'
            f'"loop": {"true" if t.loop else "false"},\n'
            f'"name": &"{t.name}",\n'
            f'"speed": {_gfloat(1000.0 / t.frame_ms)}\n'
            "}"
        )
    lines += ["[resource]", f"animations = [{', '.join(anims)}]", ""]
    return "\n".join(lines)


# --- writing -----------------------------------------------------------------------------------


class _Txn:
    """Files written by one export; on failure the new ones are removed again."""

    def __init__(self) -> None:
        self.created: list[Path] = []
        self.written: list[Path] = []

    def write(self, path: Path, data: bytes) -> None:
        existed = path.exists()
        atomic_write_bytes(path, data)
        self.written.append(path)
        if not existed:
            self.created.append(path)

    def rollback(self) -> None:
        for p in reversed(self.created):
            with contextlib.suppress(OSError):
                p.unlink()


def _ensure_dir(out_dir: Path) -> None:
    from genstudio.core.folder import ensure_export_dir

    ensure_export_dir(out_dir)


def _check_formats(formats: Iterable[str]) -> list[str]:
    out = list(dict.fromkeys(formats))
    bad = [f for f in out if f not in FORMATS]
    if bad:
        raise InvalidParamsError(
            f"Unknown export format(s): {', '.join(bad)}", hint=f"Known: {', '.join(FORMATS)}"
        )
    return out


def _base(stem: str, scale: int) -> str:
    return stem if scale == 1 else f"{stem}_x{scale}"


def planned_files(
    stem: str,
    formats: Iterable[str],
    scale: int = 1,
    layout: SheetLayout | None = None,
) -> list[str]:
    """The paths (relative to the export folder) an export writes, in the order it writes
    them. Without a ``layout`` the single frames are one entry, ``<base>_frames/``."""
    formats = _check_formats(formats)
    base = _base(stem, scale)
    out = []
    if any(f in formats for f in _NEEDS_PNG):
        out.append(f"{base}.png")
    if "aseprite" in formats:
        out += [f"{base}.json", f"{base}.array.json"]
    if "godot" in formats:
        out.append(f"{base}.tres")
    if "pixi" in formats:
        out.append(f"{base}.pixi.json")
    if "unity" in formats:
        out.append(f"{base}.unity.json")
    if "frames" in formats:
        if layout is None:
            out.append(f"{base}_frames/")
        else:
            out += [
                f"{base}_frames/{e['animation']}_{e['direction']}_{e['n']}.png"
                for e in frame_entries(layout)
            ]
    return out


def _sheet_and_layout(
    sheet: np.ndarray, layout: SheetLayout | Mapping[str, Any] | None
) -> tuple[np.ndarray, SheetLayout]:
    arr = np.asarray(sheet)
    if arr.ndim == 5:
        d, f, h, w = arr.shape[:4]
        img = sheet_image(arr)
        if layout is None and (d, f) == (4, 6):
            lay = replace(layouts.genstudio(), frame_w=w, frame_h=h)
        else:
            lay = layout_of(img.shape[1], img.shape[0], layout)
            if (lay.rows, lay.columns) != (d, f):
                raise InvalidParamsError(
                    f"A sheet of {d} x {f} frames does not have the {lay.style} layout "
                    f"({lay.rows} x {lay.columns} frames)."
                )
    elif arr.ndim == 3:
        img = arr
        if img.shape[-1] != 4:
            raise InvalidParamsError("Sprite sheets are RGBA uint8.")
        lay = layout_of(img.shape[1], img.shape[0], layout)
        split_image(img, lay.rows, lay.columns)  # checks divisibility
    else:
        raise InvalidParamsError(f"Expected a sheet (D, F, h, w, 4) or image, got {arr.shape}.")
    if arr.dtype != np.uint8 or img.shape[-1] != 4:
        raise InvalidParamsError("Sprite sheets are RGBA uint8.")
    return img, lay


def export_sheet(
    sheet: np.ndarray,
    out_dir: str | os.PathLike[str],
    stem: str,
    *,
    layout: SheetLayout | Mapping[str, Any] | None = None,
    formats: Iterable[str] = FORMATS,
    scale: int = 1,
    aseprite_flavours: Sequence[str] = ("hash", "array"),
    godot_res_dir: str | None = None,
) -> list[Path]:
    """Write a sheet in the given formats; returns the paths written.

    ``sheet`` is an (H, W, 4) image (its layout: ``layout``, a stored layout dict when it fits,
    else the style its size matches, see :func:`layouts.detect`) or GenStudio's (D, F, h, w, 4)
    frames (the GenStudio layout). ``layout`` describes the sheet at scale 1.

    * ``png``: ``<stem>.png`` (``<stem>_x<scale>.png`` when scaled);
    * ``aseprite``: ``<stem>.json`` (hash) and ``<stem>.array.json`` (array), image = the PNG;
    * ``godot``: ``<stem>.tres``, texture path relative to the .tres (or ``godot_res_dir`` +
      name, e.g. ``res://sprites``);
    * ``pixi``: ``<stem>.pixi.json``; ``unity``: ``<stem>.unity.json``;
    * ``frames``: ``<stem>_frames/<animation>_<direction>_<n>.png``.
    The data formats always write the PNG they refer to.
    """
    formats = _check_formats(formats)
    check_scale(scale)
    if not stem or any(c in stem for c in '/\\:*?"<>|') or stem in (".", ".."):
        raise InvalidParamsError(f"Bad export file name {stem!r}.")
    img, lay1 = _sheet_and_layout(sheet, layout)
    img = scale_nearest(img, scale)
    lay = lay1.times(scale)
    out = Path(out_dir)
    _ensure_dir(out)
    base = _base(stem, scale)
    png_name = f"{base}.png"
    txn = _Txn()
    try:
        if any(f in formats for f in _NEEDS_PNG):
            txn.write(out / png_name, encode_png(img))
        if "aseprite" in formats:
            for fl in aseprite_flavours:
                doc = aseprite_json(png_name, lay, flavour=fl)
                name = f"{base}.json" if fl == "hash" else f"{base}.array.json"
                txn.write(out / name, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
        if "godot" in formats:
            tex = png_name if not godot_res_dir else f"{godot_res_dir.rstrip('/')}/{png_name}"
            txn.write(out / f"{base}.tres", godot_tres(tex, lay).encode("utf-8"))
        if "pixi" in formats:
            doc = pixi_json(png_name, lay, base)
            txn.write(out / f"{base}.pixi.json", (json.dumps(doc, indent=1) + "\n").encode())
        if "unity" in formats:
            doc = unity_json(png_name, lay)
            txn.write(out / f"{base}.unity.json", (json.dumps(doc, indent=1) + "\n").encode())
        if "frames" in formats:
            fdir = out / f"{base}_frames"
            _ensure_dir(fdir)
            for e in frame_entries(lay):
                x, y, w, h = e["rect"]
                name = f"{e['animation']}_{e['direction']}_{e['n']}.png"
                txn.write(fdir / name, encode_png(img[y : y + h, x : x + w]))
    except BaseException:
        txn.rollback()
        raise
    return txn.written


def export_sheet_file(
    sheet_png: str | os.PathLike[str],
    *,
    formats: Iterable[str] = (),
    scale: int = 1,
    out_dir: str | os.PathLike[str] | None = None,
    layout: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Exports for a sheet PNG already on disk (the CLI's ``--format``/``--scale``): written
    beside it (or in ``out_dir``); returns the extra paths written (not the source PNG).
    ``layout`` is the layout stored with the sheet (its sidecar's ``extra["layout"]``), used
    when it fits the image; otherwise the layout is found from the image size."""
    src = Path(sheet_png)
    img = read_sheet_png(src)
    formats = list(formats)
    check_scale(scale)
    if not formats and scale == 1:
        return []
    if scale != 1 and "png" not in formats:
        formats.append("png")
    if scale == 1:
        formats = [f for f in formats if f != "png"]  # the source PNG is the sheet
    lay = layouts.detect(img.shape[1], img.shape[0], layout)
    written = export_sheet(
        img,
        out_dir if out_dir is not None else src.parent,
        src.stem,
        layout=lay,
        formats=formats,
        scale=scale,
    )
    return [p for p in written if p.resolve() != src.resolve()]


def contact_sheet(
    sheets: Sequence[np.ndarray], *, columns: int = 8, pad: int = 8, checker: int = 8
) -> np.ndarray:
    """(H, W, 3) uint8 overview of many sheets (each its whole image: (D, F, h, w, 4) frames
    or an (H, W, 4) sheet of any layout) on checkerboard cells, as in
    ``docs/sprites-procedural-contact-sheet.png``; cells are as big as the largest sheet::

        from genstudio.generators.sprites import export, procedural
        img = export.contact_sheet([procedural.render_sheet({}, 1000 + i) for i in range(64)])
    """
    tiles = []
    for s in sheets:
        a = np.asarray(s)
        if a.ndim == 5:
            a = sheet_image(a)
        if a.ndim != 3 or a.shape[2] != 4:
            raise InvalidParamsError(f"Expected a sheet (D, F, h, w, 4) or image, got {a.shape}.")
        tiles.append(a)
    if not tiles:
        raise InvalidParamsError("No sheets for the contact sheet.")
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    rows = -(-len(tiles) // columns)
    canvas = np.empty((rows * (th + pad) + pad, columns * (tw + pad) + pad, 3), np.uint8)
    canvas[:] = (58, 64, 78)
    yy, xx = np.mgrid[0:th, 0:tw]
    cell = ((yy // checker + xx // checker) % 2)[..., None] == 0
    bg = np.where(cell, np.array([206, 210, 200], np.uint8), np.array([186, 192, 182], np.uint8))
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = pad + r * (th + pad), pad + c * (tw + pad)
        h, w = t.shape[:2]
        canvas[y : y + h, x : x + w] = np.where(t[..., 3:4] > 0, t[..., :3], bg[:h, :w])
    return canvas
