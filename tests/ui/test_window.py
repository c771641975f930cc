"""Project actions, dialogs, themes, drops, shortcuts and error reporting of the main window.

File dialogs are monkeypatched (QFileDialog.getSaveFileName / getExistingDirectory return tmp
paths), so the real actions run without a modal dialog.
"""

from __future__ import annotations

import json
import logging
import os
import threading

from PySide6.QtWidgets import QApplication, QFileDialog

from genstudio.core import logs
from genstudio.core.errors import GenStudioError
from genstudio.core.settings import load_settings
from tests.ui.helpers import tiny_png


def test_new_project_through_the_menu_action(window, tmp_path, monkeypatch, qtbot):
    target = tmp_path / "My Game Art"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    with qtbot.waitSignal(window.ctx.project_changed):
        window.act_new.trigger()
    assert (target / "project.json").is_file()
    assert window.ctx.project.root.resolve() == target.resolve()
    assert window.ctx.project.name == "My Game Art"
    assert "My Game Art" in window.windowTitle()
    assert str(target.resolve()) == load_settings().recent_projects[0]
    assert window.panels["gallery"].model.rowCount() == 0
    assert "No assets yet" in window.panels["gallery"].empty.text()


def test_open_project_action_and_recent_menu(window, tmp_path, monkeypatch):
    from genstudio.core.project import Project

    other = tmp_path / "Other"
    Project.create(other, name="Other").close()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(other))
    window.act_open.trigger()
    assert window.ctx.project.name == "Other"
    window._fill_recent()
    texts = [a.text() for a in window.recent_menu.actions()]
    assert str(other.resolve()) in texts and str((tmp_path / "proj").resolve()) in texts
    # reopen the first project from the recent menu
    act = next(a for a in window.recent_menu.actions() if a.text().endswith("proj"))
    act.trigger()
    assert window.ctx.project.root.name == "proj"


def test_save_as_copies_the_project_and_opens_the_copy(window, tmp_path, monkeypatch):
    project = window.ctx.project
    rec = project.add_asset(
        kind="image", data=tiny_png(), ext="png", generator="import", params={"prompt": "copied"}
    )
    dst = tmp_path / "Copy Of Proj"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(dst), ""))
    window.act_save_as.trigger()
    copy = window.ctx.project
    assert copy.root.resolve() == dst.resolve()
    assert copy.gallery.get(rec.id).params["prompt"] == "copied"
    assert (tmp_path / "proj" / "project.json").is_file()  # the original stays


def test_open_failure_shows_a_clear_message(window, tmp_path, monkeypatch):
    not_a_project = tmp_path / "holiday photos"
    not_a_project.mkdir()
    (not_a_project / "a.txt").write_text("x")
    before = window.ctx.project
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(not_a_project))
    window.act_open.trigger()
    assert window.ctx.project is before
    bar = window.message_bar
    assert bar.isVisibleTo(window) and bar.level == "error"
    assert "Could not open the project" in bar.text()


def test_read_only_project_shows_a_banner(make_window, tmp_path):
    from genstudio.core.project import PROJECT_FILE, Project

    root = tmp_path / "future"
    Project.create(root, name="Future").close()
    meta = json.loads((root / PROJECT_FILE).read_text())
    for key in ("schema", "schema_version", "version"):
        if key in meta:
            meta[key] = 999
    (root / PROJECT_FILE).write_text(json.dumps(meta))
    w = make_window(root)
    assert w.ctx.project.read_only
    assert w.message_bar.level == "warning" and "read-only" in w.message_bar.text()
    assert w.read_only_label.text() == "READ-ONLY"


def test_dropped_files_are_imported_or_offered_to_the_panel(test_mode, window, tmp_path):
    png = tmp_path / "hero_spritesheet.png"
    png.write_bytes(tiny_png())
    mid = tmp_path / "theme.mid"
    track = b"\x00\x90\x3c\x64\x60\x80\x3c\x00\x00\xff\x2f\x00"
    mid.write_bytes(
        b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk" + len(track).to_bytes(4, "big") + track
    )
    odd = tmp_path / "notes.docx"
    odd.write_bytes(b"x")
    special = tmp_path / "thing.testdrop"
    special.write_bytes(b"x")

    window.set_mode("testmode")
    n = window.handle_dropped_paths([png, mid, odd, special])
    assert n == 2
    assert window.current_panel().dropped == [special]
    recs = window.ctx.project.gallery.query()
    assert sorted(r.kind for r in recs) == ["music", "sprite"]
    assert all(r.generator == "import" for r in recs)
    assert window.message_bar.level == "error" and "notes.docx" in window.message_bar.text()
    gallery = window.set_mode("gallery")
    assert gallery.model.rowCount() == 2


def test_dropped_files_whose_bytes_lie_are_refused(window, tmp_path):
    # the safe readers check what a file is, not what it is named (issue 11, defect 1)
    eps = tmp_path / "cover.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    cut = tmp_path / "cut.mid"
    cut.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    window.set_mode("gallery")
    assert window.handle_dropped_paths([eps, cut, fifo]) == 0
    text = window.message_bar.text()
    assert "not a readable image" in text and "cut off" in text
    assert window.ctx.project.gallery.query() == []


def test_mode_shortcuts_and_find(test_mode, window, qtbot):
    keys = {a.text(): a.shortcut().toString() for a in window.mode_actions}
    assert keys == {
        "Test": "Ctrl+1",
        "Sprites": "Ctrl+2",
        "Images": "Ctrl+3",
        "Music": "Ctrl+4",
        "Train": "Ctrl+5",
        "Gallery": "Ctrl+6",
    }
    window.mode_actions[0].trigger()
    assert window.current_mode_id() == "testmode"
    window.act_search.trigger()  # Ctrl+F jumps to the gallery search box
    assert window.current_mode_id() == "gallery"
    assert window.act_search.shortcut().toString() == "Ctrl+F"
    assert window.act_save_as.shortcut().toString() == "Ctrl+Shift+S"
    assert window.act_fullscreen.shortcut().toString() == "F11"


def test_theme_switch(window):
    app = QApplication.instance()
    window.set_theme("dark")
    dark_bg = app.palette().window().color().lightness()
    assert app.property("genstudio_theme") == "dark"
    assert load_settings().theme == "dark"
    window.set_theme("light")
    assert app.palette().window().color().lightness() > dark_bg
    assert app.property("genstudio_theme") == "light"


def test_settings_dialog_saves(window, qtbot):
    window.act_settings.trigger()
    dlg = window.settings_dialog
    dlg.theme.setCurrentIndex(dlg.theme.findData("dark"))
    dlg.threads.setValue(3)
    dlg.provider.setCurrentIndex(dlg.provider.findData("cpu"))
    dlg.accept()
    s = load_settings()
    assert (s.theme, s.threads, s.provider) == ("dark", 3, "cpu")
    assert QApplication.instance().property("genstudio_theme") == "dark"


def test_about_box_lists_licenses(window):
    from genstudio.core.paths import licenses_dir
    from genstudio.ui.about import AboutDialog

    dlg = AboutDialog(window.ctx.project, window)
    text = dlg.all_text()
    for needle in ("PySide6", "LGPL", "ONNX Runtime", "MIT", "NumPy", "BSD", "Pillow", "MIT-CMU"):
        assert needle in text
    assert "Model cards" in dlg.tab_titles()
    for f in licenses_dir().glob("*.md"):
        assert f.name in dlg.tab_titles()
    dlg.close()
    window.show_about()
    assert window.about_dialog.isVisible()
    window.about_dialog.close()


def test_errors_from_any_thread_reach_the_message_bar_and_log(window, qtbot):
    window.log_dock.show()

    def worker():
        logging.getLogger("genstudio.test").warning("disk almost full")
        logs.notify_error(
            logs.describe(GenStudioError("The model pack is broken.", hint="Reinstall it."))
        )

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    qtbot.waitUntil(
        lambda: window.message_bar.isVisibleTo(window) and window.message_bar.level == "error",
        timeout=5_000,
    )
    assert window.message_bar.text() == "The model pack is broken.\nReinstall it."
    qtbot.waitUntil(lambda: "disk almost full" in window.log_panel.text(), timeout=5_000)


def test_uncaught_exception_hook_routes_to_the_window(window, qtbot):
    try:
        raise GenStudioError("Nothing to export.", hint="Select an asset first.")
    except GenStudioError as e:
        logs._excepthook(type(e), e, e.__traceback__)
    qtbot.waitUntil(
        lambda: (
            window.message_bar.level == "error"
            and "Nothing to export." in window.message_bar.text()
        ),
        timeout=5_000,
    )


def test_invalid_params_become_a_message_not_a_crash(test_mode, window):
    window.set_mode("testmode")
    panel = window.current_panel()
    assert panel.submit("test.slow", {"steps": 0}) is None
    assert window.message_bar.level == "error" and "steps" in window.message_bar.text()


def test_about_box_shows_model_cards(window, monkeypatch):
    from genstudio.ui import services
    from genstudio.ui.about import AboutDialog

    card = services.ModelCard(
        "sprites-tiny-v1",
        "sprite",
        "1.0",
        "CC-BY-4.0",
        "Trained on art by the GenStudio team",
        "/models/sprites-tiny-v1",
    )
    monkeypatch.setattr(services, "model_cards", lambda project=None: [card])
    dlg = AboutDialog(window.ctx.project, window)
    text = dlg.models.toPlainText()
    assert "sprites-tiny-v1" in text and "CC-BY-4.0" in text and "GenStudio team" in text
    dlg.close()
