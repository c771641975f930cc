"""Jobs through the Qt bridge, the queue panel, and the gallery: find, search, reuse."""

from __future__ import annotations

import threading

from PySide6.QtCore import QModelIndex, Qt

from genstudio.core.jobs import JobState
from genstudio.ui.gallery.model import RecordRole
from genstudio.ui.queue_panel import PROGRESS_SCALE


def _gallery(window):
    window.set_mode("gallery")
    return window.panels["gallery"]


def test_bridge_delivers_worker_events_on_the_gui_thread(window, slow_gen, qtbot):
    gui = threading.current_thread()
    seen_threads = set()
    window.ctx.jobs.job_event.connect(lambda ev: seen_threads.add(threading.current_thread()))
    with qtbot.waitSignal(window.ctx.jobs.asset_added, timeout=10_000):
        window.ctx.jobs.submit("test.slow", {"prompt": "a", "steps": 3, "delay": 0.01})
    assert seen_threads == {gui}


def test_progress_cancel_retry_and_result_in_gallery(test_mode, window, qtbot):
    bridge = window.ctx.jobs
    queue = window.queue_panel
    job = bridge.submit(
        "test.slow", {"prompt": "brave knight", "steps": 8, "delay": 0.08, "seed": 3}, "Knight"
    )
    second = bridge.submit("test.slow", {"prompt": "never runs", "steps": 50, "delay": 0.05})
    row = queue.row(job.id)
    assert row is not None and row.full_title == "Knight"

    # the progress bar moves while the job runs on the worker thread
    qtbot.waitUntil(lambda: row.progress.value() > 0, timeout=10_000)
    first_value = row.progress.value()
    qtbot.waitUntil(lambda: row.progress.value() > first_value, timeout=10_000)
    assert row.state == "running" and row.cancel_btn.isVisibleTo(row)

    # cancel the second (queued) job with its row's button
    row2 = queue.row(second.id)
    qtbot.mouseClick(row2.cancel_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row2.state == "cancelled", timeout=10_000)
    assert bridge.get(second.id).state == JobState.CANCELLED
    assert row2.chip.text() == "Cancelled" and row2.retry_btn.isVisibleTo(row2)

    qtbot.waitUntil(lambda: row.state == "done", timeout=20_000)
    assert row.progress.value() == PROGRESS_SCALE
    done = bridge.get(job.id)
    assert len(done.asset_ids) == 1
    asset_id = done.asset_ids[0]

    # the finished result is in the gallery grid
    gallery = _gallery(window)
    qtbot.waitUntil(lambda: gallery.model.row_of(asset_id) >= 0, timeout=5_000)

    # search for it by prompt (debounced search box)
    window.ctx.jobs.submit("test.slow", {"prompt": "green slime", "steps": 1, "delay": 0.0})
    qtbot.waitUntil(lambda: gallery.model.rowCount() == 2, timeout=10_000)
    qtbot.keyClicks(gallery.search, "knight")
    qtbot.waitUntil(lambda: gallery.model.rowCount() == 1, timeout=5_000)
    assert gallery.model.record(0).id == asset_id

    # open its detail pane
    gallery.grid.setCurrentIndex(gallery.model.index(0))
    detail = gallery.detail
    assert detail.record.id == asset_id
    assert detail.title.text() == "brave knight"
    assert detail.fields["seed"].text() == "3"
    assert detail.fields["model"].text().startswith("test-model")
    assert detail.fields["sha256"].text() == detail.record.sha256
    assert '"prompt": "brave knight"' in detail.params.toPlainText()
    assert detail.reuse_btn.isEnabled()

    # "Reuse these settings" reaches the registered mode's panel with the right params
    qtbot.mouseClick(detail.reuse_btn, Qt.MouseButton.LeftButton)
    panel = window.panels["testmode"]
    assert window.current_panel() is panel
    assert [r.id for r in panel.applied] == [asset_id]
    assert panel.applied[0].params["prompt"] == "brave knight"
    assert panel.applied[0].seed == 3

    # retry the cancelled job from its row
    qtbot.mouseClick(row2.retry_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row2.state in ("queued", "running"), timeout=5_000)
    bridge.cancel(second.id)
    qtbot.waitUntil(lambda: row2.state == "cancelled", timeout=10_000)


def test_ctrl_enter_generates_in_the_active_panel(test_mode, window, qtbot):
    window.set_mode("testmode")
    panel = window.current_panel()
    with qtbot.waitSignal(window.ctx.jobs.asset_added, timeout=10_000):
        window.act_generate.trigger()
    assert panel.generated == 1
    assert "Ctrl+Return" in [s.toString() for s in window.act_generate.shortcuts()]


def test_gallery_pages_lazily(window, qtbot, monkeypatch):
    from genstudio.ui.gallery import model as gmodel
    from tests.ui.helpers import tiny_png

    monkeypatch.setattr(gmodel, "PAGE_SIZE", 10)
    project = window.ctx.project
    for i in range(25):
        project.add_asset(
            kind="image",
            data=tiny_png((i * 9 % 256, 80, 80)),
            ext="png",
            generator="import",
            params={"prompt": f"tile {i}"},
        )
    gallery = _gallery(window)
    gallery.model.refresh()
    assert gallery.model.total == 25
    assert gallery.model.rowCount() == 10
    assert gallery.model.canFetchMore(QModelIndex())
    gallery.model.fetchMore(QModelIndex())
    assert gallery.model.rowCount() == 20
    assert gallery.select_asset(gallery.model.record(0).id)
    # thumbnails load off the GUI thread and land in the cache
    rec = gallery.model.record(0)
    gallery.thumbs.cached(rec.id)
    qtbot.waitUntil(lambda: gallery.thumbs.cached(rec.id)[0], timeout=5_000)
    known, pixmap = gallery.thumbs.cached(rec.id)
    assert pixmap is not None and not pixmap.isNull()


def test_detail_pane_edits_favorite_rating_tags_trash(window, qtbot):
    from tests.ui.helpers import tiny_png

    project = window.ctx.project
    rec = project.add_asset(
        kind="image",
        data=tiny_png(),
        ext="png",
        generator="import",
        params={"prompt": "old shield"},
    )
    gallery = _gallery(window)
    window.ctx.asset_added.emit(rec.id)
    assert gallery.select_asset(rec.id)
    d = gallery.detail
    assert not d.reuse_btn.isEnabled()  # nothing in this studio makes "import" assets

    d.favorite_btn.click()
    assert project.gallery.get(rec.id).favorite is True
    d.stars[3].click()
    assert project.gallery.get(rec.id).rating == 4
    d.tags.setText("props, metal,  props")
    d.tags.editingFinished.emit()
    assert project.gallery.get(rec.id).tags == ["props", "metal"]

    gallery.favorites.setChecked(True)
    assert gallery.model.rowCount() == 1
    gallery.favorites.setChecked(False)

    assert gallery.select_asset(rec.id)
    d.trash_btn.click()
    assert project.gallery.get(rec.id).trashed is True
    assert gallery.model.row_of(rec.id) == -1
    gallery.trash_view.setChecked(True)
    assert gallery.model.row_of(rec.id) == 0
    assert gallery.select_asset(rec.id)
    gallery.detail.trash_btn.click()  # restore
    assert project.gallery.get(rec.id).trashed is False


def test_delete_key_trashes_the_selection(window, qtbot):
    from tests.ui.helpers import tiny_png

    project = window.ctx.project
    rec = project.add_asset(
        kind="image", data=tiny_png(), ext="png", generator="import", params={"prompt": "to delete"}
    )
    gallery = _gallery(window)
    gallery.model.refresh()
    assert gallery.select_asset(rec.id)
    gallery.grid.setFocus()
    qtbot.keyClick(gallery.grid, Qt.Key.Key_Delete)
    assert project.gallery.get(rec.id).trashed is True
    assert gallery.model.rowCount() == 0
    assert "trash" not in gallery.empty.text().lower() or gallery.model.rowCount() == 0


def test_open_folder_button(window, monkeypatch):
    from genstudio.ui.gallery import detail as detail_mod
    from tests.ui.helpers import tiny_png

    opened = []
    monkeypatch.setattr(detail_mod, "open_folder", lambda p: opened.append(p) or True)
    project = window.ctx.project
    rec = project.add_asset(kind="image", data=tiny_png(), ext="png", generator="import", params={})
    gallery = _gallery(window)
    gallery.model.refresh()
    gallery.select_asset(rec.id)
    gallery.detail.folder_btn.click()
    assert opened == [project.asset_path(project.gallery.get(rec.id)).parent]
    assert gallery.grid.currentIndex().data(RecordRole).id == rec.id
