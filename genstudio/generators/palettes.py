"""Colour ramps of the procedural characters, and readers for user palette files.

A *ramp* is four RGB colours, darkest first: ``[dark, shadow, base, light]``. Every material of a
character (skin, hair, top, ...) is drawn with shade indices 0..3 into one ramp, so recolouring a
part is swapping its ramp. Cloth ramps are derived from one base colour by hue shifting (shadows
lean towards blue/purple, highlights towards yellow), the usual pixel-art practice; skin and hair
ramps are picked by hand.

Palette files (to lock a sheet to a user palette):

* ``.gpl`` - GIMP palette: first line ``GIMP Palette``, optional ``Name:``/``Columns:`` lines,
  ``#`` comments, then ``R G B [name]`` per line (0..255 each).
* ``.hex`` (or ``.txt``) - one ``RRGGBB`` per line (an optional ``#`` prefix is allowed;
  ``AARRGGBB``/``RRGGBBAA`` are not: 6 hex digits exactly, the Lospec export).
* ``.pal`` - JASC-PAL text (``JASC-PAL`` / ``0100`` / colour count / ``R G B`` per line, as
  Paint Shop Pro, Aseprite and Lospec write it) or the binary RIFF ``PAL `` palette (a ``data``
  chunk: version, count, then ``R G B flags`` per entry); told apart by the ``RIFF`` magic.
* ``.png``, ``.gif``, ``.bmp``, ``.webp`` - every distinct opaque colour, in row-major order of
  first appearance (the usual 1-pixel-per-colour strip from Lospec).

All readers return an ``(N, 3) uint8`` array with 1 <= N <= 256 distinct colours in file order
(duplicates dropped, first kept), and raise :class:`InvalidParamsError` for anything else.
:func:`read_palette` picks the reader by extension and refuses any file over
``_MAX_PALETTE_FILE_BYTES`` (16 MB) before reading it - the one size guard for every format
(real palettes are a few kB); palette images are further limited to 1 MP by their header.
The Images mode's pixel art (:mod:`genstudio.generators.images.pixelart`) uses these readers too.
"""

from __future__ import annotations

import colorsys
import re
from pathlib import Path

import numpy as np

from genstudio.core.atomic import read_file_bytes
from genstudio.core.errors import InvalidParamsError

Ramp = tuple[tuple[int, int, int], ...]

MAX_PALETTE_COLORS = 256
_MAX_PALETTE_FILE_BYTES = 16 * 1024 * 1024
_MAX_PALETTE_PIXELS = 1 << 20


def hex_rgb(h: str) -> tuple[int, int, int]:
    h = h.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def rgb_hex(c: tuple[int, int, int] | np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in c[:3]))


def _ramp(*hexes: str) -> Ramp:
    return tuple(hex_rgb(h) for h in hexes)


def _shift_hue(h: float, target: float, amount: float) -> float:
    """Move hue ``h`` (0..1) towards ``target`` by at most ``amount`` along the short way."""
    d = (target - h + 0.5) % 1.0 - 0.5
    return (h + max(-amount, min(amount, d))) % 1.0


def make_ramp(base_hex: str) -> Ramp:
    """A 4-step hue-shifted ramp around ``base_hex`` (index 2 is the base colour itself)."""
    r, g, b = (v / 255.0 for v in hex_rgb(base_hex))
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    cool, warm = 0.70, 0.15  # blue-purple shadows, yellow-orange highlights

    def col(hh: float, ss: float, vv: float) -> tuple[int, int, int]:
        rr, gg, bb = colorsys.hsv_to_rgb(hh % 1.0, min(1.0, max(0.0, ss)), min(1.0, max(0.0, vv)))
        return (round(rr * 255), round(gg * 255), round(bb * 255))

    grey = s < 0.12
    dark = col(
        _shift_hue(h, cool, 0.07), (s * 1.1 + 0.05) if not grey else 0.18, v * 0.42
    )  # deep shade
    shadow = col(_shift_hue(h, cool, 0.035), (s * 1.05) if not grey else 0.1, v * 0.70)
    light = col(_shift_hue(h, warm, 0.035), s * 0.78, v * 1.22 + 0.06)
    return (dark, shadow, hex_rgb(base_hex), light)


# --- skin: natural tones first, then two fantasy tones --------------------------------------
SKIN_RAMPS: dict[str, Ramp] = {
    "pale": _ramp("#9a6465", "#d6a09a", "#f4d2c6", "#fff0e6"),
    "fair": _ramp("#925243", "#d08a6c", "#f0b892", "#ffd9bd"),
    "light": _ramp("#834a30", "#bb754e", "#dda070", "#f4c392"),
    "tan": _ramp("#6e3e24", "#a7653d", "#c98654", "#e4aa73"),
    "olive": _ramp("#5c4226", "#957040", "#bb9460", "#d8b580"),
    "brown": _ramp("#4a2a1a", "#7a4a2c", "#a16840", "#c48a5c"),
    "dark": _ramp("#311c14", "#583424", "#7c4c32", "#9e6a48"),
    "deep": _ramp("#1f120e", "#3a2219", "#573524", "#774b34"),
    "green": _ramp("#27401c", "#46722e", "#6a9c44", "#98c868"),
    "blue": _ramp("#28386a", "#45609c", "#6a8ccc", "#a2c0ec"),
}

HAIR_RAMPS: dict[str, Ramp] = {
    "black": _ramp("#0c0a12", "#1c1824", "#2e2838", "#4a4258"),
    "dark_brown": _ramp("#1c100a", "#362015", "#54321e", "#7a4c2e"),
    "brown": _ramp("#33190c", "#5a3318", "#875226", "#b0793e"),
    "auburn": _ramp("#380f0a", "#672414", "#973c20", "#c45e34"),
    "red": _ramp("#450a10", "#7c171b", "#b82c26", "#e8563c"),
    "ginger": _ramp("#632608", "#a34612", "#da7222", "#f8a44a"),
    "blonde": _ramp("#7a5216", "#b98a2c", "#e6c258", "#fbe9a2"),
    "platinum": _ramp("#837c70", "#b8b09e", "#e0d9c6", "#fbf8ee"),
    "white": _ramp("#6c7486", "#a4acbe", "#d6dce8", "#ffffff"),
    "grey": _ramp("#35353f", "#5c5c68", "#878793", "#b4b4be"),
    "blue": _ramp("#121c4e", "#213696", "#3960d0", "#6e9cf2"),
    "green": _ramp("#0c361c", "#196232", "#2c984a", "#64cc74"),
    "pink": _ramp("#761c4a", "#b43876", "#e664a4", "#fca4cc"),
    "purple": _ramp("#2a1044", "#4a2274", "#763eae", "#a874dc"),
}

_CLOTH_BASES: dict[str, str] = {
    "red": "#b8322e",
    "blue": "#3060b8",
    "green": "#3c8c3a",
    "yellow": "#d8b238",
    "purple": "#7a40aa",
    "brown": "#8c5c34",
    "grey": "#7e7e8a",
    "white": "#dcdce6",
    "black": "#3a3842",
    "orange": "#da782a",
    "teal": "#2a9690",
    "pink": "#da6aa0",
    "navy": "#283c74",
    "maroon": "#74202e",
}
CLOTH_RAMPS: dict[str, Ramp] = {k: make_ramp(v) for k, v in _CLOTH_BASES.items()}
# black cloth reads better with a slightly lifted highlight
CLOTH_RAMPS["black"] = _ramp("#141218", "#24222c", "#3a3842", "#5a5866")
CLOTH_RAMPS["white"] = _ramp("#6a6a80", "#a8a8bc", "#dcdce6", "#ffffff")

# iris ramps: [pupil, iris shadow, iris, catch-light]
EYE_RAMPS: dict[str, Ramp] = {
    "brown": _ramp("#1a100c", "#4a2a16", "#7a4a26", "#fff8f0"),
    "blue": _ramp("#0e1630", "#1f4690", "#3a7ad8", "#f4faff"),
    "green": _ramp("#0c1e12", "#1d6230", "#36a050", "#f4fff4"),
    "grey": _ramp("#16181e", "#4a5260", "#7c8798", "#ffffff"),
    "black": _ramp("#0a080e", "#1a1620", "#2a2434", "#f0f0f8"),
    "amber": _ramp("#2a1606", "#a2620e", "#e0a02a", "#fffbe8"),
    "violet": _ramp("#1c0c30", "#5a2a9a", "#8a52d8", "#fbf4ff"),
    "red": _ramp("#2a0808", "#8a1616", "#d42a2a", "#fff0f0"),
}

# fixed materials
OUTLINE_RGB = hex_rgb("#1c1421")
SCLERA_RAMP = _ramp("#8a8aa0", "#c4c4d4", "#f0f0f6", "#ffffff")
STEEL_RAMP = _ramp("#353a4a", "#646c82", "#a0a8bc", "#e6ecf4")
GOLD_RAMP = _ramp("#6a3e10", "#b0761a", "#e4b23a", "#fcea8c")
WOOD_RAMP = _ramp("#3a2214", "#653d22", "#8e5c30", "#b4834c")
LEATHER_RAMP = _ramp("#2a1a12", "#4e3020", "#744630", "#9a6a48")
GEM_RAMP = _ramp("#123a6a", "#2476c0", "#48c2f0", "#d0f6ff")
FLAME_RAMP = _ramp("#8a1c0a", "#e04e18", "#f8a62e", "#fff4a4")
MOUTH_RAMP = _ramp("#4a1a1e", "#7a2a2e", "#a84444", "#d87070")


# --- palette files -----------------------------------------------------------------------------


def _bad(path: Path, why: str) -> InvalidParamsError:
    return InvalidParamsError(
        f"Palette file {path.name!r} cannot be used: {why}",
        hint="Use a GIMP .gpl, a JASC or RIFF .pal, a .hex file (one RRGGBB per line) or a "
        f"palette image (.png) with 1 to {MAX_PALETTE_COLORS} colours.",
    )


def _finish(path: Path, colours: list[tuple[int, int, int]]) -> np.ndarray:
    if not colours:
        raise _bad(path, "it holds no colours.")
    uniq: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int, int]] = set()
    for c in colours:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    if len(uniq) > MAX_PALETTE_COLORS:
        raise _bad(path, f"it holds {len(uniq)} colours, more than {MAX_PALETTE_COLORS}.")
    return np.array(uniq, dtype=np.uint8).reshape(-1, 3)


def _text(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad(path, "it is not a text file.") from None


def parse_gpl(raw: bytes, path: Path = Path("palette.gpl")) -> np.ndarray:
    lines = _text(path, raw).splitlines()
    if not lines or lines[0].strip() != "GIMP Palette":
        raise _bad(path, "a .gpl file must start with the line 'GIMP Palette'.")
    colours: list[tuple[int, int, int]] = []
    for no, line in enumerate(lines[1:], start=2):
        s = line.strip()
        if not s or s.startswith("#") or re.match(r"^(Name|Columns)\s*:", s):
            continue
        parts = s.split()
        try:
            rgb = tuple(int(p) for p in parts[:3])
        except ValueError:
            raise _bad(path, f"line {no} is not 'R G B [name]': {s[:40]!r}.") from None
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise _bad(path, f"line {no} needs three values 0..255: {s[:40]!r}.")
        colours.append(rgb)  # type: ignore[arg-type]
    return _finish(path, colours)


def parse_hex(raw: bytes, path: Path = Path("palette.hex")) -> np.ndarray:
    colours: list[tuple[int, int, int]] = []
    for no, line in enumerate(_text(path, raw).splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        if not re.fullmatch(r"#?[0-9a-fA-F]{6}", s):
            raise _bad(path, f"line {no} is not a RRGGBB colour: {s[:40]!r}.")
        colours.append(hex_rgb(s))
    return _finish(path, colours)


def parse_pal(raw: bytes, path: Path = Path("palette.pal")) -> np.ndarray:
    """A JASC-PAL text palette (``JASC-PAL`` / ``0100`` / count / ``R G B`` lines) or a RIFF
    ``PAL `` palette (``data`` chunk: version, count, ``R G B flags`` entries)."""
    if raw[:4] == b"RIFF":
        return _parse_riff_pal(raw, path)
    try:
        lines = [ln.strip() for ln in raw.decode("utf-8-sig").splitlines()]
    except UnicodeDecodeError:
        raise _bad(path, "it is neither a JASC-PAL text file nor a RIFF palette.") from None
    while lines and not lines[-1]:
        lines.pop()
    if not lines or lines[0] != "JASC-PAL":
        raise _bad(path, "a .pal file must start with the line 'JASC-PAL'.")
    if len(lines) < 3 or lines[1] != "0100":
        raise _bad(path, "line 2 of a JASC-PAL file must be the version '0100'.")
    try:
        count = int(lines[2])
    except ValueError:
        raise _bad(path, f"line 3 must be the number of colours, got {lines[2][:40]!r}.") from None
    if not 1 <= count <= MAX_PALETTE_COLORS:
        raise _bad(path, f"it declares {count} colours; 1 to {MAX_PALETTE_COLORS} are allowed.")
    body = lines[3:]
    if len(body) != count:
        raise _bad(path, f"it declares {count} colours but lists {len(body)}.")
    colours: list[tuple[int, int, int]] = []
    for no, s in enumerate(body, start=4):
        try:
            vals = [int(p) for p in s.split()]
        except ValueError:
            raise _bad(path, f"line {no} is not 'R G B': {s[:40]!r}.") from None
        if len(vals) != 3 or not all(0 <= v <= 255 for v in vals):
            raise _bad(path, f"line {no} needs three values 0..255: {s[:40]!r}.")
        colours.append((vals[0], vals[1], vals[2]))
    return _finish(path, colours)


def _parse_riff_pal(raw: bytes, path: Path) -> np.ndarray:
    if len(raw) < 24 or raw[8:12] != b"PAL ":
        raise _bad(path, "it is a RIFF file but not a RIFF palette ('PAL ').")
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], int.from_bytes(raw[pos + 4 : pos + 8], "little")
        body = raw[pos + 8 : pos + 8 + size]
        if cid == b"data":
            if len(body) < 4 or len(body) < size:
                raise _bad(path, "its data chunk is truncated.")
            count = int.from_bytes(body[2:4], "little")
            if not 1 <= count <= MAX_PALETTE_COLORS:
                raise _bad(
                    path, f"it declares {count} colours; 1 to {MAX_PALETTE_COLORS} are allowed."
                )
            if len(body) < 4 + 4 * count:
                raise _bad(path, "its data chunk is truncated.")
            ent = body[4 : 4 + 4 * count]
            return _finish(path, [(ent[i], ent[i + 1], ent[i + 2]) for i in range(0, 4 * count, 4)])
        pos += 8 + size + (size & 1)
    raise _bad(path, "its RIFF palette has no data chunk.")


def parse_png(raw: bytes, path: Path = Path("palette.png")) -> np.ndarray:
    from genstudio.core.safeimage import open_image, pil_to_rgba

    try:
        # the product's one image opener: allowed formats only (never EPS/Ghostscript), the
        # pixel count checked from the header before anything is decoded
        im = open_image(raw, label=f"Palette image {path.name!r}", max_pixels=_MAX_PALETTE_PIXELS)
    except InvalidParamsError as e:
        raise _bad(path, f"it is not a readable palette image ({e.message})") from None
    rgba = pil_to_rgba(im)
    px = rgba.reshape(-1, 4)
    px = px[px[:, 3] >= 128, :3]
    if px.size == 0:
        raise _bad(path, "the image has no opaque pixels.")
    _, first = np.unique(px, axis=0, return_index=True)
    if len(first) > MAX_PALETTE_COLORS:
        raise _bad(path, f"it holds {len(first)} colours, more than {MAX_PALETTE_COLORS}.")
    order = np.sort(first)
    return _finish(path, [tuple(int(v) for v in px[i]) for i in order])  # type: ignore[misc]


def read_palette(path: str | Path) -> np.ndarray:
    """Read a .gpl, .hex/.txt, .pal (JASC or RIFF) or palette image (.png/.gif/.bmp/.webp) into
    ``(N, 3) uint8`` (N in 1..256, file order). Files over ``_MAX_PALETTE_FILE_BYTES`` are
    refused unread."""
    path = Path(path)
    # regular files only (a FIFO or /dev/zero is refused), the cap enforced while reading
    raw = read_file_bytes(
        path,
        what="palette file",
        error=InvalidParamsError,
        max_bytes=_MAX_PALETTE_FILE_BYTES,
        too_big=lambda n: _bad(path, f"it is over {n} bytes; palette files are small."),
    )
    if not raw.strip():
        raise _bad(path, "the file is empty.")
    ext = path.suffix.lower()
    if ext == ".gpl":
        return parse_gpl(raw, path)
    if ext in (".hex", ".txt"):
        return parse_hex(raw, path)
    if ext == ".pal":
        return parse_pal(raw, path)
    if ext in (".png", ".gif", ".bmp", ".webp"):
        return parse_png(raw, path)
    raise _bad(path, f"unknown palette format {ext or '(no extension)'!r}.")
