"""Interoperability: PixiJS v8 (in headless Chromium) reads GenStudio's ``.pixi.json`` export.

``pixi/index.html`` loads, with ONE ``Assets.load`` (one global texture cache, as in a game),
three sheets at once: a GenStudio 32 px sheet exported at scale 2 (``export_sheet``), the same
sheet at scale 1 through ``export_sheet_file`` (the CLI path) and a Universal LPC layout sheet
(13 x 25 frames of 64 px). For every sheet it reports the ``Spritesheet``'s textures (count,
names, frame rects and sizes in pixels, anchors), whether each name's global ``Cache`` entry is
still that sheet's texture after all were loaded, its ``animations`` (and an ``AnimatedSprite``
of each), every ``console.warn`` (Pixi warns ``[Cache] already has key: <name>`` when a second
texture of the same name is loaded), and one frame of each sheet drawn alone by Pixi's
Canvas2D renderer, which is compared with the PNG as Pillow reads it. What the sheets must
contain is written down independently of the exporter (the tables of
``test_phaser_aseprite``).

Two more phases show what the checks catch:

* our Aseprite hash JSON (``hero.json``, ``lpc.json``) is a valid TexturePacker file too, but its
  frames are named by their bare index (what Phaser's ``createFromAseprite`` needs), so loading
  two of them makes the second overwrite frames ``"0"``..``"23"`` of the first in Pixi's cache,
  with a warning for each (in the development build ``pixi.js`` the page loads; the minified
  ``pixi.min.js`` overwrites silently): the ``.pixi.json`` (names
  ``<sheet>/<animation>_<direction>_<n>``) is the file for PixiJS;
* a ``.pixi.json`` of a x2 sheet with ``meta.scale: "2"`` (what the exporter wrote before:
  Pixi reads ``meta.scale`` as the texture's resolution) gives frames of half the size.

Needs ``chromium`` (or ``GENSTUDIO_CHROMIUM=/path/to/chrome``) and ``npm ci`` run in
``tests/interop/pixi`` (``./bootstrap.sh test`` does both); skipped without them. Everything is
file://, Chromium needs no network.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genstudio.generators.sprites import export, procedural
from tests.interop.headless import run_headless_page
from tests.interop.test_phaser_aseprite import (
    GENSTUDIO,
    LPC_GRID,
    Grid,
    find_chromium,
    normalized,
    read_png,
)

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).resolve().parent
APP = HERE / "pixi"  # the Pixi page and its npm package
PAGE = APP / "index.html"
PIXI_JS = APP / "node_modules" / "pixi.js" / "dist" / "pixi.js"  # the development build: it warns

#: sheet base name -> (grid, scale, the texture drawn alone by Pixi)
SHEETS: dict[str, tuple[Grid, int, str]] = {
    "hero_x2": (GENSTUDIO, 2, "walk_left_2"),
    "hero": (GENSTUDIO, 1, "idle_up_1"),
    "lpc": (LPC_GRID, 1, "slash_right_3"),
}
BAD = "badhero_x2"  # a x2 sheet whose .pixi.json says meta.scale "2"


def cell_rect(i: int, size: int, cols: int) -> dict[str, int]:
    return {"x": (i % cols) * size, "y": (i // cols) * size, "w": size, "h": size}


def sheet_problems(d: dict[str, Any], base: str, grid: Grid, scale: int) -> list[str]:
    """What is wrong with a sheet as Pixi read it (empty: nothing)."""
    fs = grid.size * scale
    p: list[str] = []
    if not d.get("spritesheet"):
        return [f"{base}: not loaded as a Spritesheet"]
    if d["textureCount"] != grid.n:
        p.append(f"{base}: {d['textureCount']} textures, expected {grid.n}")
    if d["resolution"] != 1:
        p.append(f"{base}: resolution {d['resolution']}, expected 1")
    if (d["source"]["pixelWidth"], d["source"]["pixelHeight"]) != (grid.cols * fs, grid.rows * fs):
        p.append(f"{base}: image {d['source']}, expected {grid.cols * fs}x{grid.rows * fs} px")
    if not all(n.startswith(f"{base}/") for n in d["textureNames"]):
        p.append(f"{base}: texture names without the sheet's prefix")
    for n, t in d["textures"].items():
        if (t["width"], t["height"]) != (fs, fs):
            p.append(f"{base}: {n} is {t['width']}x{t['height']}, expected {fs}x{fs}")
            break
    anims = d["animations"]
    if sorted(anims) != sorted(grid.tags):
        p.append(f"{base}: animations {sorted(anims)} != {sorted(grid.tags)}")
    for tag, frames in grid.tags.items():
        labels = anims.get(tag, [])
        want = [f"{base}/{tag}_{k}" for k in range(len(frames))]
        if labels != want:
            p.append(f"{base}: {tag} = {labels}, expected {want}")
            continue
        for label, (i, _) in zip(labels, frames):
            got = d["textures"][label]["frame"]
            if got != cell_rect(i, fs, grid.cols):
                p.append(f"{base}: {label} at {got}, expected {cell_rect(i, fs, grid.cols)}")
        a = d["animatedSprites"][tag]
        if (a["totalFrames"], a["width"], a["height"]) != (len(frames), fs, fs):
            p.append(f"{base}: AnimatedSprite {tag} {a}")
        if a["anchor"] != {"x": 0.5, "y": 1.0}:
            p.append(f"{base}: AnimatedSprite {tag} anchor {a['anchor']}, expected the feet")
    return p


def run_page(chromium: str, out: Path, phases: list[dict[str, Any]]) -> dict[str, Any]:
    cfg = out / "pixi-cases.js"
    cfg.write_text(f"window.GENSTUDIO_PIXI_CASES = {json.dumps({'phases': phases})};\n")
    return run_headless_page(chromium, PAGE, cfg, out, budget_ms=20000, timeout=100)


@pytest.fixture(scope="module")
def pixi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    chromium, why = find_chromium()
    if chromium is None:
        pytest.skip(why)
    if not PIXI_JS.is_file():
        pytest.skip(f"PixiJS is not installed: run `npm ci` in {APP}")
    out = tmp_path_factory.mktemp("pixi")
    sheet = procedural.render_sheet(None, seed=9)
    export.export_sheet(sheet, out, "hero", formats=["pixi", "aseprite"], scale=2)
    export.export_sheet(sheet, out, "hero", formats=["aseprite"])
    export.export_sheet_file(out / "hero.png", formats=["pixi"])
    rng = np.random.default_rng(11)
    lpc = rng.integers(0, 256, (25 * 64, 13 * 64, 4), dtype=np.uint8)
    lpc[..., 3] = np.where(lpc[..., 3] > 100, 255, 0)  # a canvas keeps 0/255 alpha exactly
    export.export_sheet(lpc, out, "lpc", formats=["pixi", "aseprite"])
    export.export_sheet(sheet, out / "bad", "badhero", formats=["pixi"], scale=2)
    bad = out / "bad" / f"{BAD}.pixi.json"
    doc = json.loads(bad.read_text())
    doc["meta"]["scale"] = "2"
    bad.write_text(json.dumps(doc))

    url = {b: (out / f"{b}.pixi.json").as_uri() for b in SHEETS}
    phases = [
        {
            "name": "pixi",
            "sheets": list(url.values()),
            "render": [{"sheet": url[b], "texture": f"{b}/{t}"} for b, (_, _, t) in SHEETS.items()],
        },
        {"name": "aseprite", "sheets": [(out / n).as_uri() for n in ("hero.json", "lpc.json")]},
        {"name": "bad-scale", "sheets": [bad.as_uri()]},
    ]
    result = run_page(chromium, out, phases)
    got = {p["name"]: p for p in result["phases"]}
    for p in got.values():
        assert p["ok"], f"{p['name']}: {p.get('error')}"
    return {
        "result": result,
        "phases": got,
        "url": url,
        "out": out,
        "png": {b: read_png(out / f"{b}.png") for b in SHEETS},
        "docs": {b: json.loads((out / f"{b}.pixi.json").read_text()) for b in SHEETS},
    }


def warnings_of(pixi: dict[str, Any], phase: str) -> list[str]:
    return [w["text"] for w in pixi["result"]["warnings"] if w["phase"] == phase]


# --- tests ---------------------------------------------------------------------------------


def test_pixi_version_and_renderer(pixi):
    pinned = json.loads((APP / "package.json").read_text())["dependencies"]["pixi.js"]
    assert pixi["result"]["pixi"] == pinned and pinned.startswith("8.")
    assert pixi["result"]["renderer"] == "canvas"


@pytest.mark.parametrize("base", list(SHEETS))
def test_pixi_reads_every_sheet(pixi, base):
    grid, scale, _ = SHEETS[base]
    d = pixi["phases"]["pixi"]["sheets"][pixi["url"][base]]
    problems = sheet_problems(d, base, grid, scale)
    assert not problems, "\n".join(problems)
    # every frame of the JSON, in its order, at its grid place; the feet as default anchor
    doc = pixi["docs"][base]
    assert d["textureNames"] == list(doc["frames"])
    fs = grid.size * scale
    for k, n in enumerate(d["textureNames"]):
        t = d["textures"][n]
        assert t["orig"] == {"x": 0, "y": 0, "w": fs, "h": fs}  # untrimmed
        assert t["frame"] == cell_rect(k, fs, grid.cols), n
        assert t["anchor"] == {"x": 0.5, "y": 1.0}


def test_several_sheets_share_one_cache_without_collisions(pixi):
    phase = pixi["phases"]["pixi"]
    assert warnings_of(pixi, "pixi") == []
    names = []
    for d in phase["sheets"].values():
        assert d["notCached"] == [] and d["notCachedAfterAll"] == []
        names += d["textureNames"]
    assert len(names) == len(set(names)) == 2 * GENSTUDIO.n + LPC_GRID.n


@pytest.mark.parametrize("base", list(SHEETS))
def test_pixi_draws_the_frame_as_in_the_png(pixi, base):
    grid, scale, tex = SHEETS[base]
    (r,) = [r for r in pixi["phases"]["pixi"]["renders"] if r["texture"] == f"{base}/{tex}"]
    assert r["png"], f"{base}/{tex}: nothing drawn"
    drawn = read_png(base64.b64decode(r["png"].split(",", 1)[1]))
    fs = grid.size * scale
    anim, k = tex.rsplit("_", 1)
    i = grid.tags[anim][int(k)][0]
    y, x = (i // grid.cols) * fs, (i % grid.cols) * fs
    want = pixi["png"][base][y : y + fs, x : x + fs]
    assert drawn.shape == want.shape == (fs, fs, 4)
    assert (want[..., 3] > 0).any()  # not an empty frame
    diff = int((drawn != normalized(want)).any(-1).sum())
    assert diff == 0, f"{base}/{tex}: {diff} pixels differ"


def test_aseprite_json_in_pixi_collides(pixi):
    """The Aseprite files load as spritesheets but their index names overwrite each other."""
    phase = pixi["phases"]["aseprite"]
    sheets = list(phase["sheets"].values())
    assert all(d["spritesheet"] for d in sheets)
    warned = [w for w in warnings_of(pixi, "aseprite") if "[Cache] already has key:" in w]
    keys = {w.rsplit(":", 1)[1].strip() for w in warned}
    assert keys == {str(i) for i in range(GENSTUDIO.n)}  # hero's 24 names, all also in lpc
    lost = sorted(len(d["notCachedAfterAll"]) for d in sheets)
    assert lost == [0, GENSTUDIO.n]  # one sheet's frames 0..23 are now the other's


def test_wrong_meta_scale_is_caught(pixi):
    (d,) = pixi["phases"]["bad-scale"]["sheets"].values()
    problems = sheet_problems(d, BAD, GENSTUDIO, 2)
    assert any("resolution 2" in p for p in problems), problems
    assert any("is 32x32, expected 64x64" in p for p in problems), problems
    assert any(p.startswith(f"{BAD}: AnimatedSprite") for p in problems), problems
