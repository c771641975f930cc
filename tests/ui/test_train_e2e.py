"""Train mode end to end, nothing faked: the real window drives a real fine-tune of the shipped
music model in the real training child (a separate interpreter), on a tiny dataset.

Start -> progress and a preview shown -> pause -> resume -> cancel (a checkpoint is kept) ->
"Resume" in the past runs -> complete -> "Use this model" -> the Music mode generates with the
fine-tuned style. A QTimer probe measures how late the event loop runs while training goes on
(written to docs/campaigns/train-responsiveness.json when GENSTUDIO_SCREENSHOTS is set, with
real screenshots of the Train mode).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from PySide6.QtCore import QElapsedTimer, QTimer  # noqa: E402

from tests.helpers.training import write_pieces  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WAIT = 300_000


class Probe:
    """Event-loop lateness: a 10 ms timer that records how late each tick came."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.clock = QElapsedTimer()
        self.late: list[float] = []
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.clock.start()
        self._last = 0
        self.timer.start()

    def _tick(self) -> None:
        now = self.clock.elapsed()
        self.late.append(max(0, now - self._last - 10))
        self._last = now

    def stop(self) -> dict:
        self.timer.stop()
        xs = sorted(self.late[1:]) or [0]
        return {
            "ticks": len(xs),
            "max_ms": xs[-1],
            "p99_ms": xs[int(0.99 * (len(xs) - 1))],
            "p50_ms": xs[len(xs) // 2],
        }


@pytest.fixture
def win(qtbot, tmp_path, monkeypatch):
    from genstudio.ui.app import build_window

    monkeypatch.setenv("GENSTUDIO_AUDIO_OUTPUT", "null")  # no sound card here
    w = build_window(tmp_path / "proj")
    qtbot.addWidget(w)
    w.resize(1440, 900)
    w.show()
    yield w
    w.shutdown()


def _grab(win, name: str, probe: Probe) -> None:
    """A screenshot (opt-in); the grab itself runs on the GUI thread for ~60 ms, so the probe
    does not count it - it is the test's doing, not the studio's."""
    if os.environ.get("GENSTUDIO_SCREENSHOTS"):
        active = probe.timer.isActive()
        probe.timer.stop()
        win.grab().save(str(ROOT / "docs" / "screenshots" / name))
        if active:
            probe._last = probe.clock.elapsed()
            probe.timer.start()


def test_train_mode_end_to_end_with_the_real_child(win, qtbot, tmp_path):
    data = tmp_path / "My tunes"
    write_pieces(data, 6)
    panel = win.set_mode("train")
    qtbot.waitUntil(panel.runs_ready, timeout=WAIT)
    panel.add_sources([data])
    qtbot.waitUntil(panel.report_is_ready, timeout=WAIT)
    assert "6 pieces used" in panel.report_summary.text()
    panel.name_edit.setText("Arpeggios")
    panel.steps.setValue(36)  # Advanced: an exact step count instead of minutes
    probe = Probe()
    probe.start()
    job = panel.start()
    assert job is not None
    jobs = win.ctx.jobs

    def loss_steps() -> int:
        return max((s for s, _ in panel.loss_plot._loss.points()), default=0)

    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=WAIT)
    qtbot.waitUntil(lambda: panel.preview_step() >= 0, timeout=WAIT)
    # the piano roll is decoded on a worker thread
    qtbot.waitUntil(
        lambda: panel.preview_pixmap() is not None and not panel.preview_pixmap().isNull(),
        timeout=WAIT,
    )
    assert "CPU" in panel.hardware_label.text()
    _grab(win, "train-running-light.png", probe)

    panel.pause_button.click()
    qtbot.waitUntil(lambda: jobs.get(job.id).message == "Paused", timeout=WAIT)
    assert panel.resume_button.isEnabled()
    panel.resume_button.click()
    qtbot.waitUntil(lambda: jobs.get(job.id).message != "Paused", timeout=WAIT)

    def moved_on() -> bool:
        return loss_steps() >= 14

    qtbot.waitUntil(moved_on, timeout=WAIT)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: jobs.get(job.id).state.value == "cancelled", timeout=WAIT)
    run = panel.current_run()
    qtbot.waitUntil(
        lambda: any(str(r.folder) == str(run) and r.can_resume for r in panel.runs()),
        timeout=WAIT,
    )
    from genstudio.generators.training import latest_checkpoint, read_run

    assert read_run(run)["status"] == "cancelled"
    at_cancel = latest_checkpoint(run)[1]["step"]  # the cancel wrote one where it stopped
    assert at_cancel >= 14

    again = panel.resume_run(run)
    assert again is not None
    qtbot.waitUntil(lambda: jobs.get(again.id).state.value in ("done", "failed"), timeout=WAIT)
    assert jobs.get(again.id).state.value == "done", jobs.get(again.id).error
    lateness = probe.stop()
    qtbot.waitUntil(
        lambda: any(str(r.folder) == str(run) and r.usable for r in panel.runs()), timeout=WAIT
    )
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x.strip()]
    assert any(r.get("event") == "resumed" and r["step"] == at_cancel for r in rows)
    assert max(r.get("step", 0) for r in rows) == 36
    _grab(win, "train-done-light.png", probe)

    assert panel.use_model(run)
    music = win.current_panel()
    assert win.current_mode_id() == "music"
    qtbot.waitUntil(lambda: music.style_choice()[1] == "music-arpeggios", timeout=WAIT)
    assert music.style.currentText() == "My style: Arpeggios"
    added: list[str] = []
    win.ctx.asset_added.connect(added.append)
    assert music.generate()
    qtbot.waitUntil(lambda: len(added) >= 1, timeout=WAIT)
    rec = win.ctx.project.gallery.get(added[0])
    assert rec.model_id == "music-arpeggios"
    assert rec.params["model"] == "music-arpeggios" and rec.params["style"] == "style4"

    # a training job never blocks the window; the bound here only catches a blocked GUI
    # thread (a busy CI machine may be late by a few ms), the measured numbers are recorded
    assert lateness["max_ms"] < 2000, lateness
    if os.environ.get("GENSTUDIO_SCREENSHOTS"):
        out = ROOT / "docs" / "campaigns" / "train-responsiveness.json"
        doc = {
            "what": "QTimer lateness probe (10 ms interval) on the GUI thread of the real window "
            "while Train mode runs a real fine-tune in the training child (start, pause, "
            "resume, cancel, resume, complete)",
            "cores": os.cpu_count(),
            "target_max_ms": 50,
            **lateness,
            "time": time.strftime("%Y-%m-%d"),
        }
        out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
