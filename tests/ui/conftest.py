"""UI test fixtures: real widgets offscreen, a real JobRunner, and no thread left behind."""

from __future__ import annotations

import threading

import pytest

from genstudio import generators
from genstudio.ui import modes
from tests.ui.helpers import SlowGen


@pytest.fixture
def slow_gen():
    generators.register("test.slow", SlowGen)
    yield SlowGen
    generators.unregister("test.slow")


@pytest.fixture
def test_mode(slow_gen):
    spec = modes.ModeSpec(
        id="testmode",
        title="Test",
        icon_name="images",
        factory="tests.ui.helpers:RecordingPanel",
        order=5,
        generators=("test.*",),
    )
    modes.register_mode(spec)
    yield spec
    modes.unregister_mode(spec.id)


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Build the real main window (real JobRunner) on a project in tmp_path."""
    from genstudio.ui.app import build_window

    windows = []

    def make(project=None, *, show: bool = True):
        w = build_window(tmp_path / "proj" if project is None else project)
        qtbot.addWidget(w)
        windows.append(w)
        if show:
            w.show()
        return w

    yield make
    for w in windows:
        w.shutdown()
    from PySide6.QtWidgets import QApplication

    from genstudio.ui import theme

    theme.apply_theme(QApplication.instance(), "light")
    leftover = [t.name for t in threading.enumerate() if t.name.startswith("genstudio-")]
    assert leftover == [], f"threads left running: {leftover}"


@pytest.fixture
def window(make_window):
    return make_window()
