"""Startup: the smoke test opens the window fast, without torch or onnxruntime."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from genstudio.ui import modes

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_test_is_fast_and_imports_neither_torch_nor_onnxruntime(tmp_path):
    # A fresh interpreter, as a user would start it: first run, so the sample project is made.
    code = (
        "import json, sys\n"
        "from genstudio.ui import app\n"
        "rc = app.smoke_test()\n"
        "print(json.dumps({'rc': rc, 'heavy': [m for m in ('torch', 'onnxruntime') "
        "if m in sys.modules]}))\n"
    )
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        GENSTUDIO_CONFIG_DIR=str(tmp_path / "cfg"),
        GENSTUDIO_DATA_DIR=str(tmp_path / "data"),
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert report == {"rc": 0, "heavy": []}
    m = re.search(r"in (\d+) ms since process start", res.stdout) or re.search(
        r"(\d+) ms since smoke_test", res.stdout
    )
    assert m, res.stdout
    ms = int(m.group(1))
    print(f"window shown in {ms} ms")
    # The target is 1.0 s on a 2-core machine; allow slack for a loaded CI box.
    assert ms < 4000
    # first run: the sample project was created instead of an empty screen
    assert (tmp_path / "data" / "projects" / "Sample Project" / "project.json").is_file()


def test_first_run_opens_the_sample_project(qtbot):
    from genstudio.core.settings import load_settings
    from genstudio.ui.app import build_window
    from genstudio.ui.services import sample_project_dir

    w = build_window(seed_sample=True)
    qtbot.addWidget(w)
    try:
        assert w.ctx.project is not None
        assert w.ctx.project.root.resolve() == sample_project_dir().resolve()
        assert load_settings().sample_project_created
        assert w.message_bar.isVisibleTo(w) and "Welcome" in w.message_bar.text()
        # the sample gallery is filled by a real job: 12 procedural characters
        gallery = w.ctx.project.gallery
        qtbot.waitUntil(lambda: gallery.count() == 12, timeout=30_000)
    finally:
        w.shutdown()
    # second start opens the recent project again
    w2 = build_window()
    qtbot.addWidget(w2)
    try:
        assert w2.ctx.project.root.resolve() == sample_project_dir().resolve()
    finally:
        w2.shutdown()


def test_modes_follow_registered_generators():
    assert [m.id for m in modes.modes()] == ["sprites", "images", "music", "train", "gallery"]


def test_modes_with_unregistered_generators_are_hidden():
    spec = modes.ModeSpec("ghost", "Ghost", "images", "nowhere:Panel", generators=("ghost.*",))
    modes.register_mode(spec)
    try:
        assert "ghost" not in [m.id for m in modes.modes()]
        assert "ghost" in [m.id for m in modes.all_modes()]
    finally:
        modes.unregister_mode("ghost")


def test_registered_mode_shows_in_sidebar_and_routes_generators(test_mode, window):
    titles = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert titles == ["Test", "Sprites", "Images", "Music", "Train", "Gallery"]
    assert modes.mode_for_generator("test.slow") == test_mode
    assert modes.mode_for_generator("sprites.procedural").id == "sprites"
    assert modes.mode_for_generator("images.diffusion").id == "images"
    assert modes.mode_for_generator("nothing.here") is None


def test_installed_pyside_survives_many_void_calls_and_emits():
    # PySide6 6.12.0 on Python 3.11 returns None/True without a reference from void methods and
    # Signal.emit, and aborts after a few thousand calls (none_dealloc); pyproject excludes it.
    code = (
        "from PySide6.QtCore import QObject, QTimer, Signal\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([])\n"
        "class O(QObject):\n"
        "    s = Signal(str)\n"
        "o, w = O(), QLabel('x')\n"
        "for _ in range(300_000):\n"
        "    o.s.emit('a'); w.update(); w.property('unset')\n"
        "print('alive')\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0 and "alive" in res.stdout, res.stderr[-2000:]


def test_smoke_test_names_a_mode_or_generator_that_cannot_load(make_window):
    """What a frozen bundle missing a module looks like: the smoke test must fail on it."""
    from genstudio import generators
    from genstudio.ui.app import _unloadable

    broken = modes.ModeSpec("broken", "Broken", "images", "nowhere.panel:Panel", generators=("sprites.*",))
    modes.register_mode(broken)
    generators.register("ghost.gen", "nowhere.module:Ghost")
    try:
        w = make_window()
        missing = _unloadable(w)
    finally:
        modes.unregister_mode("broken")
        generators.unregister("ghost.gen")
    assert "the Broken panel" in missing
    assert any(m.startswith("generator ghost.gen (ModuleNotFoundError") for m in missing)
    assert len(missing) == 2, missing  # every real mode and generator loads
