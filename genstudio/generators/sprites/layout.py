"""Where the frames of a sprite sheet are: one :class:`SheetLayout` per sheet style.

A sheet is a grid of equal frames. A *track* is one animation in one direction: a run of
``frames`` cells in one grid row starting at ``column``. Every export (Aseprite JSON, Godot
SpriteFrames, PixiJS/TexturePacker JSON, Unity grid JSON, PNG frames), the studio's preview
and the sidecar's ``extra["layout"]`` are derived from it.

Two layouts exist:

* :func:`genstudio` - GenStudio's own 32 px style: rows = directions ``down, left, right, up``,
  columns = the animations one after another (idle 2, walk 4, ...);
* :func:`lpc` - the Universal LPC layout (13 columns x 21 rows of 64 px frames): rows 0-3
  spellcast (7 frames), 4-7 thrust (8), 8-11 walk (9, frame 0 = standing), 12-15 slash (6),
  16-19 shoot (13), 20 hurt (6, down only), directions ``up, left, down, right``; GenStudio adds
  rows 21-24 with a 2-frame idle so the first 21 rows stay exactly what LPC tools expect.

A layout is stored as JSON (``to_dict``) and read back with :meth:`SheetLayout.from_dict`, which
also reads the first version's dict (``directions`` + ``animations`` with column ``start``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from genstudio.core.errors import InvalidParamsError

#: the order of the animations in menus and exports, when a layout has them
ANIMATION_ORDER = ("idle", "walk", "slash", "thrust", "spellcast", "shoot", "hurt")


@dataclass(frozen=True)
class Track:
    """One animation in one direction: ``frames`` cells of grid row ``row`` from ``column``."""

    animation: str
    direction: str
    row: int
    column: int
    frames: int
    frame_ms: int
    loop: bool = True

    @property
    def name(self) -> str:
        """The tag / animation name engines see: ``<animation>_<direction>``."""
        return f"{self.animation}_{self.direction}"

    def cells(self) -> list[tuple[int, int]]:
        """(row, column) of each frame, in play order."""
        return [(self.row, self.column + k) for k in range(self.frames)]


@dataclass(frozen=True)
class SheetLayout:
    style: str
    frame_w: int
    frame_h: int
    rows: int
    columns: int
    tracks: tuple[Track, ...]

    # --- geometry ---------------------------------------------------------------------------

    @property
    def sheet_w(self) -> int:
        return self.frame_w * self.columns

    @property
    def sheet_h(self) -> int:
        return self.frame_h * self.rows

    @property
    def pivot(self) -> tuple[int, int]:
        """The feet: bottom centre of a frame."""
        return self.frame_w // 2, self.frame_h - 1

    def index(self, row: int, column: int) -> int:
        """The Aseprite frame number of a cell (row-major)."""
        return row * self.columns + column

    def rect(self, row: int, column: int) -> tuple[int, int, int, int]:
        return column * self.frame_w, row * self.frame_h, self.frame_w, self.frame_h

    def scaled(self, frame: int) -> SheetLayout:
        """The same grid with square frames of ``frame`` px."""
        return replace(self, frame_w=frame, frame_h=frame)

    def times(self, scale: int) -> SheetLayout:
        """The same grid with frames ``scale`` times bigger (an upscaled export)."""
        return replace(self, frame_w=self.frame_w * scale, frame_h=self.frame_h * scale)

    # --- animations -------------------------------------------------------------------------

    @property
    def animations(self) -> list[str]:
        names = list(dict.fromkeys(t.animation for t in self.tracks))
        known = [a for a in ANIMATION_ORDER if a in names]
        return known + [a for a in names if a not in known]

    @property
    def directions(self) -> list[str]:
        return list(dict.fromkeys(t.direction for t in self.tracks))

    def directions_of(self, animation: str) -> list[str]:
        return [t.direction for t in self.tracks if t.animation == animation]

    def track(self, animation: str, direction: str | None = None) -> Track | None:
        """The track of ``animation`` facing ``direction`` (or its first direction)."""
        for t in self.tracks:
            if t.animation == animation and (direction is None or t.direction == direction):
                return t
        if direction is not None:
            return self.track(animation)
        return None

    def frame_ms(self, animation: str) -> int:
        t = self.track(animation)
        return t.frame_ms if t else 125

    # --- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        anims = []
        for a in self.animations:
            t = self.track(a)
            assert t is not None
            anims.append(
                {
                    "name": a,
                    "frames": t.frames,
                    "frame_ms": t.frame_ms,
                    "loop": t.loop,
                    "directions": self.directions_of(a),
                }
            )
        return {
            "style": self.style,
            "frame_w": self.frame_w,
            "frame_h": self.frame_h,
            "rows": self.rows,
            "columns": self.columns,
            "sheet_w": self.sheet_w,
            "sheet_h": self.sheet_h,
            "directions": self.directions,
            "animations": anims,
            "tracks": [
                {
                    "animation": t.animation,
                    "direction": t.direction,
                    "row": t.row,
                    "column": t.column,
                    "frames": t.frames,
                    "frame_ms": t.frame_ms,
                    "loop": t.loop,
                }
                for t in self.tracks
            ],
            "baseline_y": self.frame_h - 1,
            "pivot": list(self.pivot),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SheetLayout:
        """A stored layout (this version's or the first version's); InvalidParamsError if
        it is not one."""
        try:
            fw, fh = int(d["frame_w"]), int(d["frame_h"])
            rows, cols = int(d["rows"]), int(d["columns"])
            if "tracks" in d:
                tracks = tuple(
                    Track(
                        str(t["animation"]),
                        str(t["direction"]),
                        int(t["row"]),
                        int(t["column"]),
                        int(t["frames"]),
                        int(t["frame_ms"]),
                        bool(t.get("loop", True)),
                    )
                    for t in d["tracks"]
                )
            else:  # version 1: rows = directions, animations = column ranges
                dirs = [str(x) for x in d["directions"]]
                tracks = tuple(
                    Track(
                        str(a["name"]),
                        dname,
                        r,
                        int(a["start"]),
                        int(a["frames"]),
                        int(a["frame_ms"]),
                        bool(a.get("loop", True)),
                    )
                    for r, dname in enumerate(dirs)
                    for a in d["animations"]
                )
            lay = cls(str(d.get("style", "genstudio")), fw, fh, rows, cols, tracks)
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidParamsError(f"Not a sprite sheet layout ({e}).") from e
        lay.check()
        return lay

    def check(self) -> None:
        if min(self.frame_w, self.frame_h, self.rows, self.columns) < 1 or not self.tracks:
            raise InvalidParamsError("A sprite sheet layout needs frames, rows and columns.")
        for t in self.tracks:
            if (
                t.frames < 1
                or t.frame_ms < 1
                or not 0 <= t.row < self.rows
                or t.column < 0
                or t.column + t.frames > self.columns
            ):
                raise InvalidParamsError(f"The track {t.name} lies outside the sheet's grid.")

    def fits(self, width: int, height: int) -> bool:
        return width == self.sheet_w and height == self.sheet_h


# --- the two styles ------------------------------------------------------------------------------

GENSTUDIO_DIRECTIONS = ("down", "left", "right", "up")
#: (name, frames, ms per frame, loops) of GenStudio's own style, in column order
GENSTUDIO_ANIMATIONS: tuple[tuple[str, int, int, bool], ...] = (
    ("idle", 2, 500, True),
    ("walk", 4, 125, True),
)

LPC_DIRECTIONS = ("up", "left", "down", "right")
LPC_COLUMNS = 13
LPC_ROWS = 21  # the Universal LPC sheet; GenStudio's idle rows come after
#: (name, first row, frames, ms per frame, loops, directions) of the Universal LPC sheet
LPC_ANIMATIONS: tuple[tuple[str, int, int, int, bool, tuple[str, ...]], ...] = (
    ("spellcast", 0, 7, 100, False, LPC_DIRECTIONS),
    ("thrust", 4, 8, 90, False, LPC_DIRECTIONS),
    ("walk", 8, 9, 100, True, LPC_DIRECTIONS),
    ("slash", 12, 6, 90, False, LPC_DIRECTIONS),
    ("shoot", 16, 13, 70, False, LPC_DIRECTIONS),
    ("hurt", 20, 6, 110, False, ("down",)),
)
LPC_IDLE_ROW = 21
LPC_IDLE_FRAMES = 2
LPC_IDLE_MS = 500


def genstudio(size: int = 32) -> SheetLayout:
    tracks = []
    for r, dname in enumerate(GENSTUDIO_DIRECTIONS):
        col = 0
        for name, n, ms, loop in GENSTUDIO_ANIMATIONS:
            tracks.append(Track(name, dname, r, col, n, ms, loop))
            col += n
    columns = sum(n for _, n, _, _ in GENSTUDIO_ANIMATIONS)
    return SheetLayout("genstudio", size, size, len(GENSTUDIO_DIRECTIONS), columns, tuple(tracks))


def lpc(size: int = 64, *, idle: bool = True) -> SheetLayout:
    """The Universal LPC layout. The walk track is frames 1-8 (frame 0 is the standing pose,
    which the idle rows start from)."""
    tracks = []
    for name, row0, n, ms, loop, dirs in LPC_ANIMATIONS:
        for k, dname in enumerate(dirs):
            if name == "walk":
                tracks.append(Track(name, dname, row0 + k, 1, n - 1, ms, loop))
            else:
                tracks.append(Track(name, dname, row0 + k, 0, n, ms, loop))
    rows = LPC_ROWS
    if idle:
        for k, dname in enumerate(LPC_DIRECTIONS):
            tracks.append(
                Track("idle", dname, LPC_IDLE_ROW + k, 0, LPC_IDLE_FRAMES, LPC_IDLE_MS, True)
            )
        rows += len(LPC_DIRECTIONS)
    return SheetLayout("lpc", size, size, rows, LPC_COLUMNS, tuple(tracks))


def detect(width: int, height: int, stored: Mapping[str, Any] | None = None) -> SheetLayout:
    """The layout of a ``width`` x ``height`` sheet image: the stored one when it fits, else
    the style whose grid the size matches (GenStudio 6 x 4, LPC 13 x 25 or 13 x 21)."""
    if isinstance(stored, Mapping):
        try:
            lay = SheetLayout.from_dict(stored)
        except InvalidParamsError:
            lay = None
        if lay is not None:
            if lay.fits(width, height):
                return lay
            if width % lay.columns == 0 and height % lay.rows == 0:
                fw, fh = width // lay.columns, height // lay.rows
                return replace(lay, frame_w=fw, frame_h=fh)
    for make in (genstudio, lpc, lambda s: lpc(s, idle=False)):
        base = make(1)
        if width % base.columns or height % base.rows:
            continue
        fw, fh = width // base.columns, height // base.rows
        if fw == fh and fw >= 1:
            return replace(base, frame_w=fw, frame_h=fh)
    raise InvalidParamsError(
        f"A {width}x{height} image is not a sprite sheet GenStudio knows "
        "(its own 6 x 4 frames, or the LPC layout of 13 x 21 frames).",
        hint="Square frames in one of those grids are needed.",
    )
