"""Sprite sheet exports: PNG sheet, Aseprite JSON (hash + array), Godot 4 SpriteFrames, frames.

Sheet layout (GenStudio's default, RPG-Maker-like row order): rows = directions ``down, left,
right, up``; columns = ``idle`` frames then ``walk`` frames (2 + 4 = 6); every frame the same
size, the feet on the same row (the last row of the frame). Frame index ``i = row * columns +
column`` is the Aseprite frame number; tags are ``<animation>_<direction>`` (``idle_down``,
``walk_left``, ...) with inclusive ``from``/``to``.

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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from genstudio.core.atomic import atomic_write_bytes
from genstudio.core.errors import GenStudioError, InvalidParamsError

DIRECTIONS: tuple[str, ...] = ("down", "left", "right", "up")
ANIMATIONS: tuple[tuple[str, int, int], ...] = (("idle", 2, 500), ("walk", 4, 125))
APP = "GenStudio"
try:  # the package version, when installed
    from genstudio import __version__ as VERSION  # type: ignore[attr-defined]
except Exception:  # pragma: no cover
    VERSION = "0.1.0"
FORMATS = ("png", "aseprite", "godot", "frames")
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


def _anims(columns: int) -> list[tuple[str, int, int, int]]:
    """(name, first column, frame count, ms) per animation, for a sheet of ``columns``."""
    total = sum(n for _, n, _ in ANIMATIONS)
    if columns != total:
        # unknown column count: one animation over all columns
        return [("anim", 0, columns, 125)]
    out = []
    col = 0
    for name, n, ms in ANIMATIONS:
        out.append((name, col, n, ms))
        col += n
    return out


def frame_entries(
    rows: int, columns: int, fw: int, fh: int, directions: Sequence[str] = DIRECTIONS
) -> list[dict[str, Any]]:
    """One dict per frame, in Aseprite frame order (row-major)."""
    ents = []
    for r in range(rows):
        for a_name, start, n, ms in _anims(columns):
            for k in range(n):
                c = start + k
                ents.append(
                    {
                        "index": r * columns + c,
                        "row": r,
                        "column": c,
                        "direction": directions[r] if r < len(directions) else f"row{r}",
                        "animation": a_name,
                        "n": k,
                        "rect": (c * fw, r * fh, fw, fh),
                        "ms": ms,
                    }
                )
    ents.sort(key=lambda e: cast(int, e["index"]))
    return ents


# --- Aseprite ----------------------------------------------------------------------------------


def aseprite_json(
    image_name: str,
    sheet_w: int,
    sheet_h: int,
    *,
    rows: int = 4,
    columns: int = 6,
    flavour: str = "hash",
    scale: int = 1,
    directions: Sequence[str] = DIRECTIONS,
) -> dict[str, Any]:
    """The Aseprite ``--data`` JSON for a sheet image (already scaled by ``scale``)."""
    if flavour not in ("hash", "array"):
        raise InvalidParamsError("Aseprite JSON flavour must be 'hash' or 'array'.")
    fw, fh = sheet_w // columns, sheet_h // rows
    frames_h: dict[str, Any] = {}
    frames_a: list[dict[str, Any]] = []
    for e in frame_entries(rows, columns, fw, fh, directions):
        x, y, w, h = e["rect"]
        body = {
            "frame": {"x": x, "y": y, "w": w, "h": h},
            "rotated": False,
            "trimmed": False,
            "spriteSourceSize": {"x": 0, "y": 0, "w": w, "h": h},
            "sourceSize": {"w": w, "h": h},
            "duration": e["ms"],
        }
        # Frame keys are the bare frame index (Aseprite's ``--filename-format {frame}``), not
        # the default "{title} {frame}.png": Phaser's createFromAseprite looks frames up by index.
        name = str(e["index"])
        if flavour == "hash":
            frames_h[name] = body
        else:
            frames_a.append({"filename": name, **body})
    tags = []
    for r in range(rows):
        dname = directions[r] if r < len(directions) else f"row{r}"
        for a_name, start, n, _ in _anims(columns):
            tags.append(
                {
                    "name": f"{a_name}_{dname}",
                    "from": r * columns + start,
                    "to": r * columns + start + n - 1,
                    "direction": "forward",
                    "color": "#000000ff",
                }
            )
    meta = {
        "app": APP,
        "version": VERSION,
        "image": image_name,
        "format": "RGBA8888",
        "size": {"w": sheet_w, "h": sheet_h},
        "scale": str(scale),
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
                        "pivot": {"x": fw // 2, "y": fh - 1},
                    }
                ],
            }
        ],
    }
    return {"frames": frames_h if flavour == "hash" else frames_a, "meta": meta}


# --- Godot 4 -----------------------------------------------------------------------------------


def _gfloat(v: float) -> str:
    s = repr(float(v))
    return s if "e" not in s else f"{v:.6f}"


def godot_tres(
    texture_path: str,
    sheet_w: int,
    sheet_h: int,
    *,
    rows: int = 4,
    columns: int = 6,
    directions: Sequence[str] = DIRECTIONS,
) -> str:
    """A Godot 4 ``SpriteFrames`` resource (format=3) over the sheet at ``texture_path``
    (``res://...`` or a path relative to the .tres file)."""
    fw, fh = sheet_w // columns, sheet_h // rows
    ents = frame_entries(rows, columns, fw, fh, directions)
    lines = [f'[gd_resource type="SpriteFrames" load_steps={len(ents) + 2} format=3]', ""]
    lines += [f'[ext_resource type="Texture2D" path="{texture_path}" id="1_sheet"]', ""]
    sub_id = {}
    for e in ents:
        sid = f"AtlasTexture_{e['animation']}_{e['direction']}_{e['n']}"
        sub_id[e["index"]] = sid
        x, y, w, h = e["rect"]
        lines += [
            f'[sub_resource type="AtlasTexture" id="{sid}"]',
            'atlas = ExtResource("1_sheet")',
            f"region = Rect2({x}, {y}, {w}, {h})",
            "",
        ]
    anims = []
    for r in range(rows):
        dname = directions[r] if r < len(directions) else f"row{r}"
        for a_name, start, n, ms in _anims(columns):
            frames = ", ".join(
                '{\n"duration": 1.0,\n"texture": SubResource("'
                + sub_id[r * columns + start + k]
                + '")\n}'
                for k in range(n)
            )
            anims.append(
                "{\n"
                f'"frames": [{frames}],\n'
                '"loop": true,\n'
                f'"name": &"{a_name}_{dname}",\n'
                f'"speed": {_gfloat(1000.0 / ms)}\n'
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
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenStudioError(
            f"Cannot create the export folder {out_dir}: {e.strerror or e}",
            hint="Pick a folder you can write to.",
        ) from e
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK | os.X_OK):
        raise GenStudioError(
            f"The export folder {out_dir} is not writable.", hint="Pick a folder you can write to."
        )


def export_sheet(
    sheet: np.ndarray,
    out_dir: str | os.PathLike[str],
    stem: str,
    *,
    formats: Iterable[str] = FORMATS,
    scale: int = 1,
    aseprite_flavours: Sequence[str] = ("hash", "array"),
    godot_res_dir: str | None = None,
    directions: Sequence[str] = DIRECTIONS,
) -> list[Path]:
    """Write a sheet ((D, F, h, w, 4) frames, or an already laid-out (H, W, 4) image with 4
    rows x 6 columns) in the given formats; returns the paths written.

    * ``png``: ``<stem>.png`` (``<stem>_x<scale>.png`` when scaled);
    * ``aseprite``: ``<stem>.json`` (hash) and ``<stem>.array.json`` (array), image = the PNG;
    * ``godot``: ``<stem>.tres``, texture path relative to the .tres (or ``godot_res_dir`` +
      name, e.g. ``res://sprites``);
    * ``frames``: ``<stem>_frames/<animation>_<direction>_<n>.png``.
    The data formats always write the PNG they refer to.
    """
    formats = list(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise InvalidParamsError(
            f"Unknown export format(s): {', '.join(bad)}", hint=f"Known: {', '.join(FORMATS)}"
        )
    check_scale(scale)
    if not stem or any(c in stem for c in '/\\:*?"<>|') or stem in (".", ".."):
        raise InvalidParamsError(f"Bad export file name {stem!r}.")
    arr = np.asarray(sheet)
    if arr.ndim == 5:
        rows, columns = arr.shape[:2]
        img = sheet_image(arr)
    elif arr.ndim == 3:
        rows, columns = len(directions), sum(n for _, n, _ in ANIMATIONS)
        img = arr
        split_image(img, rows, columns)  # checks divisibility
    else:
        raise InvalidParamsError(f"Expected a sheet (D, F, h, w, 4) or image, got {arr.shape}.")
    if arr.dtype != np.uint8 or img.shape[-1] != 4:
        raise InvalidParamsError("Sprite sheets are RGBA uint8.")
    img = scale_nearest(img, scale)
    H, W = img.shape[:2]
    out = Path(out_dir)
    _ensure_dir(out)
    png_name = f"{stem}.png" if scale == 1 else f"{stem}_x{scale}.png"
    txn = _Txn()
    try:
        need_png = any(f in formats for f in ("png", "aseprite", "godot"))
        if need_png:
            txn.write(out / png_name, encode_png(img))
        if "aseprite" in formats:
            for fl in aseprite_flavours:
                doc = aseprite_json(
                    png_name,
                    W,
                    H,
                    rows=rows,
                    columns=columns,
                    flavour=fl,
                    scale=scale,
                    directions=directions,
                )
                base = png_name[: -len(".png")]
                name = f"{base}.json" if fl == "hash" else f"{base}.array.json"
                txn.write(out / name, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
        if "godot" in formats:
            tex = png_name if not godot_res_dir else f"{godot_res_dir.rstrip('/')}/{png_name}"
            tres = godot_tres(tex, W, H, rows=rows, columns=columns, directions=directions)
            txn.write(out / f"{png_name[: -len('.png')]}.tres", tres.encode("utf-8"))
        if "frames" in formats:
            fdir = out / f"{png_name[: -len('.png')]}_frames"
            _ensure_dir(fdir)
            fh, fw = H // rows, W // columns
            for e in frame_entries(rows, columns, fw, fh, directions):
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
) -> list[Path]:
    """Exports for a sheet PNG already on disk (the CLI's ``--format``/``--scale``): written
    beside it (or in ``out_dir``); returns the extra paths written (not the source PNG)."""
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
    written = export_sheet(
        img,
        out_dir if out_dir is not None else src.parent,
        src.stem,
        formats=formats,
        scale=scale,
    )
    return [p for p in written if p.resolve() != src.resolve()]


def contact_sheet(
    sheets: Sequence[np.ndarray], *, columns: int = 8, pad: int = 8, checker: int = 8
) -> np.ndarray:
    """(H, W, 3) uint8 overview of many sheets (each its full 4x6 grid) on checkerboard
    cells, as in ``docs/sprites-procedural-contact-sheet.png``::

        from genstudio.generators.sprites import export, procedural
        img = export.contact_sheet([procedural.render_sheet({}, 1000 + i) for i in range(64)])
    """
    tiles = [sheet_image(np.asarray(s)) for s in sheets]
    if not tiles:
        raise InvalidParamsError("No sheets for the contact sheet.")
    th, tw = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    canvas = np.empty((rows * (th + pad) + pad, columns * (tw + pad) + pad, 3), np.uint8)
    canvas[:] = (58, 64, 78)
    yy, xx = np.mgrid[0:th, 0:tw]
    cell = ((yy // checker + xx // checker) % 2)[..., None] == 0
    bg = np.where(cell, np.array([206, 210, 200], np.uint8), np.array([186, 192, 182], np.uint8))
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = pad + r * (th + pad), pad + c * (tw + pad)
        canvas[y : y + th, x : x + tw] = np.where(t[..., 3:4] > 0, t[..., :3], bg)
    return canvas
