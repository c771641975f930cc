"""Interoperability: Phaser 3 (in headless Chromium) reads GenStudio's Aseprite sheet export.

The sheet is exported in both Aseprite JSON flavours (hash, array) at scale 1 (``export_sheet``)
and scale 2 (``export_sheet_file``, the CLI path), and a Universal LPC layout sheet (13 x 25
frames of 64 px: 7 animations, hurt facing down only, cells outside every animation) in both
flavours at scale 1. ``phaser/index.html`` loads each one with
``this.load.aseprite`` and ``this.load.atlas``, calls ``this.anims.createFromAseprite``, plays
every tag on a sprite with a hand-stepped clock, redraws every frame with Phaser's canvas
renderer and writes all of it as JSON into the page, which ``chromium --headless --dump-dom``
hands back. What Phaser understood is compared with what the sheet must contain, written down
here independently of the exporter (GenStudio: 4 directions x (2 idle @ 500 ms + 4 walk @ 125 ms);
LPC: the table ``LPC`` below; a grid of equal frames), and its redrawn pixels with the PNG as
Pillow reads it.

Needs ``chromium`` (or ``GENSTUDIO_CHROMIUM=/path/to/chrome``) and ``npm ci`` run in
``tests/interop/phaser`` (``./bootstrap.sh test`` does both); skipped without them. Everything is
file://, Chromium needs no network.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genstudio.generators.sprites import export, procedural
from tests.interop.headless import run_headless_page

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).resolve().parent
APP = HERE / "phaser"  # the Phaser page and its npm package
PAGE = APP / "index.html"
PHASER_JS = APP / "node_modules" / "phaser" / "dist" / "phaser.min.js"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

DIRS = ("down", "left", "right", "up")
ANIMS = (("idle", 2, 500), ("walk", 4, 125))  # name, frames, ms per frame
COLS, ROWS, SIZE = 6, 4, 32
TAGS = [f"{a}_{d}" for d in DIRS for a, _, _ in ANIMS]  # Aseprite tag order: per row, per anim
RAW = ["hash-x1", "array-x1", "hash-x2", "array-x2", "lpc-hash-x1", "lpc-array-x1"]

LPC_DIRS = ("up", "left", "down", "right")
#: the Universal LPC sheet + GenStudio's idle rows: (name, first row, first column, frames, ms,
#: directions); the walk rows' column 0 is the standing pose, in no animation
LPC = (
    ("spellcast", 0, 0, 7, 100, LPC_DIRS),
    ("thrust", 4, 0, 8, 90, LPC_DIRS),
    ("walk", 8, 1, 8, 100, LPC_DIRS),
    ("slash", 12, 0, 6, 90, LPC_DIRS),
    ("shoot", 16, 0, 13, 70, LPC_DIRS),
    ("hurt", 20, 0, 6, 110, ("down",)),
    ("idle", 21, 0, 2, 500, LPC_DIRS),
)
UNTRACKED_MS = 100  # a cell of no animation (Aseprite's default duration)

# Phaser's createFromAseprite looks the frames of a tag up as String(index), in the JSON and in
# the texture, so GenStudio names frames by their index ("{frame}"); with Aseprite's default
# "<title> <index>.png" names, Phaser's animations get no frames (hash) or only the first (array).


# --- expectations, independent of the exporter ----------------------------------------------


def expected_tags() -> dict[str, list[tuple[int, int]]]:
    """tag -> [(frame index, ms), ...] of the GenStudio sheet"""
    out = {}
    for r, d in enumerate(DIRS):
        col = 0
        for a, n, ms in ANIMS:
            out[f"{a}_{d}"] = [(r * COLS + col + k, ms) for k in range(n)]
            col += n
    return out


def lpc_tags() -> dict[str, list[tuple[int, int]]]:
    out = {}
    for a, row0, col0, n, ms, dirs in LPC:
        for k, d in enumerate(dirs):
            out[f"{a}_{d}"] = [((row0 + k) * 13 + col0 + i, ms) for i in range(n)]
    return out


@dataclass(frozen=True)
class Grid:
    """What a sheet must be: ``cols`` x ``rows`` frames of ``size`` px (at scale 1), tags."""

    cols: int
    rows: int
    size: int
    tags: dict[str, list[tuple[int, int]]]

    @property
    def n(self) -> int:
        return self.cols * self.rows

    @property
    def order(self) -> list[str]:
        """Aseprite's tag order: by first frame."""
        return sorted(self.tags, key=lambda t: self.tags[t][0][0])

    def ms(self, i: int) -> int:
        return {k: m for frames in self.tags.values() for k, m in frames}.get(i, UNTRACKED_MS)


GENSTUDIO = Grid(COLS, ROWS, SIZE, expected_tags())
LPC_GRID = Grid(13, 25, 64, lpc_tags())
assert GENSTUDIO.order == TAGS


def grid_rect(i: int, fw: int, fh: int, cols: int = COLS) -> dict[str, int]:
    return {"x": (i % cols) * fw, "y": (i // cols) * fh, "w": fw, "h": fh}


def normalized(rgba: np.ndarray) -> np.ndarray:
    """Fully transparent pixels carry no colour (a canvas does not keep it)."""
    out = np.array(rgba, dtype=np.uint8)
    out[out[..., 3] == 0] = 0
    return out


def read_png(data: bytes | Path) -> np.ndarray:
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(src) as im:
        return normalized(np.asarray(im.convert("RGBA")))


def frame_names(doc: dict[str, Any]) -> list[str]:
    frames = doc["frames"]
    return list(frames) if isinstance(frames, dict) else [f["filename"] for f in frames]


# --- checks: lists of problems, so a broken file says everything that is wrong ----------------


def texture_problems(
    case: dict[str, Any],
    key: str,
    names: list[str],
    png: np.ndarray,
    scale: int,
    grid: Grid = GENSTUDIO,
) -> list[str]:
    fw = fh = grid.size * scale
    tex = case[key]
    p = []
    if not tex["exists"]:
        return [f"{key}: no texture"]
    if tex["frameTotal"] != grid.n + 1:  # + Phaser's __BASE frame
        p.append(f"{key}: {tex['frameTotal'] - 1} frames, expected {grid.n}")
    if tex["frameNames"] != names:
        p.append(f"{key}: frame names {tex['frameNames']} != the JSON's {names}")
    if (tex["source"]["h"], tex["source"]["w"]) != png.shape[:2]:
        p.append(f"{key}: image {tex['source']} != PNG {png.shape[1]}x{png.shape[0]}")
    for i, name in enumerate(names):
        got = tex["frames"].get(name)
        if got != grid_rect(i, fw, fh, grid.cols):
            p.append(f"{key}: frame {name!r} rect {got} != {grid_rect(i, fw, fh, grid.cols)}")
    drawn = read_png(base64.b64decode(tex["redraw"].split(",", 1)[1]))
    if drawn.shape != png.shape:
        p.append(f"{key}: redrawn sheet {drawn.shape} != PNG {png.shape}")
    else:
        for i in range(grid.n):
            r = grid_rect(i, fw, fh, grid.cols)
            sl = np.s_[r["y"] : r["y"] + fh, r["x"] : r["x"] + fw]
            if not np.array_equal(drawn[sl], png[sl]):
                n = int((drawn[sl] != png[sl]).any(-1).sum())
                p.append(f"{key}: frame {i} as drawn by Phaser differs from the PNG in {n} pixels")
    return p


def anim_problems(
    case: dict[str, Any], names: list[str], scale: int, grid: Grid = GENSTUDIO
) -> list[str]:
    fw = fh = grid.size * scale
    p = []
    if case["created"] != grid.order:
        p.append(f"createFromAseprite made {case['created']}, expected {grid.order}")
    anims = {a["key"]: a for a in case["anims"]}
    for tag, frames in grid.tags.items():
        a = anims.get(tag)
        if a is None:
            p.append(f"{tag}: no animation")
            continue
        if len(a["frames"]) != len(frames):
            p.append(f"{tag}: {len(a['frames'])} frames, expected {len(frames)}")
        durations = [f["duration"] for f in a["frames"]]
        if durations != [ms for _, ms in frames]:
            p.append(f"{tag}: durations {durations} != {[ms for _, ms in frames]}")
        if a["duration"] != sum(ms for _, ms in frames):
            p.append(f"{tag}: total duration {a['duration']}")
        for k, (f, (i, _)) in enumerate(zip(a["frames"], frames)):
            if not f["exists"] or f["textureFrame"] != names[i]:
                p.append(
                    f"{tag}[{k}]: texture frame {f['textureFrame']!r} (exists: {f['exists']}), expected {names[i]!r}"
                )
            want_rect = grid_rect(i, fw, fh, grid.cols)
            if f["rect"] != want_rect:
                p.append(f"{tag}[{k}]: shows rect {f['rect']}, expected {want_rect}")
        play = case["play"].get(tag, {})
        if play.get("error"):
            p.append(f"{tag}: a sprite cannot play it: {play['error']}")
            continue
        if not play.get("isPlaying") or play.get("currentAnim") != tag:
            p.append(f"{tag}: not playing on a sprite ({play})")
            continue
        if play["frame"] != names[frames[0][0]] or play["size"] != {"w": fw, "h": fh}:
            p.append(
                f"{tag}: starts on {play['frame']!r} {play['size']}, expected {names[frames[0][0]]!r}"
            )
        t, want = 0, []
        for k, (_, ms) in enumerate(frames):  # one loop: frame k+1 (then 0 again) after ms
            t += ms
            nxt = (k + 1) % len(frames)  # Phaser numbers animation frames from 1
            want.append({"t": t, "index": nxt + 1, "frame": names[frames[nxt][0]]})
        if play["changes"] != want:
            p.append(f"{tag}: plays {play['changes']}, expected {want}")
    return p


# --- the run -------------------------------------------------------------------------------


def find_chromium() -> tuple[str | None, str]:
    env = os.environ.get("GENSTUDIO_CHROMIUM")
    if env:
        path = shutil.which(env)
        return path, f"GENSTUDIO_CHROMIUM={env} is not an executable"
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path, ""
    return None, "no Chromium found (apt-get install chromium, or set GENSTUDIO_CHROMIUM)"


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def phaser(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    chromium, why = find_chromium()
    if chromium is None:
        pytest.skip(why)
    if not PHASER_JS.is_file():
        pytest.skip(f"Phaser is not installed: run `npm ci` in {APP}")
    out = tmp_path_factory.mktemp("phaser")
    sheet = procedural.render_sheet(None, seed=7)
    export.export_sheet(sheet, out, "hero", formats=["aseprite"], scale=1)
    export.export_sheet_file(out / "hero.png", formats=["aseprite"], scale=2)

    rng = np.random.default_rng(3)
    lpc = rng.integers(0, 256, (25 * 64, 13 * 64, 4), dtype=np.uint8)
    lpc[..., 3] = np.where(lpc[..., 3] > 100, 255, 0)  # a canvas keeps 0/255 alpha exactly
    export.export_sheet(lpc, out, "lpc", formats=["aseprite"])  # layout found from the size

    cases: dict[str, dict[str, Any]] = {}
    for scale, base, prefix, grid in (
        (1, "hero", "", GENSTUDIO),
        (2, "hero_x2", "", GENSTUDIO),
        (1, "lpc", "lpc-", LPC_GRID),
    ):
        for fl, name in (("hash", f"{base}.json"), ("array", f"{base}.array.json")):
            doc = json.loads((out / name).read_text(encoding="utf-8"))
            png = out / f"{base}.png"
            cases[f"{prefix}{fl}-x{scale}"] = {
                "png": png,
                "json": out / name,
                "doc": doc,
                "scale": scale,
                "grid": grid,
            }
    # deliberately broken files, to show that the checks can fail
    bad = json.loads(json.dumps(cases["hash-x1"]["doc"]))
    seventh = frame_names(bad)[7]
    bad["frames"][seventh]["frame"]["x"] += SIZE  # frame 7 points at frame 8
    cases["bad-rect"] = {
        "png": out / "hero.png",
        "json": write_json(out / "bad-rect.json", bad),
        "doc": bad,
        "scale": 1,
        "grid": GENSTUDIO,
    }
    bad = json.loads(json.dumps(cases["array-x1"]["doc"]))
    bad["frames"][3]["duration"] = 250  # walk_down's 2nd frame
    cases["bad-duration"] = {
        "png": out / "hero.png",
        "json": write_json(out / "bad-duration.json", bad),
        "doc": bad,
        "scale": 1,
        "grid": GENSTUDIO,
    }

    config = [
        {
            "name": k,
            "png": c["png"].as_uri(),
            "json": c["json"].as_uri(),
            "cols": c["grid"].cols,
            "rows": c["grid"].rows,
        }
        for k, c in cases.items()
    ]
    cfg = out / "cases.js"
    cfg.write_text(f"window.GENSTUDIO_INTEROP_CASES = {json.dumps(config)};\n", encoding="utf-8")
    result = run_headless_page(chromium, PAGE, cfg, out, budget_ms=10000, timeout=90)
    got = {c["name"]: c for c in result["cases"]}
    for k, c in cases.items():
        assert got[k]["ok"], f"{k}: {got[k].get('error')}"
        c["phaser"] = got[k]
        c["names"] = frame_names(c["doc"])
        c["pixels"] = read_png(c["png"])
    return {"version": result["phaser"], "cases": cases, "sheet": sheet, "lpc": lpc}


# --- tests ---------------------------------------------------------------------------------


def test_phaser_version_and_renderer(phaser):
    pinned = json.loads((APP / "package.json").read_text())["dependencies"]["phaser"]
    assert phaser["version"] == pinned
    assert all(c["phaser"]["canvasRenderer"] for c in phaser["cases"].values())


@pytest.mark.parametrize("name", RAW)
def test_genstudio_files_are_what_the_checks_expect(phaser, name):
    """The PNG (read by Pillow) is the exported sheet, the JSON has the tags and durations."""
    c = phaser["cases"][name]
    s, g = c["scale"], c["grid"]
    if g is GENSTUDIO:
        img = np.zeros((ROWS * SIZE, COLS * SIZE, 4), np.uint8)
        for r in range(ROWS):
            for f in range(COLS):
                img[r * SIZE : (r + 1) * SIZE, f * SIZE : (f + 1) * SIZE] = phaser["sheet"][r, f]
    else:
        img = phaser["lpc"]
    assert np.array_equal(c["pixels"], normalized(img.repeat(s, 0).repeat(s, 1)))
    doc = c["doc"]
    assert doc["meta"]["image"] == c["png"].name
    assert doc["meta"]["size"] == {"w": g.cols * g.size * s, "h": g.rows * g.size * s}
    assert doc["meta"]["scale"] == "1"  # the PNG is already scaled
    bodies = list(doc["frames"].values()) if "hash" in name else doc["frames"]
    assert len(bodies) == len(set(c["names"])) == g.n
    for i, b in enumerate(bodies):
        assert b["frame"] == grid_rect(i, g.size * s, g.size * s, g.cols)
        assert b["duration"] == g.ms(i)
    tags = {
        t["name"]: [(i, g.ms(i)) for i in range(t["from"], t["to"] + 1)]
        for t in doc["meta"]["frameTags"]
    }
    assert tags == g.tags
    assert [t["name"] for t in doc["meta"]["frameTags"]] == g.order


@pytest.mark.parametrize("name", RAW)
def test_phaser_reads_frames_and_pixels(phaser, name):
    """load.aseprite and load.atlas: every frame of the right size and place, the same pixels."""
    c = phaser["cases"][name]
    for key in ("aseprite", "atlas"):
        problems = texture_problems(
            c["phaser"], key, c["names"], c["pixels"], c["scale"], c["grid"]
        )
        assert not problems, "\n".join(problems)
    assert c["phaser"]["created"] == c["grid"].order  # one animation per tag, named as in Aseprite


@pytest.mark.parametrize("name", RAW)
def test_phaser_plays_the_animations(phaser, name):
    """createFromAseprite: every tag with its frames and durations, playable on a sprite."""
    c = phaser["cases"][name]
    assert c["names"] == [str(i) for i in range(c["grid"].n)]  # keys Phaser looks up
    problems = anim_problems(c["phaser"], c["names"], c["scale"], c["grid"])
    assert not problems, "\n".join(problems)


def test_broken_json_is_caught(phaser):
    cases = phaser["cases"]
    c = cases["bad-rect"]
    problems = texture_problems(c["phaser"], "atlas", c["names"], c["pixels"], 1)
    assert any("rect {'x': 64, 'y': 32" in p and c["names"][7] in p for p in problems), problems
    assert any("frame 7 as drawn by Phaser differs" in p for p in problems), problems
    assert len(problems) == 2, problems  # and nothing else
    c = cases["bad-duration"]
    problems = anim_problems(c["phaser"], c["names"], 1)
    assert any(p.startswith("walk_down: durations [125, 250, 125, 125]") for p in problems), (
        problems
    )
    assert any(p.startswith("walk_down: plays") for p in problems), problems
