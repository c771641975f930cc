"""The Train mode: real panel in the real main window (offscreen), real JobRunner and bridge.

No training runs here: the runner resolves ``train.music`` to :class:`FakeTrain`, which takes
the real :class:`~genstudio.generators.training.TrainMusicParams` (so the panel's params are
validated exactly as for the real job), records them and sends the events the training child
sends. The run folders (``run.json``, ``log.jsonl``, previews, checkpoints) are written the way
the trainer writes them, so the panel's folder reading is tested as after a studio restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from genstudio import generators
from genstudio.generators import training as tr
from genstudio.generators.base import GenerationResult, Generator, GenParams, RunContext
from genstudio.generators.music import midi
from genstudio.generators.music.score import Note, Score, Track, parse_key
from genstudio.ui import icons, modes

WAIT_MS = 20_000
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------- test doubles


class FakeTrain(Generator):
    """``train.music`` without torch: records its params, sends ``events`` (name, data), then
    waits for ``release`` (checking cancel) before it finishes."""

    name = "train.music"
    kind = "model"
    Params = tr.TrainMusicParams
    calls: list[tr.TrainMusicParams] = []
    events: list[tuple[str, dict]] = []
    release = threading.Event()
    block = False
    max_steps = 100

    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        assert isinstance(params, tr.TrainMusicParams)
        type(self).calls.append(params)
        run = Path(params.run)
        run.mkdir(parents=True, exist_ok=True)
        cfg = {"max_steps": type(self).max_steps}
        tr.write_run(run, status="running", step=0, config=cfg, device="cpu")
        for name, data in type(self).events:
            ctx.event(name, **data)
            if name == "loss":
                n = type(self).max_steps
                ctx.progress(data["step"] / n, f"Step {data['step']}/{n} - loss {data['loss']:.3f}")
        while type(self).block and not type(self).release.wait(0.02):
            ctx.check_cancel()
        ctx.check_cancel()
        return GenerationResult(info={})


@pytest.fixture
def fake_train():
    FakeTrain.calls = []
    FakeTrain.events = []
    FakeTrain.release = threading.Event()
    FakeTrain.block = False
    FakeTrain.max_steps = 100
    yield FakeTrain
    FakeTrain.release.set()


@pytest.fixture
def win(qtbot, tmp_path, fake_train, monkeypatch):
    """The real main window on a project in tmp_path; ``train.music`` is :class:`FakeTrain`."""
    from genstudio.core.jobs import JobRunner
    from genstudio.ui import theme
    from genstudio.ui.app import build_window

    monkeypatch.setenv("GENSTUDIO_AUDIO_OUTPUT", "null")

    def resolve(name: str):
        return FakeTrain() if name == "train.music" else generators.get(name)

    w = build_window(tmp_path / "proj", runner=JobRunner(None, resolve=resolve))
    qtbot.addWidget(w)
    w.resize(1440, 900)
    w.show()
    yield w
    FakeTrain.release.set()
    w.shutdown()
    theme.apply_theme(QApplication.instance(), "light")
    leftover = [t.name for t in threading.enumerate() if t.name.startswith("genstudio-")]
    assert leftover == [], f"threads left running: {leftover}"


@pytest.fixture
def panel(win, qtbot):
    p = win.set_mode("train")
    assert p is not None and type(p).__name__ == "TrainPanel"
    qtbot.waitUntil(p.runs_ready, timeout=WAIT_MS)
    return p


# ------------------------------------------------------------------------------- material


def tune(path: Path, n_notes: int = 24, base: int = 60) -> Path:
    pitches = [0, 2, 4, 5, 7, 9, 11, 12]
    notes = [Note(i * 480, base + pitches[i % 8], 480, 90, 0) for i in range(n_notes)]
    bars = max(1, n_notes // 4)
    score = Score([Track("Tune", 40)], notes, 120.0, (4, 4), parse_key("C major"), bars)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.write_midi(score, path)
    return path


def material(folder: Path) -> Path:
    """2 usable pieces (one in a sub-folder), a zero-byte .mid, a text file renamed .mid, a
    too-short piece and a .txt."""
    tune(folder / "jig.mid")
    tune(folder / "more" / "reel.mid", 32, 62)
    (folder / "empty.mid").write_bytes(b"")
    (folder / "letter.mid").write_text("Dear friend, this is not music.\n" * 5)
    tune(folder / "short.mid", 6)
    (folder / "notes.txt").write_text("read me")
    return folder


def drop_on(widget, paths: list[Path]) -> None:
    """A real drag-enter + drop of local files/folders on ``widget``."""
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
        pos, Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, drop)


def messages(ctx) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    ctx.message.connect(lambda text, level: got.append((text, level)))
    return got


def add_and_wait(qtbot, panel, paths) -> None:
    panel.add_sources(paths)
    qtbot.waitUntil(panel.report_is_ready, timeout=WAIT_MS)


# ------------------------------------------------------------------------------- run folders


def preview_files(run: Path, step: int) -> list[dict]:
    from genstudio.generators.music import pianoroll

    folder = run / tr.PREVIEW_DIR / f"step-{step:08d}"
    folder.mkdir(parents=True, exist_ok=True)
    mid = tune(folder / "preview.mid", 16, 64)
    png = folder / "preview.png"
    png.write_bytes(pianoroll.png_bytes(midi.read_midi(mid)))
    return [{"path": str(mid), "kind": "midi"}, {"path": str(png), "kind": "pianoroll"}]


def loss_rows(first: int, last: int, eval_every: int = 25) -> list[dict]:
    rows = []
    for s in range(first, last + 1):
        row = {"step": s, "loss": round(3.2 * 0.985**s + 0.6, 5), "lr": 1e-3, "wall_s": s * 0.5}
        if s % eval_every == 0:
            row["valid_nll"] = round(3.0 * 0.99**s + 0.8, 5)
        rows.append(row)
    return rows


def write_log(run: Path, rows: list[dict]) -> None:
    with open(run / tr.LOG_FILE, "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def stopped_run(models: Path, name: str = "Old tunes", step: int = 40) -> Path:
    """A cancelled run with a complete checkpoint, a log, a preview and the panel's job.json."""
    from genstudio.ui.modes.train import state

    out, run = tr.default_paths(models, name)
    run.mkdir(parents=True)
    write_log(run, [{"step": 0, "valid_nll": 3.8}, *loss_rows(1, step)])
    files = preview_files(run, 30)
    write_log(run, [{"event": "preview", "step": 30, "files": [f["path"] for f in files]}])
    ck = run / tr.CKPT_DIR
    ck.mkdir()
    blob = b"not really tensors"
    (ck / f"step-{step:08d}.safetensors").write_bytes(blob)
    meta = {"step": step, "sha256": hashlib.sha256(blob).hexdigest(), "wall_s": 20.0}
    (ck / f"step-{step:08d}.json").write_text(json.dumps(meta))
    tr.write_run(
        run,
        status="cancelled",
        step=step,
        config={"max_steps": step * 3, "method": "lora"},
        device="cpu",
        hardware="CPU test-chip, 2 cores, 8 GB RAM",
        base_metrics={"nll": 3.8},
    )
    params = {"data": [str(models.parent / "somewhere")], "name": name, "out": str(out)}
    params.update(run=str(run), preset="quick", method="lora")
    state.write_job(run, params, f"Train music style: {name}")
    return run


def finetuned_pack(models: Path, name: str = "Mine") -> tuple[Path, str]:
    """A real, loadable music pack with its own style: the shipped music-gpt's files (hashes
    unchanged) and a model.json with a new id and a ``styles`` entry, as the trainer writes."""
    slug = name.lower().replace(" ", "-")
    pack = models / f"music-{slug}"
    src = ROOT / "resources" / "models" / "music-gpt"
    pack.mkdir(parents=True)
    for f in ("music.onnx", "weights.safetensors"):
        shutil.copyfile(src / f, pack / f)
    doc = json.loads((src / "model.json").read_text())
    doc["id"] = f"music-{slug}"
    doc["title"] = f"My style: {name}"
    doc["styles"] = [
        {
            "token": "style4",
            "title": f"My style: {name}",
            "tracks": [{"name": "Fiddle", "program": 40}],
        }
    ]
    (pack / "model.json").write_text(json.dumps(doc))
    return pack, doc["id"]


# ------------------------------------------------------------------------------- tests


def test_train_mode_is_registered_with_its_icon():
    spec = modes.get_mode("train")
    assert spec is not None and spec.factory == "genstudio.ui.modes.train:TrainPanel"
    assert spec.matches_generator("train.music") and spec.is_available()
    assert "train" in icons._SVG and icons.svg("train", "#000").startswith(b"<svg")


def test_panel_builds_and_asks_for_material(win, panel):
    assert win.current_mode_id() == "train"
    assert panel.kind.currentText() == "Music style"
    assert not panel.start_button.isEnabled()
    assert panel.start_hint.text() == "Add MIDI material first."
    assert panel.report_problem_bar.isVisible() and "drop a folder" in panel.report_problem.text()
    assert panel.loss_plot.is_empty() and panel.runs_empty.isVisible()
    # plain words for the presets, on this CPU (no earlier run said GPU)
    words = [b.text() for b in panel.preset_buttons.values()]
    assert words == [tr.preset_words(p, "cpu") for p in tr.PRESETS]
    assert panel.preset_buttons["standard"].isChecked()
    assert not panel.advanced_box.isVisible()
    panel.advanced_button.click()
    assert panel.advanced_box.isVisible()
    panel.device.setCurrentIndex(panel.device.findData("cuda"))
    assert "this GPU" in panel.preset_buttons["quick"].text()


def test_dropping_a_folder_shows_the_report(qtbot, win, panel, tmp_path):
    folder = material(tmp_path / "my_songs")
    drop_on(panel.drop_zone, [folder])
    assert panel.sources() == [str(folder)]
    qtbot.waitUntil(panel.report_is_ready, timeout=WAIT_MS)
    rows = {r[0]: r for r in panel.report_rows()}
    assert set(rows) == {
        "jig.mid",
        "more/reel.mid",
        "empty.mid",
        "letter.mid",
        "short.mid",
        "notes.txt",
    }
    assert rows["jig.mid"][1:4] == ("used", "", "6")
    assert rows["more/reel.mid"][1] == "used" and rows["more/reel.mid"][3] == "8"
    assert rows["empty.mid"][1:3] == ("skipped", "empty file (0 bytes)")
    assert rows["letter.mid"][1] == "skipped" and rows["letter.mid"][2]
    assert rows["short.mid"][1] == "skipped" and "too few notes" in rows["short.mid"][2]
    assert rows["notes.txt"][2] == "not a MIDI file (by its name)"
    assert panel.report_summary.text() == "2 pieces used (14 bars), 4 files skipped"
    assert panel.report_table.model().rowCount() == 6
    assert not panel.report_problem_bar.isVisible()
    # the name follows the folder until the user types one; Start is on
    assert panel.name_edit.text() == "my songs"
    assert panel.start_button.isEnabled(), panel.start_hint.text()
    # a dropped file is added too; removing the folder leaves only it
    drop_on(panel, [tmp_path / "my_songs" / "jig.mid"])
    qtbot.waitUntil(panel.report_is_ready, timeout=WAIT_MS)
    panel.material_list.setCurrentRow(0)
    panel.remove_button.click()
    qtbot.waitUntil(panel.report_is_ready, timeout=WAIT_MS)
    assert panel.sources() == [str(folder / "jig.mid")]
    assert panel.report_summary.text() == "1 piece used (6 bars)"


def test_empty_folder_no_midi_and_all_skipped_are_explained(qtbot, panel, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    add_and_wait(qtbot, panel, [empty])
    assert panel.report_problem_bar.isVisible()
    assert "The folder empty is empty" in panel.report_problem.text()
    assert not panel.start_button.isEnabled()
    assert "None of the material" in panel.start_hint.text()

    panel.clear_sources()
    text = tmp_path / "texts"
    text.mkdir()
    (text / "a.txt").write_text("x")
    (text / "b.doc").write_text("y")
    add_and_wait(qtbot, panel, [text])
    assert "No MIDI files in this material: 2 files" in panel.report_problem.text()
    assert not panel.start_button.isEnabled()

    panel.clear_sources()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "zero.mid").write_bytes(b"")
    tune(bad / "tiny.mid", 4)
    add_and_wait(qtbot, panel, [bad])
    assert "None of the 2 files can be used" in panel.report_problem.text()
    assert "empty file (0 bytes)" in panel.report_problem.text()
    assert not panel.start_button.isEnabled()


def test_start_submits_the_job_and_events_drive_the_run(qtbot, win, panel, tmp_path, fake_train):
    models = win.ctx.project.models_dir
    folder = material(tmp_path / "jigs")
    out, run = tr.default_paths(models, "Jigs and reels")
    files = preview_files(tmp_path / "pv", 20)
    fake_train.block = True
    fake_train.events = [
        ("hardware", {"device": "cpu", "words": "CPU test-chip, 2 cores, 8 GB RAM"}),
        ("data", {"used": 2, "skipped": 4}),
        ("eval", {"step": 0, "nll": 3.5}),
        (
            "start",
            {
                "step": 0,
                "max_steps": 100,
                "method": "lora",
                "params": 900_000,
                "trainable": 871_040,
                "device": "cpu",
                "micro_batch": 8,
            },
        ),  # fmt: skip
        *[
            ("loss", {"step": s, "loss": 3.0 - s * 0.02, "lr": 1e-3, "wall_s": s})
            for s in range(1, 21)
        ],
        ("eval", {"step": 20, "nll": 3.1}),
        ("preview", {"step": 20, "files": files}),
        ("checkpoint", {"step": 20, "reason": "periodic"}),
    ]
    add_and_wait(qtbot, panel, [folder])
    qtbot.keyClicks(panel.name_edit, " ignored")
    panel.name_edit.setText("Jigs and reels")
    panel.preset_buttons["quick"].setChecked(True)
    panel.advanced_button.click()
    panel.method.setCurrentIndex(panel.method.findData("lora"))
    panel.steps.setValue(300)
    panel.seed.setText("77")
    assert panel.start_button.isEnabled()
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)

    job_id = panel.current_job_id()
    assert job_id is not None
    job = win.ctx.jobs.get(job_id)
    assert (
        job.spec.generator == "train.music"
        and job.spec.title == "Train music style: Jigs and reels"
    )
    p = job.spec.params
    assert p["data"] == [str(folder)] and p["name"] == "Jigs and reels"
    assert (p["out"], p["run"]) == (str(out), str(run))
    assert (
        out == models / "music-jigs-and-reels" and run == models / ".runs" / "music-jigs-and-reels"
    )
    assert (p["preset"], p["method"], p["steps"], p["seed"], p["device"]) == (
        "quick",
        "lora",
        300,
        77,
        "auto",
    )
    saved = json.loads((run / "job.json").read_text())
    assert saved["params"] == p and saved["generator"] == "train.music"
    assert not panel.start_button.isEnabled()  # one training at a time

    # the events arrive over the bridge: curve, eval points, preview, hardware line
    qtbot.waitUntil(lambda: len(fake_train.calls) == 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.preview_pixmap() is not None, timeout=WAIT_MS)
    assert fake_train.calls[0].name == "Jigs and reels" and fake_train.calls[0].steps == 300
    assert [s for s, _ in panel.loss_plot.loss_points()] == list(range(1, 21))
    assert panel.loss_plot.eval_points() == [(0, 3.5), (20, 3.1)]
    assert panel.loss_plot.max_steps() == 100
    assert panel.preview_step() == 20 and "step 20" in panel.preview_info.text()
    assert panel.hardware_label.text() == (
        "Training on CPU test-chip, 2 cores, 8 GB RAM - LoRA - 871,040 weights"
    )
    qtbot.waitUntil(lambda: panel.progress.value() == 200, timeout=WAIT_MS)
    assert panel.cancel_button.isEnabled()

    # Play renders the preview's MIDI on a worker and plays it (silent null output here)
    assert panel.play_button.isEnabled()
    with qtbot.waitSignal(panel.audio_loaded, timeout=WAIT_MS):
        panel.play_button.click()
    qtbot.waitUntil(panel.is_playing, timeout=WAIT_MS)
    panel.stop_button.click()
    assert not panel.is_playing()

    # Pause / Resume go to the bridge; the paused/resumed events set the buttons
    calls = []
    win.ctx.jobs.pause = lambda jid: calls.append(("pause", jid))
    win.ctx.jobs.resume = lambda jid: calls.append(("resume", jid))
    win.ctx.jobs.is_paused = lambda jid: bool(calls) and calls[-1][0] == "pause"
    qtbot.waitUntil(panel.pause_button.isEnabled, timeout=WAIT_MS)
    panel.pause_button.click()
    panel.apply_event("paused", {})
    assert calls == [("pause", job_id)]
    assert panel.resume_button.isEnabled() and not panel.pause_button.isEnabled()
    assert panel.status_label.text() == "Paused"
    panel.resume_button.click()
    panel.apply_event("resumed", {})
    assert calls[-1] == ("resume", job_id) and panel.pause_button.isEnabled()

    # a resumed run forgets the steps after its checkpoint
    panel.apply_event("resumed_from", {"step": 15})
    assert panel.loss_plot.loss_points()[-1][0] == 15

    # Cancel stops the job; the run is listed, its name is taken now
    with qtbot.waitSignal(panel.training_over, timeout=WAIT_MS) as over:
        panel.cancel_button.click()
    assert over.args == [job_id, "cancelled"]
    assert "Stopped" in panel.status_label.text()
    qtbot.waitUntil(lambda: panel.runs_ready() and panel.runs_list.topLevelItemCount() == 1)
    assert panel.start_button.isEnabled()
    assert panel.start() is None and panel.conflict_bar.isVisible()
    assert "already a style called 'My style: Jigs and reels'" in panel.conflict_label.text()
    assert panel.rename_button.text() == "Name it 'Jigs and reels 2'"
    panel.rename_button.click()
    assert panel.name_edit.text() == "Jigs and reels 2" and not panel.conflict_bar.isVisible()

    # Replace: the old run is moved aside (and deleted on a worker), a new job starts
    panel.name_edit.setText("Jigs and reels")
    fake_train.block = False
    fake_train.events = []
    assert panel.start() is None
    with qtbot.waitSignal(panel.training_over, timeout=WAIT_MS) as over:
        job2 = panel.start(replace=True)
        assert job2 is not None and job2.id != job_id
    assert over.args == [job2.id, "done"]
    assert json.loads((run / "job.json").read_text())["params"]["seed"] == 77
    with qtbot.waitSignal(panel.runs_loaded, timeout=WAIT_MS):
        pass
    assert panel.selected_run() == str(run)
    assert (
        panel.status_label.text() == "Done: 'My style: Jigs and reels' is ready in the Music mode."
    )
    qtbot.waitUntil(
        lambda: not any(q.name.startswith(".music-jigs-and-reels.") for q in run.parent.iterdir()),
        timeout=WAIT_MS,
    )


def test_the_panel_rebuilds_a_run_from_its_folder_and_resumes_it(qtbot, tmp_path, win, fake_train):
    models = win.ctx.project.models_dir
    run = stopped_run(models)
    panel = win.set_mode("train")
    qtbot.waitUntil(lambda: panel.runs_ready() and panel.runs_list.topLevelItemCount() == 1)
    item = panel.runs_list.topLevelItem(0)
    assert [item.text(c) for c in range(4)] == [
        "My style: Old tunes",
        "stopped (saved at step 40)",
        "40 / 120",
        "3.800",
    ]
    # the newest run is shown: its curve and preview come from the folder alone
    assert panel.current_run() == run
    qtbot.waitUntil(lambda: len(panel.loss_plot.loss_points()) == 40, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.preview_step() == 30 and panel.preview_pixmap() is not None)
    assert panel.loss_plot.eval_points()[0] == (0, 3.8) and panel.loss_plot.max_steps() == 120
    assert panel.hardware_label.text() == "Trained on CPU test-chip, 2 cores, 8 GB RAM - LoRA"
    assert panel.status_label.text() == "Stopped at step 40"

    # new rows written to the log are picked up by the poll (only the new bytes are read)
    offset = panel._tail.offset
    write_log(run, loss_rows(41, 45))
    with open(run / tr.LOG_FILE, "a") as f:
        f.write('{"step": 46, "loss": 0.')  # a line being written stays for the next poll
    qtbot.waitUntil(lambda: len(panel.loss_plot.loss_points()) == 45, timeout=WAIT_MS)
    assert panel._tail.offset > offset
    with open(run / tr.LOG_FILE, "a") as f:
        f.write('9, "lr": 0.001, "wall_s": 23.0}\n')
    qtbot.waitUntil(lambda: panel.loss_plot.loss_points()[-1] == (46, 0.9), timeout=WAIT_MS)
    # log rows fed directly update the plot and the preview the same way
    files = preview_files(run, 44)
    panel.feed_log_rows(
        [
            {"step": 47, "loss": 0.8, "valid_nll": 1.5},
            {"event": "preview", "step": 44, "files": [f["path"] for f in files]},
        ]
    )
    assert panel.loss_plot.eval_points()[-1] == (47, 1.5)
    qtbot.waitUntil(lambda: panel.preview_step() == 44)

    # Resume submits the saved job again
    panel.select_run(run)
    assert panel.resume_run_button.isEnabled()
    assert not panel.use_model_button.isEnabled()
    panel.resume_run_button.click()
    qtbot.waitUntil(lambda: len(fake_train.calls) == 1, timeout=WAIT_MS)
    assert fake_train.calls[0].run == str(run) and fake_train.calls[0].name == "Old tunes"
    qtbot.waitUntil(lambda: not panel.cancel_button.isEnabled(), timeout=WAIT_MS)


def test_use_this_model_opens_music_with_the_style(qtbot, tmp_path, win, monkeypatch):
    from genstudio.ui.modes.train import panel as panel_mod

    models = win.ctx.project.models_dir
    pack, pack_id = finetuned_pack(models, "Mine")
    _out, run = tr.default_paths(models, "Mine")
    run.mkdir(parents=True)
    write_log(run, loss_rows(1, 60, 20))
    tr.write_run(
        run, status="done", step=60, pack=str(pack), config={"max_steps": 60},
        base_metrics={"nll": 1.2}, metrics={"nll": 0.9}, device="cpu", method="lora",
    )  # fmt: skip
    panel = win.set_mode("train")
    qtbot.waitUntil(lambda: panel.runs_ready() and panel.runs_list.topLevelItemCount() == 1)
    item = panel.runs_list.topLevelItem(0)
    assert [item.text(c) for c in range(4)] == [
        "My style: Mine",
        "done",
        "60 / 60",
        "1.200 \u2192 0.900",
    ]
    panel.runs_list.setCurrentItem(item)
    assert panel.use_model_button.isEnabled() and not panel.resume_run_button.isEnabled()

    opened = []
    monkeypatch.setattr(panel_mod, "open_folder", lambda p: opened.append(p) or True)
    panel.show_folder_button.click()
    assert opened == [pack]

    panel.use_model_button.click()
    assert win.current_mode_id() == "music"
    music = win.current_panel()
    qtbot.waitUntil(lambda: music.style_choice() == ("style4", pack_id), timeout=WAIT_MS)
    assert music.style.currentText() == "My style: Mine"
    params = music.current_settings().to_params()
    assert (params["model"], params["style"]) == (pack_id, "style4")
    from genstudio.generators.music.generator import MusicParams

    MusicParams.from_dict(params)  # the generator takes it


def test_no_project_and_read_only_block_start(qtbot, win, panel, tmp_path):
    add_and_wait(qtbot, panel, [material(tmp_path / "m")])
    assert panel.start_button.isEnabled()
    got = messages(win.ctx)
    win.ctx.close_project()
    assert not panel.start_button.isEnabled()
    assert "Open or create a project" in panel.start_hint.text()
    assert panel.start() is None and got[-1][1] == "warning"
    assert panel.runs_list.topLevelItemCount() == 0


def test_the_panel_never_blocks_the_event_loop_while_scanning(qtbot, panel, tmp_path):
    folder = tmp_path / "many"
    for i in range(60):
        tune(folder / f"t{i:02d}.mid", 24, 55 + i % 12)
    gaps = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    from PySide6.QtCore import QTimer

    t = QTimer()
    t.setInterval(5)
    t.timeout.connect(tick)
    t.start()
    panel.add_sources([folder])
    qtbot.waitUntil(panel.report_is_ready, timeout=WAIT_MS)
    t.stop()
    assert panel.report_summary.text().startswith("60 pieces used")
    assert gaps and max(gaps) < 0.25  # generous on a shared 2-core machine; the scan is off-thread


# ------------------------------------------------------------------------------- screenshots


@pytest.mark.skipif(not os.environ.get("GENSTUDIO_SCREENSHOTS"), reason="screenshots are opt-in")
def test_screenshots(qtbot, tmp_path, win, fake_train):
    docs = ROOT / "docs" / "screenshots"
    models = win.ctx.project.models_dir
    pack, _ = finetuned_pack(models, "Chorales")
    _o, done_run = tr.default_paths(models, "Chorales")
    done_run.mkdir(parents=True)
    tr.write_run(
        done_run, status="done", step=1400, pack=str(pack), config={"max_steps": 1400},
        base_metrics={"nll": 1.412}, metrics={"nll": 0.871}, device="cpu", method="full",
    )  # fmt: skip
    stopped_run(models, "Waltzes", 240)
    folder = tmp_path / "Irish tunes"
    for i, n in enumerate(("The Kesh", "Out on the Ocean", "Morrison's", "The Butterfly")):
        tune(folder / f"{n}.mid", 64 + 8 * i, 57 + i)
    tune(folder / "sets" / "Drowsy Maggie.mid", 48, 62)
    (folder / "sets" / "broken.mid").write_bytes(b"MThd\x00\x00")
    (folder / "cover.jpg").write_bytes(b"\xff\xd8")
    (folder / "empty.mid").write_bytes(b"")
    fake_train.block = True
    fake_train.max_steps = 600
    files = preview_files(tmp_path / "pv", 360)
    rows = []
    for s in range(1, 381):
        rows.append(
            (
                "loss",
                {
                    "step": s,
                    "loss": round(1.9 * 0.992**s + 0.55 + 0.05 * ((s * 7919) % 13) / 13, 4),
                    "lr": 1e-3,
                    "wall_s": s,
                },
            )
        )
        if s % 60 == 0:
            rows.append(("eval", {"step": s, "nll": round(1.55 * 0.994**s + 0.7, 4)}))
    fake_train.events = [
        ("hardware", {"device": "cpu", "words": "CPU AMD Ryzen 7 5800U, 16 cores, 32 GB RAM"}),
        ("eval", {"step": 0, "nll": 1.62}),
        (
            "start",
            {
                "step": 0,
                "max_steps": 600,
                "method": "lora",
                "params": 840_000,
                "trainable": 131_072,
                "device": "cpu",
                "micro_batch": 16,
            },
        ),  # fmt: skip
        *rows,
        ("preview", {"step": 360, "files": files}),
    ]
    panel = win.set_mode("train")
    qtbot.waitUntil(panel.runs_ready, timeout=WAIT_MS)
    panel.add_sources([folder])
    qtbot.waitUntil(panel.report_is_ready, timeout=WAIT_MS)
    panel.name_edit.setText("Irish tunes")
    panel.preset_buttons["standard"].setChecked(True)
    panel.start()
    qtbot.waitUntil(lambda: panel.preview_pixmap() is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(panel.loss_plot.loss_points()) == 380, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.runs_list.topLevelItemCount() == 2, timeout=WAIT_MS)
    win.queue_dock.hide()
    for name in ("light", "dark"):
        win.set_theme(name, save=False)
        qtbot.wait(400)
        win.grab().save(str(docs / f"train-{name}.png"))
    fake_train.release.set()


def test_gallery_sends_selected_midi_to_train(win, qtbot, tmp_path):
    project = win.ctx.project
    ids = []
    for i in range(3):
        path = tune(tmp_path / f"t{i}.mid", 24 + 4 * i, 60 + i)
        rec = project.add_asset(
            kind="music", data=path.read_bytes(), ext="mid", generator="music.gpt"
        )
        ids.append(str(rec.id))
    gallery = win.set_mode("gallery")
    gallery.model.refresh()
    qtbot.waitUntil(lambda: gallery.model.rowCount() == 3, timeout=WAIT_MS)
    assert not gallery.train_btn.isEnabled()
    gallery.grid.selectAll()
    assert gallery.train_btn.isEnabled() and len(gallery.selected_midi()) == 3
    gallery.train_btn.click()
    assert win.current_mode_id() == "train"
    panel = win.current_panel()
    qtbot.waitUntil(panel.report_is_ready, timeout=WAIT_MS)
    assert panel.report_summary.text().startswith("3 pieces used")
