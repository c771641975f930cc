"""The Sprites mode: real panel, real JobRunner, real procedural generator, offscreen."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSize

from genstudio import generators
from genstudio.generators.sprites import procedural
from genstudio.ui import modes
from genstudio.ui.modes.sprites import state

WAIT_MS = 20_000


@pytest.fixture
def panel(window):
    p = window.set_mode("sprites")
    assert p is not None and type(p).__name__ == "SpritesPanel"
    return p


def messages(ctx):
    got: list[tuple[str, str]] = []
    ctx.message.connect(lambda text, level: got.append((text, level)))
    return got


def job_done(panel) -> bool:
    job_id = panel._batch_job
    return job_id is not None and not panel.ctx.jobs.get(job_id).active


def run_batch(qtbot, panel, *, count: int, seed: int | None = None, action=None) -> list[str]:
    """Generate (or run ``action``) and wait until this batch's sheets are all in the grid."""
    panel.count.setValue(count)
    if seed is not None:
        panel.seed.setText(str(seed))
    before = panel._batch_job
    assert (action or panel.generate)()
    assert panel._batch_job != before

    def new_ids():
        return [
            i for i, b in zip(panel.candidate_ids(), badges(panel), strict=True) if b != "source"
        ]

    qtbot.waitUntil(lambda: job_done(panel) and len(new_ids()) == count, timeout=WAIT_MS)
    assert panel.ctx.jobs.get(panel._batch_job).state.value == "done"
    return new_ids()


def badges(panel) -> list[str]:
    from genstudio.ui.modes.sprites.widgets import BadgeRole

    return [panel.grid.item(i).data(BadgeRole) or "" for i in range(panel.grid.count())]


def record(panel, asset_id):
    return panel.ctx.project.gallery.get(asset_id)


# --- registration ------------------------------------------------------------------------------


def test_sprites_mode_is_registered_and_routes_sprite_generators():
    spec = modes.get_mode("sprites")
    assert spec is not None and spec.factory == "genstudio.ui.modes.sprites:SpritesPanel"
    assert spec.matches_generator("sprites.procedural")
    assert spec.matches_generator("sprites.spritenet")
    assert modes.mode_for_generator("sprites.procedural") == spec


def test_model_picker_lists_sprite_generators_procedural_first(panel):
    names = [panel.model.itemData(i) for i in range(panel.model.count())]
    assert names == state.sprite_models()
    assert names[0] == "sprites.procedural"
    assert set(names) == {n for n in generators.names() if n.startswith("sprites.")}
    assert panel.model.currentData() == "sprites.procedural"
    assert panel.model.itemText(0) == "GenStudio style"
    assert names[1] == "sprites.lpc"
    assert panel.model.itemText(1) == "LPC (artist-made, CC-BY-SA / GPL)"
    assert state.model_label("sprites.spritenet") == "SpriteNet (AI model)"


def test_prompt_feedback_is_live(panel):
    panel.prompt.setPlainText("stocky hero with red hair, a sword and a banana")
    text = panel.prompt_info.text()
    assert "understood" in text and "red hair" in text and "sword" in text
    assert "ignored" in text and "banana" in text
    assert panel.prompt_feedback.text() == "understood: stocky, red hair, sword; ignored: banana"
    panel.prompt.setPlainText("x" * (procedural.MAX_PROMPT_CHARS + 1))
    assert "limit" in panel.prompt_info.text() or "at most" in panel.prompt_info.text()


# --- generate, select, animate ---------------------------------------------------------------


def test_generate_two_select_one_and_play_the_preview(qtbot, panel):
    panel.prompt.setPlainText("red hair knight")
    ids = run_batch(qtbot, panel, count=2, seed=4242)
    assert len(ids) == 2
    recs = [record(panel, i) for i in ids]
    assert [r.seed for r in recs] == [4242, 4243]
    assert all(r.generator == "sprites.procedural" and r.kind == "sprite" for r in recs)
    assert recs[0].params["prompt"] == "red hair knight"
    assert recs[0].extra["attrs"]["hair_color"] == "red"

    # the first candidate is selected as it arrives; pick the second
    panel.select_asset(ids[1])
    assert panel.current_candidate().asset_id == ids[1]
    assert panel.views[0].pixmap() is not None
    assert panel.animation == "walk" and panel.fps.value() == pytest.approx(8.0)
    panel.set_fps(30)
    assert panel.is_playing()
    seen = {panel.frame_index()}
    for _ in range(3):
        with qtbot.waitSignal(panel.frame_changed, timeout=2000):
            pass
        seen.add(panel.frame_index())
    assert len(seen) >= 3  # the frame index advances with the timer (4 walk frames)

    # pause: the timer stops and the frame stays
    panel.play_button.click()
    assert not panel.play_button.isChecked() and not panel.is_playing()
    frozen = panel.frame_index()
    qtbot.wait(200)
    assert panel.frame_index() == frozen
    panel.play_button.click()
    assert panel.is_playing()

    # idle: 2 frames at the sheet's frame duration
    panel.set_animation("idle")
    assert panel.fps.value() == pytest.approx(1000 / procedural.FRAME_MS["idle"])
    assert panel.frame_label.text() == "1/2"


def test_ctrl_enter_generates_and_hidden_panel_stops_animating(qtbot, window, panel):
    panel.count.setValue(1)
    panel.seed.setText("31")
    window.act_generate.trigger()  # Ctrl+Enter
    qtbot.waitUntil(lambda: job_done(panel) and len(panel.candidate_ids()) == 1, timeout=WAIT_MS)
    assert panel.is_playing()
    window.set_mode("gallery")
    assert not panel.is_playing()
    assert window.panels["gallery"].model.rowCount() == 1
    window.set_mode("sprites")
    assert panel.is_playing()


def test_zoom_scales_the_pixmap_exactly_nearest_neighbour(qtbot, panel):
    ids = run_batch(qtbot, panel, count=1, seed=7)
    panel.select_asset(ids[0])
    panel.set_playing(False)
    cand = panel.current_candidate()
    (track, *_rest) = panel.shown_tracks()
    assert track.direction == "down"
    frame = cand.frame(track.cells()[panel.frame_index()])
    assert panel.current_cells()[0] == track.cells()[panel.frame_index()]
    assert frame.size() == QSize(32, 32)
    for z in (1, 2, 5, 8):
        panel.set_zoom(z)
        assert panel.zoom_label.text() == f"{z}x"
        pm = panel.views[0].pixmap()
        assert pm.size() == QSize(32 * z, 32 * z)
        img = pm.toImage()
        # every opaque sprite pixel is a z x z block of exactly its colour
        checked = 0
        for y in range(0, 32, 3):
            for x in range(0, 32, 3):
                c = frame.pixelColor(x, y)
                if c.alpha() == 255:
                    for dy in (0, z - 1):
                        for dx in (0, z - 1):
                            assert img.pixelColor(x * z + dx, y * z + dy).rgb() == c.rgb()
                    checked += 1
        assert checked > 10
    panel.set_zoom(99)
    assert panel.views[0].pixmap().size() == QSize(256, 256)


def test_reroll_changes_the_seed_and_makes_new_assets(qtbot, panel):
    first = run_batch(qtbot, panel, count=2, seed=5)
    params_before = panel.current_settings()
    second = run_batch(qtbot, panel, count=2, action=panel.reroll)
    assert panel.seed.text() != "5"
    assert not set(first) & set(second)
    new_seed = int(panel.seed.text())
    assert [record(panel, i).seed for i in second] == [new_seed, new_seed + 1]
    assert panel.current_settings().replace(seed=5) == params_before
    assert panel.ctx.project.gallery.count() == 4


def test_variations_keep_the_shape_and_redraw_colours(qtbot, panel):
    ids = run_batch(qtbot, panel, count=1, seed=99)
    panel.select_asset(ids[0])
    source = record(panel, ids[0]).extra["attrs"]
    var_ids = run_batch(qtbot, panel, count=4, action=panel.variations)
    assert panel.candidate_ids()[0] == ids[0] and badges(panel)[0] == "source"
    job = panel.ctx.jobs.get(panel._batch_job)
    assert ids[0] in job.spec.title  # the source is named (the params have no parent field)
    assert set(job.spec.params["attrs"]) == set(state.SHAPE_KEYS)
    colours = set()
    for i in var_ids:
        attrs = record(panel, i).extra["attrs"]
        assert {k: attrs[k] for k in state.SHAPE_KEYS} == {k: source[k] for k in state.SHAPE_KEYS}
        colours.add(tuple(attrs[k] for k in state.COLOUR_KEYS))
    assert len(colours) >= 3
    assert any(c != tuple(source[k] for k in state.COLOUR_KEYS) for c in colours)


def test_reuse_settings_restores_the_controls_and_reproduces_the_sheet(qtbot, window, panel):
    panel.prompt.setPlainText("knight with red hair")
    panel.set_attrs({"body": "stocky", "item": "axe", "top_color": "green"})
    panel.size.setCurrentIndex(panel.size.findData(48))
    panel.colors.setValue(12)
    panel.outline.setChecked(False)
    (asset_id,) = run_batch(qtbot, panel, count=1, seed=777)
    rec = record(panel, asset_id)

    # scramble the controls, then "Reuse these settings" from the gallery
    panel.prompt.setPlainText("something else")
    panel.set_attrs({"hair_style": "bob"})
    panel.seed.setText("1")
    panel.count.setValue(9)
    panel.size.setCurrentIndex(0)
    panel.colors.setValue(0)
    panel.outline.setChecked(True)
    window.reuse_settings(rec)
    assert window.current_panel() is panel

    s = panel.current_settings()
    assert s.prompt == "knight with red hair"
    assert s.seed == 777 and s.count == 1 and s.size == 48
    assert s.palette_colors == 12 and s.outline is False
    # Locks come back where the seed would not draw the same value; the prompt's words stay
    # with the prompt ("knight" says sword & shield, the locked axe overrides it).
    assert s.attrs["item"] == "axe" and panel.attr_combos["item"].currentData() == "axe"
    assert "hair_color" not in s.attrs
    assert set(s.attrs.items()) <= set(rec.extra["attrs"].items())
    fixed = {**procedural.parse_prompt(s.prompt).attrs, **s.attrs}
    full = procedural.resolve_attributes(fixed, 777)
    assert full == rec.extra["attrs"]
    assert (full["body"], full["top_color"]) == ("stocky", "green")

    # the same settings give the same sheet, byte for byte
    (again,) = run_batch(qtbot, panel, count=1)
    assert record(panel, again).sha256 == rec.sha256
    assert record(panel, again).extra["attrs"] == rec.extra["attrs"]


def test_bad_palette_file_is_an_error_not_a_crash(qtbot, window, panel, tmp_path):
    got = messages(panel.ctx)
    bad = tmp_path / "bad.gpl"
    bad.write_text("not a palette\n1 2 3\n")
    assert panel.set_palette_file(bad) is False
    assert got and got[-1][1] == "error" and "bad.gpl" in got[-1][0]
    assert panel.current_settings().palette_file == ""
    missing = tmp_path / "nope.hex"
    assert panel.set_palette_file(missing) is False
    assert "does not exist" in got[-1][0]

    good = tmp_path / "four.hex"
    good.write_text("1c1421\nf4d2c6\n3060b8\nb8322e\n")
    assert panel.accepts_drop(good) and not panel.accepts_drop(tmp_path / "x.png")
    window.handle_dropped_paths([good])
    assert panel.current_settings().palette_file == str(good)
    assert "4 colours" in panel.palette_info.text()
    # a bad file dropped later keeps the good palette
    window.handle_dropped_paths([bad])
    assert panel.current_settings().palette_file == str(good)

    (asset_id,) = run_batch(qtbot, panel, count=1, seed=3)
    rec = record(panel, asset_id)
    assert rec.params["palette_file"] == str(good)
    from PIL import Image

    with Image.open(panel.ctx.project.asset_path(rec)) as im:
        colours = {c[:3] for _, c in im.convert("RGBA").getcolors(10_000) if c[3] == 255}
    allowed = {(0x1C, 0x14, 0x21), (0xF4, 0xD2, 0xC6), (0x30, 0x60, 0xB8), (0xB8, 0x32, 0x2E)}
    assert colours <= allowed


def test_export_writes_every_format(qtbot, panel, tmp_path):
    from PIL import Image

    ids = run_batch(qtbot, panel, count=1, seed=11)
    panel.select_asset(ids[0])
    lay = panel.current_candidate().layout  # the GenStudio style: 4 directions x idle, walk...
    assert lay.style == "genstudio" and lay.rows == 4 and {"idle", "walk"} <= set(lay.animations)
    n_cells = len({c for t in lay.tracks for c in t.cells()})
    assert n_cells == lay.rows * lay.columns
    out = tmp_path / "export"
    written = panel.export_selected(out, "hero", ["png", "aseprite", "godot", "frames"], 2)
    assert written
    with Image.open(out / "hero_x2.png") as im:
        assert im.size == (lay.columns * 32 * 2, 4 * 32 * 2) and im.mode == "RGBA"
    doc = json.loads((out / "hero_x2.json").read_text())
    tags = {t["name"]: t["to"] - t["from"] + 1 for t in doc["meta"]["frameTags"]}
    assert tags["walk_down"] == 4 and tags["idle_up"] == 2 and len(tags) == len(lay.tracks)
    assert len(doc["frames"]) == n_cells
    arr = json.loads((out / "hero_x2.array.json").read_text())
    assert isinstance(arr["frames"], list) and len(arr["frames"]) == n_cells
    tres = (out / "hero_x2.tres").read_text()
    assert tres.startswith('[gd_resource type="SpriteFrames"') and '&"walk_left"' in tres
    frames = sorted((out / "hero_x2_frames").glob("*.png"))
    assert len(frames) == n_cells
    with Image.open(frames[0]) as im:
        assert im.size == (64, 64)

    # scale 1, PNG only, into another folder: the sheet itself is written
    plain = panel.export_selected(tmp_path / "plain", "hero", ["png"], 1)
    assert [p.name for p in plain] == ["hero.png"]
    src = panel.ctx.project.asset_path(record(panel, ids[0])).read_bytes()
    assert hashlib.sha256((tmp_path / "plain" / "hero.png").read_bytes()).hexdigest() == (
        hashlib.sha256(src).hexdigest()
    )


def test_export_dialog_and_bad_folders(qtbot, panel, tmp_path):
    got = messages(panel.ctx)
    ids = run_batch(qtbot, panel, count=1, seed=12)
    panel.select_asset(ids[0])
    dlg = panel.open_export_dialog()
    assert dlg is not None and dlg.stem.text() == "sprite_12"
    dlg.folder.setText(str(tmp_path / "via-dialog"))
    dlg.formats["godot"].setChecked(True)
    dlg.scale.setValue(3)
    assert "sprite_12_x3.tres" in dlg.summary.text()
    with qtbot.waitSignal(dlg.exported) as sig:
        dlg.accept()
    names = sorted(p.name for p in sig.args[0])
    assert names == [
        "sprite_12_x3.array.json",
        "sprite_12_x3.json",
        "sprite_12_x3.png",
        "sprite_12_x3.tres",
    ]

    # a file where the folder should be, and a bad file name: clear errors, nothing written
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert panel.export_selected(blocker, "hero", ["png"], 1) is None
    assert got[-1][1] == "error" and "Export failed" in got[-1][0]
    assert panel.export_selected(tmp_path / "ok", "a/b", ["png"], 1) is None
    assert not (tmp_path / "ok").exists() or not any((tmp_path / "ok").iterdir())
    assert panel.export_selected(tmp_path / "ok", "hero", [], 1) is None


def test_bad_controls_are_refused_with_a_message(qtbot, panel):
    got = messages(panel.ctx)
    panel.seed.setText("")
    assert panel.generate() is True
    assert got[-1][1] == "error" and "seed" in got[-1][0].lower()
    assert panel._batch_job is None
    panel.seed.setText("1")
    panel.prompt.setPlainText("x" * (procedural.MAX_PROMPT_CHARS + 5))
    panel.generate()
    assert got[-1][1] == "error" and panel._batch_job is None
    # colour limit 1 is stepped over (0 = off, else 2..64)
    panel.colors.setValue(0)
    panel.colors.stepUp()
    assert panel.colors.value() == 2
    panel.colors.stepDown()
    assert panel.colors.value() == 0


# --- Qt-free state -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 17, 2**40])
def test_minimal_locks_reproduce_the_character(seed):
    locked = {"body": "child", "top": "robe", "bottom": "skirt"}
    full = procedural.resolve_attributes({**locked, "hair_color": "blue"}, seed)
    locks = state.minimal_locks(full, "blue hair", seed)
    assert "hair_color" not in locks  # the prompt says it
    fixed = {**procedural.parse_prompt("blue hair").attrs, **locks}
    assert procedural.resolve_attributes(fixed, seed) == full


def test_sheet_layout_and_seed_parsing():
    # a version-1 sidecar layout (the procedural generator's own dict) is read
    g = state.sheet_layout(192, 128, procedural.layout())
    assert (g.frame_w, g.frame_h, g.rows, g.columns) == (32, 32, 4, 6)
    walk = g.track("walk", "left")
    assert (walk.row, walk.column, walk.frames, walk.frame_ms) == (1, 2, 4, 125)
    assert walk.cells() == [(1, 2), (1, 3), (1, 4), (1, 5)]
    assert g.animations == ["idle", "walk"]
    assert state.sheet_layout(384, 256, None).frame_w == 64
    lpc = state.sheet_layout(13 * 32, 25 * 32, "not a layout")
    assert lpc.style == "lpc" and lpc.frame_w == 32 and lpc.directions_of("hurt") == ["down"]
    with pytest.raises(Exception, match="not a sprite sheet"):
        state.sheet_layout(100, 128, None)
    assert state.parse_seed(" 42 ") == 42
    for bad in ("", "-1", "1e3", str(2**63)):
        with pytest.raises(Exception, match="seed"):
            state.parse_seed(bad)
    assert state.export_stem("a/b:c", "x") == "a_b_c"
    assert state.export_stem(None, "20260101-000000-abcdef") == "sprite_20260101-000000-abcdef"


# --- screenshots (opt-in: GENSTUDIO_SCREENSHOTS=1 writes docs/screenshots/sprites-*.png) --------


@pytest.mark.skipif(not os.environ.get("GENSTUDIO_SCREENSHOTS"), reason="screenshots are opt-in")
def test_screenshots(qtbot, window, panel):
    docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    window.resize(1440, 900)
    panel.prompt.setPlainText("hero with red hair and a sword, wearing a cape")
    panel.set_attrs({"shoes_color": "brown", "body": "regular"})
    ids = run_batch(qtbot, panel, count=10, seed=1234)
    panel.select_asset(ids[1])
    panel.set_zoom(4)
    for name in ("light", "dark"):
        window.set_theme(name, save=False)
        qtbot.wait(300)
        window.grab().save(str(docs / f"sprites-{name}.png"))
