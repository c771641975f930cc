"""Rendering: materials and codes, bodies and poses, parts, held items, compositing and colour
(a pure function of the attribute dict, integer numpy work only)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from genstudio.generators import palettes as pal
from genstudio.generators.sprites.procedural.templates import (
    DIRECTIONS,
    FRAME,
    GROUND,
    HAIR,
    HAIR_CLIP,
    HEAD_DOWN,
    HEAD_SIDE,
    HEADWEAR,
    N_FRAMES,
)
from genstudio.generators.sprites.procedural.vocabulary import (
    make_rng,
    sample_attributes,
    validate_attributes,
)

# --- materials and codes -------------------------------------------------------------------------
# A layer pixel is a code = material * 4 + shade (shade 0 dark .. 3 light); 0 = transparent.

(
    OUT,
    SKIN,
    HAIR_M,
    EYE,
    WHITE,
    TOP,
    TOP2,
    BOT,
    SHOE,
    HAT,
    STEEL,
    GOLD,
    WOOD,
    LEATHER,
    GEM,
    FLAME,
    MOUTH,
) = range(1, 18)
N_MAT = 18
N_CODES = N_MAT * 4


def C(mat: int, shade: int = 2) -> int:
    return mat * 4 + shade


_SHADE_CH = {"d": 0, "s": 1, "h": 2, "H": 3}


def _auto_shade(mask: np.ndarray) -> np.ndarray:
    """Shades for a part mask: light from the top left, shadow on the lower/right edges."""
    h, w = mask.shape
    p = np.pad(mask, 1)
    up, dn = p[:-2, 1:-1], p[2:, 1:-1]
    rt = p[1:-1, 2:]
    sh = np.full(mask.shape, 2, np.uint8)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return sh
    x0, x1 = xs.min(), xs.max()
    xx = np.arange(w)[None, :].repeat(h, 0)
    left_part = xx <= x0 + (x1 - x0) * 0.55
    sh[(~up) & left_part & dn] = 3
    sh[~dn | ~rt] = 1
    return sh


def parse_template(
    rows: list[str], mat: int, legend: dict[str, tuple[int, int]] | None = None
) -> np.ndarray:
    """ASCII rows -> code array (see templates.py for the characters)."""
    h = len(rows)
    w = max(len(r) for r in rows)
    if any(len(r) != w for r in rows):
        raise ValueError(f"ragged template: {[len(r) for r in rows]}")
    legend = legend or {}
    codes = np.zeros((h, w), np.uint8)
    mask = np.zeros((h, w), bool)
    auto = np.zeros((h, w), bool)
    for y, row in enumerate(rows):
        for x, ch in enumerate(row):
            if ch == ".":
                continue
            mask[y, x] = True
            if ch == "#":
                auto[y, x] = True
            elif ch in _SHADE_CH:
                codes[y, x] = C(mat, _SHADE_CH[ch])
            elif ch in legend:
                m, s = legend[ch]
                codes[y, x] = C(m, s)
            else:
                raise ValueError(f"unknown template character {ch!r}")
    sh = _auto_shade(mask)
    codes[auto] = (mat * 4 + sh[auto]).astype(np.uint8)
    return codes


def blit(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    """Draw non-zero ``src`` codes onto ``dst`` with src's (0, 0) at (x, y), clipped."""
    h, w = src.shape
    H, W = dst.shape
    sx0, sy0 = max(0, -x), max(0, -y)
    sx1, sy1 = min(w, W - x), min(h, H - y)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    s = src[sy0:sy1, sx0:sx1]
    d = dst[y + sy0 : y + sy1, x + sx0 : x + sx1]
    np.copyto(d, s, where=s != 0)


def rect(dst: np.ndarray, x0: int, y0: int, x1: int, y1: int, code: int) -> None:
    """Fill the inclusive rectangle, clipped."""
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(dst.shape[1] - 1, x1), min(dst.shape[0] - 1, y1)
    if x1 >= x0 and y1 >= y0:
        dst[y0 : y1 + 1, x0 : x1 + 1] = code


def put(dst: np.ndarray, x: int, y: int, code: int) -> None:
    if 0 <= x < dst.shape[1] and 0 <= y < dst.shape[0]:
        dst[y, x] = code


# --- bodies and poses ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    torso_w: int
    torso_h: int
    leg_h: int
    leg_w: int
    leg_gap: int
    side_w: int

    @property
    def legtop(self) -> int:
        return GROUND - 2 - self.leg_h + 1

    @property
    def torso_top(self) -> int:
        return self.legtop - self.torso_h

    @property
    def head_top(self) -> int:
        return self.torso_top - 11


BODY_GEOM: dict[str, Body] = {
    "slim": Body(torso_w=8, torso_h=6, leg_h=5, leg_w=3, leg_gap=0, side_w=5),
    "regular": Body(torso_w=10, torso_h=7, leg_h=4, leg_w=3, leg_gap=2, side_w=6),
    "stocky": Body(torso_w=12, torso_h=8, leg_h=3, leg_w=4, leg_gap=2, side_w=7),
    "child": Body(torso_w=8, torso_h=5, leg_h=2, leg_w=3, leg_gap=0, side_w=5),
}


@dataclass(frozen=True)
class Pose:
    head: int  # shoulders, arms and head shift (+ = down)
    hip: int  # hip shift (legs stretch)
    lift: tuple[int, int]  # foot lift of leg A / leg B
    stride: tuple[int, int]  # side view: foot x offset (+ = forward)
    arm: tuple[int, int]  # arm swing (+ = forward)


POSES: tuple[Pose, ...] = (
    Pose(0, 0, (0, 0), (0, 0), (0, 0)),  # idle 0
    Pose(1, 0, (0, 0), (0, 0), (0, 0)),  # idle 1: breathe out
    Pose(-1, -1, (2, 0), (0, 0), (0, 0)),  # walk 0: passing, leg A lifted
    Pose(0, 0, (0, 0), (2, -2), (-2, 2)),  # walk 1: contact, leg A forward
    Pose(-1, -1, (0, 2), (0, 0), (0, 0)),  # walk 2: passing, leg B lifted
    Pose(0, 0, (0, 0), (-2, 2), (2, -2)),  # walk 3: contact, leg B forward
)
assert len(POSES) == N_FRAMES

VIEWS = ("down", "side", "up")  # "left" = mirrored "side" (facing right)


@dataclass(frozen=True)
class Limb:
    x: int  # leftmost column at the top
    w: int
    top: int  # first row
    bottom: int  # last row (leg: last leg row above the shoe; arm: last sleeve/arm row)
    dx: int  # horizontal offset reached at the bottom (side view swing)
    near: bool


@dataclass(frozen=True)
class Skel:
    head_x: int
    head_y: int
    torso: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive
    legs: tuple[Limb, Limb]  # leg A, leg B
    feet: tuple[tuple[int, int], tuple[int, int]]  # (x, bottom row) per leg
    arms: tuple[Limb, Limb]  # down/up: screen-left, screen-right; side: near, far


def _lerp_off(dx: int, y: int, top: int, bottom: int) -> int:
    if bottom <= top:
        return dx
    return int(np.floor(dx * (y - top) / (bottom - top) + 0.5))


@functools.cache
def skeleton(body: str, view: str, frame: int) -> Skel:
    b = BODY_GEOM[body]
    p = POSES[frame]
    hip = b.legtop + p.hip
    t_top = b.torso_top + p.head
    if view == "side":
        tx0 = 16 - (b.side_w + 1) // 2
        tx1 = tx0 + b.side_w - 1
        head_x = 9
        legs = []
        feet = []
        for i, near in ((0, True), (1, False)):
            lx = 16 - b.leg_w // 2 - (0 if near else 1)
            lift = p.lift[i]
            bottom = GROUND - 2 - lift
            legs.append(Limb(lx, b.leg_w, hip, bottom, p.stride[i], near))
            feet.append((lx + p.stride[i], GROUND - lift))
        cx = tx0 + b.side_w // 2
        arm_bottom = b.legtop - 1 + p.head
        arms = (
            Limb(cx - 1, 2, t_top + 1, arm_bottom, p.arm[0], True),
            Limb(cx - 2, 2, t_top + 1, arm_bottom, p.arm[1], False),
        )
    else:
        tx0 = 16 - b.torso_w // 2
        tx1 = tx0 + b.torso_w - 1
        head_x = 9
        total = 2 * b.leg_w + b.leg_gap
        lx0 = 16 - total // 2
        legs = []
        feet = []
        for i in (0, 1):
            lx = lx0 + i * (b.leg_w + b.leg_gap)
            lift = p.lift[i]
            bottom = GROUND - 2 - lift
            legs.append(Limb(lx, b.leg_w, hip, bottom, 0, True))
            feet.append((lx, GROUND - lift))
        arm_bottom = b.legtop - 1 + p.head
        arms_l = []
        for i, ax in ((0, tx0 - 2), (1, tx1 + 1)):
            sw = p.arm[i]
            # front view: a forward swing brings the hand 1 px lower, a backward swing 1 higher
            dy = (1 if sw > 0 else -1 if sw < 0 else 0) * (1 if view == "down" else -1)
            arms_l.append(Limb(ax, 2, t_top + 1, arm_bottom + dy, 0, True))
        arms = (arms_l[0], arms_l[1])
    return Skel(
        head_x=head_x,
        head_y=b.head_top + p.head,
        torso=(tx0, t_top, tx1, hip - 1),
        legs=(legs[0], legs[1]),
        feet=(feet[0], feet[1]),
        arms=arms,
    )


def _new() -> np.ndarray:
    return np.zeros((FRAME, FRAME), np.uint8)


def _limb_rows(limb: Limb):
    """(y, x_left) for every row of a limb, with the side-view swing interpolated."""
    for y in range(limb.top, limb.bottom + 1):
        yield y, limb.x + _lerp_off(limb.dx, y, limb.top, limb.bottom)


# --- parts -------------------------------------------------------------------------------------
# Each part function draws one view/frame and returns a 32x32 code array.


def _draw_legs(body: str, view: str, frame: int) -> np.ndarray:
    sk = skeleton(body, view, frame)
    cv = _new()
    order = (1, 0) if view == "side" else (0, 1)  # far leg first
    for i in order:
        leg = sk.legs[i]
        far = view == "side" and not leg.near
        for y, x in _limb_rows(leg):
            rect(cv, x, y, x + leg.w - 1, y, C(SKIN, 1 if far else 2))
            put(cv, x + leg.w - 1, y, C(SKIN, 1))
    return cv


def _draw_bottom(style: str, body: str, view: str, frame: int) -> np.ndarray:
    sk = skeleton(body, view, frame)
    b = BODY_GEOM[body]
    cv = _new()
    x0, _, x1, _ = sk.torso
    hip = sk.legs[0].top
    # waist row spans the torso
    rect(cv, x0, hip, x1, hip, C(BOT, 2))
    put(cv, x1, hip, C(BOT, 1))
    if style == "skirt":
        rows = max(3, b.leg_h - 1)
        for r in range(rows):
            grow = (r + 1) // 2
            y = hip + r
            shade_row = 1 if r == rows - 1 else 2
            rect(cv, x0 - grow, y, x1 + grow, y, C(BOT, shade_row))
            put(cv, x1 + grow, y, C(BOT, 1))
            if r >= 1:
                for fx in range(x0 - grow + 2, x1 + grow - 1, 3):
                    put(cv, fx, y, C(BOT, 1))
        return cv
    order = (1, 0) if view == "side" else (0, 1)
    for i in order:
        leg = sk.legs[i]
        far = view == "side" and not leg.near
        last = leg.bottom if style == "trousers" else min(leg.bottom, hip + 2)
        for y, x in _limb_rows(leg):
            if y > last:
                break
            rect(cv, x, y, x + leg.w - 1, y, C(BOT, 1 if far else 2))
            put(cv, x + leg.w - 1, y, C(BOT, 1))
            if view != "side" and i == 1:
                put(cv, x, y, C(BOT, 1 if b.leg_gap == 0 else 2))
        if style == "shorts":
            y, x = last, leg.x + _lerp_off(leg.dx, last, leg.top, leg.bottom)
            rect(cv, x, y, x + leg.w - 1, y, C(BOT, 1))
    return cv


def _draw_shoes(style: str, body: str, view: str, frame: int) -> np.ndarray:
    sk = skeleton(body, view, frame)
    cv = _new()
    order = (1, 0) if view == "side" else (0, 1)
    for i in order:
        leg = sk.legs[i]
        fx, fy = sk.feet[i]
        far = view == "side" and not leg.near
        w = leg.w + 1
        if view == "side":
            sx = fx  # toes point right (forward)
        else:
            sx = fx - 1 if i == 0 else fx  # feet splay outward
        top_row, sole_row = fy - 1, fy
        if style == "barefoot":
            rect(cv, sx, top_row, sx + w - 1, sole_row, C(SKIN, 2))
            rect(cv, sx, sole_row, sx + w - 1, sole_row, C(SKIN, 1))
            continue
        mat = SHOE
        if style == "sandals":
            rect(cv, sx, top_row, sx + w - 1, top_row, C(SKIN, 2))
            rect(cv, sx, sole_row, sx + w - 1, sole_row, C(SHOE, 1))
            put(cv, sx + w // 2, top_row, C(SHOE, 2))
            continue
        rect(cv, sx, top_row, sx + w - 1, top_row, C(mat, 1 if far else 2))
        put(cv, sx + (w - 1 if view == "side" else 0), top_row, C(mat, 1 if far else 3))
        rect(cv, sx, sole_row, sx + w - 1, sole_row, C(mat, 0 if far else 1))
        if style == "boots":
            # shafts over the lower leg
            for y in range(top_row - 2, top_row):
                off = _lerp_off(leg.dx, y, leg.top, leg.bottom) if view == "side" else 0
                if y < leg.top:
                    continue
                rect(cv, leg.x + off, y, leg.x + off + leg.w - 1, y, C(mat, 1 if far else 2))
                put(cv, leg.x + off + leg.w - 1, y, C(mat, 1))
            y = top_row - 2
            if y >= leg.top:
                off = _lerp_off(leg.dx, y, leg.top, leg.bottom) if view == "side" else 0
                rect(cv, leg.x + off, y, leg.x + off + leg.w - 1, y, C(mat, 3 if not far else 2))
    return cv


def _accent_top(style: str) -> bool:
    return style in ("vest", "jacket")


def _draw_top(style: str, body: str, view: str, frame: int) -> np.ndarray:
    sk = skeleton(body, view, frame)
    cv = _new()
    x0, y0, x1, y1 = sk.torso
    mat = STEEL if style == "armor" else TOP
    hip = sk.legs[0].top
    if style == "robe":
        y1 = GROUND - 2
    elif style == "tunic":
        y1 = hip + 1
    # body of the garment
    for y in range(y0, y1 + 1):
        grow = 0
        if style == "robe" and y >= hip:
            grow = min(3, (y - hip) // 2 + 1)
        if style == "tunic" and y >= hip:
            grow = 1 if view != "side" else 0
        a, z = x0 - grow, x1 + grow
        if y == y0:
            a, z = a + 1, z - 1  # rounded shoulders
        rect(cv, a, y, z, y, C(mat, 2))
        put(cv, z, y, C(mat, 1))
        if view != "side" and z - a >= 6:
            put(cv, z - 1, y, C(mat, 1))
        if y == y0 or (y == y0 + 1 and view == "side"):
            rect(cv, a, y, z - 2, y, C(mat, 3))
    # hem
    rect(
        cv,
        x0 - (3 if style == "robe" else 1 if style == "tunic" and view != "side" else 0),
        y1,
        x1 + (3 if style == "robe" else 1 if style == "tunic" and view != "side" else 0),
        y1,
        C(mat, 1),
    )
    cx = (x0 + x1 + 1) // 2  # right one of the two centre columns
    if style == "robe" and view != "up":
        # trim down the front and at the hem
        if view == "down":
            for y in range(y0 + 1, y1 + 1):
                put(cv, cx - 1, y, C(GOLD, 2))
        rect(cv, x0 - 3, y1, x1 + 3, y1, C(GOLD, 1))
    if style in ("tunic", "armor", "robe", "jacket"):
        # belt / sash
        by = hip - 1 if style != "robe" else hip - 1
        bmat = LEATHER if style != "robe" else TOP2
        rect(cv, x0, by, x1, by, C(bmat, 2))
        put(cv, x1, by, C(bmat, 1))
        if view == "down":
            put(cv, cx - 1, by, C(GOLD, 3))
            put(cv, cx, by, C(GOLD, 2))
        elif view == "side":
            put(cv, x1, by, C(GOLD, 2))
    if view == "down":
        if style == "tank":
            for y in range(y0, y0 + 2):
                rect(cv, cx - 2, y, cx + 1, y, C(SKIN, 2 if y == y0 + 1 else 1))
        elif style in ("tshirt", "longsleeve"):
            put(cv, cx - 1, y0 + 1, C(SKIN, 1))
            put(cv, cx, y0 + 1, C(SKIN, 1))
        elif style == "tunic":
            put(cv, cx - 1, y0 + 1, C(SKIN, 1))
            put(cv, cx, y0 + 1, C(SKIN, 1))
            put(cv, cx - 1, y0 + 2, C(TOP, 1))
        elif style in ("vest", "jacket"):
            # open front shows the shirt (accent colour)
            for y in range(y0, hip - (1 if style == "jacket" else 0)):
                w = 1 if y < y0 + 2 else 1
                rect(cv, cx - 1 - w + 1, y, cx + w - 1, y, C(TOP2, 2 if y > y0 else 3))
            put(cv, cx - 2, y0 + 1, C(mat, 3))
            put(cv, cx + 1, y0 + 1, C(mat, 1))
        elif style == "armor":
            # chest plates and a centre ridge
            for y in range(y0 + 1, hip - 1):
                put(cv, cx - 1, y, C(STEEL, 3))
                put(cv, cx, y, C(STEEL, 1))
            rect(cv, x0 + 1, y0 + 3, cx - 2, y0 + 3, C(STEEL, 1))
            rect(cv, cx + 1, y0 + 3, x1 - 1, y0 + 3, C(STEEL, 1))
    elif view == "side":
        if style in ("vest", "jacket"):
            for y in range(y0 + 1, hip - (1 if style == "jacket" else 0)):
                put(cv, x1, y, C(TOP2, 2))
        elif style == "tank":
            put(cv, x1 - 1, y0, C(SKIN, 2))
            put(cv, x1, y0, C(SKIN, 1))
    elif view == "up":
        if style == "armor":
            for y in range(y0 + 1, hip - 1):
                put(cv, cx - 1, y, C(STEEL, 1))
        elif style == "robe":
            for y in range(y0 + 2, hip - 1):
                put(cv, cx - 1, y, C(mat, 1))
    return cv


def _sleeve(style: str) -> tuple[int, int]:
    """(material, rows of sleeve) for a top; -1 rows = whole arm."""
    return {
        "tshirt": (TOP, 2),
        "longsleeve": (TOP, -1),
        "tank": (TOP, 0),
        "tunic": (TOP, 3),
        "vest": (TOP2, -1),
        "jacket": (TOP, -1),
        "robe": (TOP, -1),
        "armor": (TOP, -1),
    }[style]


def _draw_arm(cv: np.ndarray, style: str, arm: Limb, view: str, inner_right: bool, far: bool):
    smat, srows = _sleeve(style)
    rows = list(_limb_rows(arm))
    n = len(rows)
    for r, (y, x) in enumerate(rows):
        on_sleeve = srows < 0 or r < srows
        mat = smat if on_sleeve else SKIN
        base = 1 if far else 2
        rect(cv, x, y, x + arm.w - 1, y, C(mat, base))
        # inner column (next to the torso) darker; on the side view the back edge
        ix = x + arm.w - 1 if inner_right else x
        put(cv, ix, y, C(mat, max(0, base - 1)))
        if r == 0 and not far:
            put(cv, x if inner_right else x + arm.w - 1, y, C(mat, 3))
        if style == "robe" and r >= n - 2:
            # wide sleeve opening
            ox = x - 1 if inner_right else x + arm.w
            if view == "side":
                ox = x - 1
            put(cv, ox, y, C(TOP, 1))
        if style == "longsleeve" and r == n - 1:
            rect(cv, x, y, x + arm.w - 1, y, C(TOP, 1 if not far else 0))
    # shoulder pad
    if style == "armor":
        y, x = rows[0]
        if view == "side":
            rect(cv, x - 1, y - 1, x + arm.w, y, C(STEEL, 1 if far else 2))
            put(cv, x, y - 1, C(STEEL, 3 if not far else 1))
        else:
            px = x - 1 if inner_right else x
            rect(cv, px, y - 1, px + arm.w, y, C(STEEL, 2))
            put(cv, px + 1, y - 1, C(STEEL, 3))
            rect(cv, px, y + 1, px + arm.w, y + 1, C(STEEL, 1))
    # hand
    hy = arm.bottom + 1
    hx = arm.x + arm.dx
    rect(cv, hx, hy, hx + arm.w - 1, hy + 1, C(SKIN, 1 if far else 2))
    put(cv, hx + (arm.w - 1 if inner_right else 0), hy + 1, C(SKIN, 1 if not far else 0))


def hand_pos(body: str, view: str, frame: int, which: int) -> tuple[int, int]:
    """Top-left pixel of a hand (2x2): down/up views which=0 screen-left, 1 screen-right;
    side view which=0 near hand, 1 far hand."""
    arm = skeleton(body, view, frame).arms[which]
    return arm.x + arm.dx, arm.bottom + 1


def _draw_arms(style: str, body: str, view: str, frame: int, far_only: bool) -> np.ndarray:
    sk = skeleton(body, view, frame)
    cv = _new()
    if view == "side":
        if far_only:
            _draw_arm(cv, style, sk.arms[1], view, inner_right=False, far=True)
        else:
            _draw_arm(cv, style, sk.arms[0], view, inner_right=False, far=False)
        return cv
    if far_only:
        return cv
    _draw_arm(cv, style, sk.arms[0], view, inner_right=True, far=False)
    _draw_arm(cv, style, sk.arms[1], view, inner_right=False, far=False)
    return cv


def _draw_hands(body: str, view: str, frame: int) -> np.ndarray:
    cv = _new()
    sk = skeleton(body, view, frame)
    arms = [sk.arms[0]] if view == "side" else [sk.arms[0], sk.arms[1]]
    for i, arm in enumerate(arms):
        inner_right = view != "side" and i == 0
        hy = arm.bottom + 1
        hx = arm.x + arm.dx
        rect(cv, hx, hy, hx + arm.w - 1, hy + 1, C(SKIN, 2))
        put(cv, hx + (arm.w - 1 if inner_right else 0), hy + 1, C(SKIN, 1))
    return cv


_HEAD_LEGEND = {"e": (SKIN, 2)}


@functools.cache
def _head_tpl(view: str) -> tuple[int, int, np.ndarray]:
    ox, oy, rows = HEAD_SIDE if view == "side" else HEAD_DOWN
    codes = parse_template(rows, SKIN, _HEAD_LEGEND)
    # chin shadow and ear detail
    if view != "side":
        codes[6:8, 0] = C(SKIN, 1)
        codes[6:8, -1] = C(SKIN, 1)
    return ox, oy, codes


_EYE_PATTERNS: dict[str, list[tuple[int, int, int, int]]] = {
    # (dx, dy, material, shade) for the LEFT eye at head-local (3, 6); the right eye mirrors
    "normal": [(0, 0, EYE, 0), (1, 0, EYE, 0), (0, 1, WHITE, 2), (1, 1, EYE, 2)],
    "big": [
        (0, -1, EYE, 0),
        (1, -1, EYE, 0),
        (0, 0, EYE, 3),
        (1, 0, EYE, 2),
        (0, 1, EYE, 1),
        (1, 1, EYE, 2),
    ],
    "small": [(1, 0, EYE, 0), (1, 1, EYE, 2)],
    "narrow": [(0, 1, EYE, 0), (1, 1, EYE, 1)],
}


def _draw_head(eye_style: str, body: str, view: str, frame: int) -> np.ndarray:
    sk = skeleton(body, view, frame)
    cv = _new()
    ox, oy, codes = _head_tpl(view)
    hx, hy = sk.head_x, sk.head_y
    blit(cv, codes, hx - ox, hy - oy)
    pat = _EYE_PATTERNS[eye_style]
    if view == "down":
        for dx, dy, m, s in pat:
            put(cv, hx + 3 + dx, hy + 6 + dy, C(m, s))
            put(cv, hx + 10 - dx, hy + 6 + dy, C(m, s))
        put(cv, hx + 6, hy + 9, C(SKIN, 1))
        put(cv, hx + 7, hy + 9, C(SKIN, 1))
    elif view == "side":
        for dx, dy, m, s in pat:
            put(cv, hx + 9 + dx, hy + 6 + dy, C(m, s))
        put(cv, hx + 11, hy + 9, C(SKIN, 1))
        # ear
        put(cv, hx + 5, hy + 6, C(SKIN, 1))
        put(cv, hx + 5, hy + 7, C(SKIN, 1))
        put(cv, hx + 4, hy + 7, C(SKIN, 1))
    return cv


def _hair_codes(style: str, view: str) -> tuple[int, int, np.ndarray] | None:
    spec = HAIR[style].get(view)
    if spec is None:
        return None
    ox, oy, rows = spec
    return ox, oy, parse_template(rows, HAIR_M)


_hair_codes = functools.lru_cache(maxsize=None)(_hair_codes)


def _clip_hair(cv: np.ndarray, headwear: str, view: str, hx: int, hy: int) -> None:
    clip = HAIR_CLIP[headwear]
    if clip is None:
        return
    yy, xx = np.mgrid[0:FRAME, 0:FRAME]
    ly, lx = yy - hy, xx - hx
    if headwear == "hood":
        if view == "down":
            keep = (ly >= 4) & (ly <= 9) & (lx >= 2) & (lx <= 11)
        elif view == "side":
            keep = (ly >= 4) & (ly <= 8) & (lx >= 9)
        else:
            keep = np.zeros_like(ly, bool)
        cv[~keep] = 0
    else:
        cv[ly < clip] = 0


def _draw_hair(style: str, headwear: str, body: str, view: str, frame: int, back: bool):
    sk = skeleton(body, view, frame)
    cv = _new()
    t = _hair_codes(style, view + ("_back" if back else ""))
    if t is not None:
        ox, oy, codes = t
        blit(cv, codes, sk.head_x - ox, sk.head_y - oy)
        _clip_hair(cv, headwear, view, sk.head_x, sk.head_y)
    return cv


_HAT_LEGEND = {
    "G": (GOLD, 3),
    "g": (GOLD, 2),
    "y": (GOLD, 1),
    "M": (STEEL, 3),
    "m": (STEEL, 2),
    "n": (STEEL, 1),
    "R": (GEM, 2),
    "r": (GEM, 1),
}
_HAT_MAT = {"helmet": STEEL, "crown": GOLD}


@functools.cache
def _hat_codes(style: str, view: str) -> tuple[int, int, np.ndarray] | None:
    spec = HEADWEAR[style].get(view)
    if spec is None:
        return None
    ox, oy, rows = spec
    return ox, oy, parse_template(rows, _HAT_MAT.get(style, HAT), _HAT_LEGEND)


def _draw_headwear(style: str, body: str, view: str, frame: int) -> np.ndarray:
    sk = skeleton(body, view, frame)
    cv = _new()
    t = _hat_codes(style, view)
    if t is not None:
        ox, oy, codes = t
        blit(cv, codes, sk.head_x - ox, sk.head_y - oy)
    return cv


# --- held items ----------------------------------------------------------------------------------
# Item sprites point up-left from the grip '@' (diagonal ones) or straight up (poles); they are
# mirrored to point outward/forward as the view needs.

_ITEM_LEGEND = {
    "M": (STEEL, 3),
    "m": (STEEL, 2),
    "n": (STEEL, 1),
    "N": (STEEL, 0),
    "G": (GOLD, 3),
    "g": (GOLD, 2),
    "y": (GOLD, 1),
    "W": (WOOD, 3),
    "w": (WOOD, 2),
    "v": (WOOD, 1),
    "L": (LEATHER, 2),
    "l": (LEATHER, 1),
    "@": (LEATHER, 2),
    "E": (GEM, 3),
    "e": (GEM, 2),
    "c": (GEM, 1),
    "F": (FLAME, 3),
    "f": (FLAME, 2),
    "r": (FLAME, 1),
    "R": (FLAME, 0),
    "T": (TOP, 2),
    "t": (TOP, 1),
}


def _shaft(n: int) -> list[str]:
    return [".v." if i % 3 == 2 else ".w." for i in range(n)]


ITEM_SPRITES: dict[str, list[str]] = {
    "sword": [
        "M........",
        "mM.......",
        ".mM......",
        "..mM...y.",
        "...mM.g..",
        "....nG...",
        "....gy...",
        "...g..L..",
        ".......@.",
        "........g",
    ],
    "axe": [
        "..mM.....",
        ".nmMM....",
        "nmmWMm...",
        ".nnnwm...",
        "...n.v...",
        "......w..",
        ".......@.",
        "........v",
    ],
    "wand": [
        ".E...",
        "EeE..",
        ".Ew..",
        "...w.",
        "....@",
    ],
    "spear": [".M.", ".M.", "Mmn", "Mmn", ".n.", ".y."] + _shaft(15) + [".@.", ".w.", ".v."],
    "staff": [".E.", "Eec", ".cW", ".Wv"] + _shaft(17) + [".@.", ".w.", ".v."],
    "torch": [
        ".F.",
        "FfF",
        "rFf",
        "rfr",
        ".R.",
        ".L.",
        ".w.",
        ".v.",
        ".@.",
        ".v.",
    ],
}
# shields: front (face), back (straps), side (edge-on); anchor = centre cell '@'
SHIELD_SPRITES: dict[str, list[str]] = {
    "front": [
        ".MMMMm.",
        "MTTgTTn",
        "MTTgTtn",
        "mggGggn",
        "mTTgTtn",
        ".mTg@n.",
        "..mtn..",
        "...n...",
    ],
    "back": [
        ".nnnnn.",
        "nvwwwvN",
        "nwLLLwN",
        "nwwwwvN",
        "nwLLLvN",
        ".nwv@N.",
        "..nvN..",
        "...N...",
    ],
    "side": [
        ".M.",
        "mTn",
        "mTn",
        "mgn",
        "mTn",
        "mT@",
        ".n.",
    ],
}


@functools.cache
def _item_codes(name: str) -> tuple[np.ndarray, int, int]:
    rows = ITEM_SPRITES[name] if name in ITEM_SPRITES else SHIELD_SPRITES[name]
    codes = parse_template(rows, STEEL, _ITEM_LEGEND)
    ay = next(i for i, r in enumerate(rows) if "@" in r)
    ax = rows[ay].index("@")
    return codes, ax, ay


_POLES = ("spear", "staff", "torch")


def _place(cv: np.ndarray, name: str, hx: int, hy: int, mirror: bool, outward: int) -> None:
    """Draw item ``name`` with its grip in the hand whose top-left is (hx, hy)."""
    codes, ax, ay = _item_codes(name)
    if mirror:
        codes = codes[:, ::-1]
        ax = codes.shape[1] - 1 - ax
    if name in _POLES:
        gx = hx - 2 if outward < 0 else hx + 3  # pole just outside the hand
        gy = hy
    elif name in SHIELD_SPRITES:
        gx, gy = hx + (1 if outward > 0 else 0), hy
    else:
        gx = hx + 1 if outward < 0 else hx  # grip in the hand's inner column
        gy = hy
    blit(cv, codes, gx - ax, gy - ay)


def _weapon_of(item: str) -> str | None:
    if item == "sword_shield":
        return "sword"
    return item if item in ITEM_SPRITES else None


def _has_shield(item: str) -> bool:
    return item in ("shield", "sword_shield")


def _draw_items(item: str, body: str, direction: str, frame: int, layer: str) -> np.ndarray:
    """Weapon + shield pixels of one layer - "back" (behind the body), "mid" (in front of the
    body, behind the head: poles held in the near hand) or "front" - in the direction's own
    frame (the left view is already mirrored)."""
    cv = _new()
    front = layer != "back"
    weapon = _weapon_of(item)
    if weapon in ("spear", "staff") and direction in ("left", "right") and front:
        if (layer == "mid") != (direction == "right"):
            weapon = None
    elif layer == "mid":
        return cv
    shield = _has_shield(item)
    if direction == "down":
        if front:
            if weapon:
                hx, hy = hand_pos(body, "down", frame, 0)
                _place(cv, weapon, hx, hy, mirror=False, outward=-1)
            if shield:
                hx, hy = hand_pos(body, "down", frame, 1)
                _place(cv, "front", hx, hy, mirror=False, outward=1)
        return cv
    if direction == "up":
        if not front:
            if weapon:
                hx, hy = hand_pos(body, "up", frame, 1)
                _place(cv, weapon, hx, hy, mirror=True, outward=1)
            if shield:
                hx, hy = hand_pos(body, "up", frame, 0)
                _place(cv, "back", hx, hy, mirror=False, outward=-1)
        return cv
    # side views, drawn facing right; the right hand is near when facing right, far when left
    weapon_near = direction == "right"
    if weapon and front == weapon_near:
        hx, hy = hand_pos(body, "side", frame, 0 if weapon_near else 1)
        _place(cv, weapon, hx, hy, mirror=True, outward=1)
    if shield and front != weapon_near and layer != "mid":
        hx, hy = hand_pos(body, "side", frame, 1 if weapon_near else 0)
        _place(cv, "side", hx, hy, mirror=False, outward=1)
    return cv[:, ::-1].copy() if direction == "left" else cv


# --- part cache and compositing --------------------------------------------------------------

# back-to-front order; (part name, outline-against-what-is-below?)
LAYER_ORDER: tuple[tuple[str, bool], ...] = (
    ("items_back", True),
    ("arm_far", False),
    ("hair_back", False),
    ("legs", False),
    ("bottom", False),
    ("shoes", False),
    ("top", False),
    ("arms", True),
    ("items_mid", True),
    ("head", True),
    ("hair", False),
    ("headwear", True),
    ("items_front", True),
    ("hands", False),
)


def _view_of(direction: str) -> str:
    return "side" if direction in ("left", "right") else direction


def _stack(fn) -> np.ndarray:
    """(4, F, 32, 32) codes from fn(view, frame); left = mirrored right."""
    out = np.zeros((len(DIRECTIONS), N_FRAMES, FRAME, FRAME), np.uint8)
    for d, direction in enumerate(DIRECTIONS):
        for f in range(N_FRAMES):
            if direction == "left":
                continue
            out[d, f] = fn(_view_of(direction), f)
    li, ri = DIRECTIONS.index("left"), DIRECTIONS.index("right")
    out[li] = out[ri][:, :, ::-1]
    return out


def _ring(mask: np.ndarray) -> np.ndarray:
    """4-neighbour ring just outside ``mask`` (..., H, W)."""
    d = np.zeros_like(mask)
    d[..., 1:, :] |= mask[..., :-1, :]
    d[..., :-1, :] |= mask[..., 1:, :]
    d[..., :, 1:] |= mask[..., :, :-1]
    d[..., :, :-1] |= mask[..., :, 1:]
    return d & ~mask


@functools.lru_cache(maxsize=2048)
def part_layer(part: str, key: tuple[str, ...], body: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Cached (codes (4, F, 32, 32), ring mask or None) of one part option for one body."""
    if part == "legs":
        arr = _stack(lambda v, f: _draw_legs(body, v, f))
    elif part == "bottom":
        arr = _stack(lambda v, f: _draw_bottom(key[0], body, v, f))
    elif part == "shoes":
        arr = _stack(lambda v, f: _draw_shoes(key[0], body, v, f))
    elif part == "top":
        arr = _stack(lambda v, f: _draw_top(key[0], body, v, f))
    elif part == "arms":
        arr = _stack(lambda v, f: _draw_arms(key[0], body, v, f, far_only=False))
    elif part == "arm_far":
        arr = _stack(lambda v, f: _draw_arms(key[0], body, v, f, far_only=True))
    elif part == "hands":
        arr = _stack(lambda v, f: _draw_hands(body, v, f))
    elif part == "head":
        arr = _stack(lambda v, f: _draw_head(key[0], body, v, f))
    elif part == "hair":
        arr = _stack(lambda v, f: _draw_hair(key[0], key[1], body, v, f, back=False))
    elif part == "hair_back":
        arr = _stack(lambda v, f: _draw_hair(key[0], key[1], body, v, f, back=True))
    elif part == "headwear":
        arr = _stack(lambda v, f: _draw_headwear(key[0], body, v, f))
    elif part in ("items_front", "items_mid", "items_back"):
        arr = np.zeros((len(DIRECTIONS), N_FRAMES, FRAME, FRAME), np.uint8)
        for d, direction in enumerate(DIRECTIONS):
            for f in range(N_FRAMES):
                arr[d, f] = _draw_items(key[0], body, direction, f, part.split("_")[1])
    else:  # pragma: no cover - programming error
        raise KeyError(part)
    arr.setflags(write=False)
    return arr, None


def _part_keys(a: dict[str, str]) -> dict[str, tuple[str, ...]]:
    return {
        "items_back": (a["item"],),
        "arm_far": (a["top"],),
        "hair_back": (a["hair_style"], a["headwear"]),
        "legs": (),
        "bottom": (a["bottom"],),
        "shoes": (a["shoes"],),
        "top": (a["top"],),
        "arms": (a["top"],),
        "head": (a["eye_style"],),
        "hair": (a["hair_style"], a["headwear"]),
        "headwear": (a["headwear"],),
        "items_mid": (a["item"],),
        "items_front": (a["item"],),
        "hands": (),
    }


def compose_codes(attrs: dict[str, str], outline: bool = True) -> np.ndarray:
    """(4, F, 32, 32) material codes of a full character (0 = transparent)."""
    body = attrs["body"]
    keys = _part_keys(attrs)
    out = np.zeros((len(DIRECTIONS), N_FRAMES, FRAME, FRAME), np.uint8)
    for part, ring in LAYER_ORDER:
        if part == "hands" and _weapon_of(attrs["item"]) is None:
            continue
        layer, _ = part_layer(part, keys[part], body)
        m = layer != 0
        if ring and outline:
            r = _ring(m) & (out != 0)
            out[r] = C(OUT, 0)
        np.copyto(out, layer, where=m)
    if outline:
        out[_ring(out != 0)] = C(OUT, 0)
    return out


def _top2_ramp(attrs: dict[str, str]) -> pal.Ramp:
    if attrs["top"] == "robe":
        return pal.GOLD_RAMP
    dark_shirt = attrs["top_color"] in ("white", "grey", "yellow", "pink")
    return pal.CLOTH_RAMPS["black" if dark_shirt else "white"]


def color_lut(attrs: dict[str, str]) -> np.ndarray:
    """(N_CODES, 4) uint8 RGBA for every material code of this character."""
    ramps: dict[int, pal.Ramp] = {
        SKIN: pal.SKIN_RAMPS[attrs["skin"]],
        HAIR_M: pal.HAIR_RAMPS[attrs["hair_color"]],
        EYE: pal.EYE_RAMPS[attrs["eyes"]],
        WHITE: pal.SCLERA_RAMP,
        TOP: pal.CLOTH_RAMPS[attrs["top_color"]],
        TOP2: _top2_ramp(attrs),
        BOT: pal.CLOTH_RAMPS[attrs["bottom_color"]],
        SHOE: pal.CLOTH_RAMPS[attrs["shoes_color"]],
        HAT: pal.CLOTH_RAMPS[attrs["headwear_color"]],
        STEEL: pal.STEEL_RAMP,
        GOLD: pal.GOLD_RAMP,
        WOOD: pal.WOOD_RAMP,
        LEATHER: pal.LEATHER_RAMP,
        GEM: pal.GEM_RAMP,
        FLAME: pal.FLAME_RAMP,
        MOUTH: pal.MOUTH_RAMP,
    }
    lut = np.zeros((N_CODES, 4), np.uint8)
    for m, ramp in ramps.items():
        for s in range(4):
            lut[m * 4 + s, :3] = ramp[s]
            lut[m * 4 + s, 3] = 255
    for s in range(4):
        lut[OUT * 4 + s, :3] = pal.OUTLINE_RGB
        lut[OUT * 4 + s, 3] = 255
    return lut


def resolve_attributes(attrs: dict[str, Any] | None, seed: int) -> dict[str, str]:
    """Complete ``attrs`` with seeded draws (see :func:`sample_attributes`)."""
    return sample_attributes(make_rng(seed), **validate_attributes(dict(attrs or {})))


def render_sheet(attrs: dict[str, Any] | None = None, seed: int = 0, *, outline: bool = True):
    """(4 directions, 6 frames, 32, 32, 4) uint8 RGBA sheet of one character.

    Missing attributes are drawn with ``seed``; a complete attribute dict renders the same
    pixels for any seed.
    """
    full = resolve_attributes(attrs, seed)
    codes = compose_codes(full, outline=outline)
    return color_lut(full)[codes]


def used_ramps(attrs: dict[str, str]) -> dict[str, pal.Ramp]:
    """The ramps a character's attributes select (for tests and labels)."""
    return {
        "skin": pal.SKIN_RAMPS[attrs["skin"]],
        "hair_color": pal.HAIR_RAMPS[attrs["hair_color"]],
        "eyes": pal.EYE_RAMPS[attrs["eyes"]],
        "top_color": pal.CLOTH_RAMPS[attrs["top_color"]],
        "bottom_color": pal.CLOTH_RAMPS[attrs["bottom_color"]],
        "shoes_color": pal.CLOTH_RAMPS[attrs["shoes_color"]],
        "headwear_color": pal.CLOTH_RAMPS[attrs["headwear_color"]],
    }
