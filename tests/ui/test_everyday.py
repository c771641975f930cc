"""Everyday studio behaviour a first-time user expects (issue 17 part 5), with real panels,
a real JobRunner and real generators, offscreen."""

from __future__ import annotations

import pytest

WAIT_MS = 30_000


def batch_seed(qtbot, panel) -> int:
    """Press Generate, wait for the batch, return the seed its job ran with."""
    before = panel._batch_job
    assert panel.generate()
    assert panel._batch_job != before
    job_id = panel._batch_job
    qtbot.waitUntil(lambda: not panel.ctx.jobs.get(job_id).active, timeout=WAIT_MS)
    job = panel.ctx.jobs.get(job_id)
    assert job.state.value == "done", job.error
    return int(job.spec.params["seed"])


@pytest.mark.parametrize("mode", ["sprites", "images", "music"])
def test_generate_again_draws_a_new_seed_unless_the_seed_is_kept(qtbot, window, mode):
    panel = window.set_mode(mode)
    panel.count.setValue(1)
    if mode == "images":
        panel.prompt.setPlainText("red apple")
    assert not panel.seed.lock.isChecked()  # a fresh studio: a new seed every time
    first = batch_seed(qtbot, panel)
    assert panel.seed.text() == str(first)  # the field shows the seed the batch used
    second = batch_seed(qtbot, panel)
    assert second != first and not panel.seed.lock.isChecked()
    panel.seed.lock.click()  # keep it
    assert panel.seed.lock.isChecked() and "every Generate uses this seed" in panel.seed.lock.toolTip()
    assert batch_seed(qtbot, panel) == second == batch_seed(qtbot, panel)
    panel.seed.lock.click()
    assert batch_seed(qtbot, panel) != second


def test_a_typed_seed_is_kept_and_the_dice_keeps_the_lock_as_it_is(qtbot, window):
    panel = window.set_mode("sprites")
    panel.count.setValue(1)
    panel.seed.clear()
    qtbot.keyClicks(panel.seed, "4242")
    assert panel.seed.lock.isChecked()  # typing a seed means "this one"
    assert batch_seed(qtbot, panel) == 4242
    panel.dice.click()  # a new seed, still kept
    rolled = int(panel.seed.text())
    assert panel.seed.lock.isChecked() and batch_seed(qtbot, panel) == rolled
    panel.seed.lock.click()
    panel.dice.click()
    assert not panel.seed.lock.isChecked()


def test_a_message_never_moves_the_generate_button(qtbot, window):
    panel = window.set_mode("sprites")
    qtbot.waitExposed(window)
    button = panel.generate_button
    before = button.mapTo(window, button.rect().topLeft())
    window.ctx.show_message("A long notice that wraps " * 12, "warning")
    qtbot.waitUntil(lambda: window.message_bar.isVisible())
    assert button.mapTo(window, button.rect().topLeft()) == before
    # it floats over the panels, at the top, not over the Generate button
    from PySide6.QtCore import QPoint, QRect

    bar = window.message_bar.geometry()  # in the central widget's coordinates
    at = QRect(button.mapTo(window.centralWidget(), QPoint(0, 0)), button.size())
    assert bar.top() < 20 and not bar.intersects(at)
    window.message_bar.dismiss()
    assert button.mapTo(window, button.rect().topLeft()) == before


def test_help_has_getting_started_and_the_real_shortcuts(qtbot, window):
    from PySide6.QtGui import QAction

    from genstudio.ui.help import shortcut_rows

    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles[-1] == "Help"
    help_menu = window.menuBar().actions()[-1].menu()
    items = [a.text().replace("&", "") for a in help_menu.actions() if a.text()]
    assert items == ["Getting Started", "Keyboard Shortcuts", "About GenStudio"]
    window.show_getting_started()
    assert "project" in window.help_dialog.findChild(object, "GettingStarted").text()
    window.help_dialog.close()
    window.show_shortcuts()
    table = window.help_dialog.findChild(object, "Shortcuts")
    shown = {table.item(i, 0).text(): table.item(i, 1).text() for i in range(table.rowCount())}
    assert shown["Generate"] == "Ctrl+Return or Ctrl+Enter"
    assert shown["New Project"] == "Ctrl+N" and shown["Keyboard Shortcuts"] == "Ctrl+/"
    assert shown["Queue"] == "Ctrl+J"  # dock toggles too
    # the table is the window's own actions: a new shortcut shows without editing the list
    extra = QAction("Frobnicate", window)
    extra.setShortcut("Ctrl+K")
    assert ("Frobnicate", "Ctrl+K") in shortcut_rows([extra])
    window.help_dialog.close()


def test_counts_agree_with_their_number(qtbot, window):
    from genstudio.ui.modes.binding import singular

    panel = window.set_mode("sprites")
    panel.count.setValue(1)
    assert panel.count.text() == "1 character"
    panel.count.setValue(3)
    assert panel.count.text() == "3 characters"
    assert singular(" colours", 1) == " colour" and singular(" px", 1) == " px"
    assert singular(" bpm", 1) == " bpm" and singular(" images", 2) == " images"


def test_a_tempo_from_another_tool_reads_as_a_round_number():
    from dataclasses import replace

    from genstudio.generators.music import score as sc
    from genstudio.ui.modes.music.state import describe_score

    base = sc.Score([sc.Track("Melody", 0)], [sc.Note(0, 60, 480, 80, 0)], 120.0, (4, 4), None, 1)
    assert " 99 bpm " in describe_score(replace(base, tempo=98.9999))
    assert " 92.5 bpm " in describe_score(replace(base, tempo=92.5))
