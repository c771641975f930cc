"""The Music mode: real panel, real main window, real JobRunner, real ``music.gpt`` generator.

The music model is a tiny *random-weight* pack built here with torch (2 layers, d_model 32), so
the music itself is noise: these tests check the UI flow (controls -> job -> gallery -> piano
roll -> playback -> clips in, files out), not musical quality. The sound card is replaced by the
player's silent null output (``GENSTUDIO_AUDIO_OUTPUT=null``) because this machine has none; the
null output pulls audio at real-time pace on its own thread, so the playhead moves as it would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from genstudio.generators.music import midi
from genstudio.generators.music.score import Note, Score, Track, parse_key
from genstudio.ui import modes

torch = pytest.importorskip("torch")

WAIT_MS = 60_000
CLIP_PITCHES = [60, 64, 67, 72, 71, 67, 64, 62]  # C major, two bars of quarter notes


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory):
    from genstudio.generators.music import tokens
    from genstudio.ml.music.model import MusicGPTConfig, build
    from genstudio.ml.music.train import write_music_pack

    torch.manual_seed(0)
    cfg = MusicGPTConfig(vocab=tokens.VOCAB.size, n_layer=2, n_head=2, d_model=32, max_len=96)
    net, _ = build(cfg)
    out = tmp_path_factory.mktemp("pack") / "music-gpt"
    write_music_pack(net, cfg, out, version="0.test", training={"steps": 0})
    return out


@pytest.fixture
def music_model(pack_dir, monkeypatch):
    """The generator and the panel find the random pack; playback is silent (no sound card)."""
    from genstudio.generators.music import sampler

    monkeypatch.setattr(sampler, "default_pack_dir", lambda: pack_dir)
    monkeypatch.setattr(sampler, "_models", {})
    monkeypatch.setenv("GENSTUDIO_AUDIO_OUTPUT", "null")
    return pack_dir


@pytest.fixture
def panel(music_model, window):
    p = window.set_mode("music")
    assert p is not None and type(p).__name__ == "MusicPanel"
    return p


@pytest.fixture
def clip(tmp_path) -> Path:
    notes = [Note(i * 480, p, 480, 90, 0) for i, p in enumerate(CLIP_PITCHES)]
    score = Score([Track("Tune", 40)], notes, 120.0, (4, 4), parse_key("C major"), 2)
    path = tmp_path / "tune.mid"
    midi.write_midi(score, path)
    return path


def messages(ctx):
    got: list[tuple[str, str]] = []
    ctx.message.connect(lambda text, level: got.append((text, level)))
    return got


def small(panel, *, bars: int = 2, count: int = 1, seed: int = 7) -> None:
    """Small, fast settings (the random model fills every bar with notes)."""
    panel.bars.setValue(bars)
    panel.count.setValue(count)
    panel.seed.setText(str(seed))
    panel.tempo.setValue(150)


def run_job(qtbot, panel, count: int) -> list[str]:
    """Generate and wait until the job is over and its ``count`` results are listed."""
    before = set(panel.result_ids())
    job_before = panel._batch_job
    assert panel.generate()
    job_id = panel._batch_job
    assert job_id is not None and job_id != job_before, "no job was submitted"

    def new():
        return [i for i in panel.result_ids() if i not in before]

    qtbot.waitUntil(
        lambda: not panel.ctx.jobs.get(job_id).active and len(new()) >= count, timeout=WAIT_MS
    )
    job = panel.ctx.jobs.get(job_id)
    assert job.state.value == "done", job.error
    return new()


def drop_on(widget, paths: list[Path]) -> QDropEvent:
    """Send a real drag-enter + drop of local files to ``widget``."""
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


# --- registration ------------------------------------------------------------------------------


def test_music_mode_is_registered_and_routes_music_generators():
    spec = modes.get_mode("music")
    assert spec is not None and spec.factory == "genstudio.ui.modes.music:MusicPanel"
    assert (spec.title, spec.icon_name, spec.order) == ("Music", "music", 30)
    assert spec.matches_generator("music.gpt")
    assert modes.mode_for_generator("music.gpt") == spec


# --- the main flow -----------------------------------------------------------------------------


def test_generate_play_and_continue_a_dropped_clip(qtbot, window, panel, clip):
    project = panel.ctx.project
    assert panel.mode() == "generate" and panel.model_problem() is None
    assert panel.generate_button.isEnabled()

    # --- generate two pieces: MIDI + WAV each, in the gallery; the roll shows the first
    panel.style.setCurrentIndex(panel.style.findData("folk"))
    panel.tonic.setCurrentIndex(panel.tonic.findData("C"))
    panel.scale.setCurrentIndex(panel.scale.findData("major"))
    small(panel, bars=2, count=2, seed=11)
    ids = run_job(qtbot, panel, 2)
    assert len(ids) == 2
    recs = [project.gallery.get(i) for i in ids]
    assert all(r.kind == "music" and r.generator == "music.gpt" for r in recs)
    assert sorted(r.seed for r in recs) == [11, 12]
    assert all(r.extra["bars"] == 2 and r.params["key"] == "C major" for r in recs)
    kinds = sorted(r.kind for r in project.gallery.query())
    assert kinds == ["audio", "audio", "music", "music"]
    audio = [r for r in project.gallery.query() if r.kind == "audio"]
    assert {r.parent for r in audio} == set(ids)
    qtbot.waitUntil(lambda: all(panel.result(i).audio_id for i in ids), timeout=WAIT_MS)

    shown = panel.current_result()
    assert shown is not None and shown.asset_id in ids
    roll = panel.roll
    assert roll.score() is shown.score and len(shown.score.notes) > 0
    assert roll.file() == project.asset_path(shown.record)
    roll.grab()  # paint once
    assert roll.painted_notes > 0
    assert "2 bars" in panel.roll_info.text()

    # selecting the other result shows it
    other = next(i for i in ids if i != shown.asset_id)
    panel.select_result(other)
    assert panel.current_result().asset_id == other and roll.file().name.endswith(".mid")

    # --- play: the player runs on its own thread, the playhead moves while the GUI keeps
    # running (a GUI timer keeps ticking), pause holds the position, stop goes back to 0
    qtbot.waitUntil(panel.audio_ready, timeout=WAIT_MS)
    assert "GENSTUDIO_AUDIO_OUTPUT=null" in panel.audio_note.text()  # said once, in the panel
    gui_ticks = []
    ticker = QTimer()
    ticker.timeout.connect(lambda: gui_ticks.append(1))
    ticker.start(10)
    panel.play_button.click()
    assert panel.is_playing()
    qtbot.waitUntil(lambda: panel.position() > 0.4, timeout=10_000)
    qtbot.waitUntil(lambda: (roll.playhead() or 0) > 100, timeout=5_000)  # ticks
    ticker.stop()
    assert len(gui_ticks) >= 10  # the event loop was never blocked
    assert "0:00" in panel.time_label.text()

    panel.play_button.click()  # pause
    assert not panel.is_playing()
    held = panel.position()
    head = roll.playhead()
    qtbot.wait(250)
    assert panel.position() == held and roll.playhead() == head and held > 0.4

    panel.set_loop(True)
    assert panel.player().loop and panel.loop_button.isChecked()
    panel.set_loop(False)

    panel.play()
    qtbot.waitUntil(lambda: panel.position() > held + 0.1, timeout=10_000)
    panel.stop_button.click()
    assert not panel.is_playing() and panel.position() == 0.0 and roll.playhead() == 0.0

    # --- drop a .mid on the piano roll: Continue with that clip
    ev = drop_on(roll, [clip])
    assert ev.isAccepted()
    assert panel.mode() == "continue" and panel.clips() == [clip]
    assert "tune.mid" in panel.clip_label.text() and "2 bars" in panel.clip_label.text()
    assert panel.roll.file() == clip  # the clip is previewed in the roll
    assert not panel.tempo.isEnabled()  # tempo and metre come from the clip

    small(panel, bars=2, count=1, seed=5)
    panel.audio.setChecked(False)  # playback then renders it from the MIDI on a worker
    (cont,) = run_job(qtbot, panel, 1)
    r = panel.current_result()
    assert r is not None and r.asset_id == cont
    rec = project.gallery.get(cont)
    assert rec.params["mode"] == "continue" and rec.params["inputs"] == [str(clip)]
    score = r.score
    clip_score = midi.read_midi(clip)
    assert score.n_bars > clip_score.n_bars and score.n_bars == 2 + 2
    head_notes = sorted((n.start, n.pitch) for n in score.notes if n.start < 2 * score.bar_ticks)
    assert head_notes == [(i * 480, p) for i, p in enumerate(CLIP_PITCHES)]
    assert r.clip_bars == 2
    assert panel.result_ids()[0] == cont  # newest first
    qtbot.waitUntil(panel.audio_ready, timeout=WAIT_MS)  # rendered off the GUI thread
    assert panel.player().duration >= score.duration_s


# --- clips ---------------------------------------------------------------------------------------


def test_corrupt_midi_is_an_error_not_a_crash(qtbot, window, panel, clip, tmp_path):
    got = messages(panel.ctx)
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00\x90")
    drop_on(panel.roll, [bad])
    assert got and got[-1][1] == "error" and "broken.mid" in got[-1][0]
    assert panel.clips() == [] and panel.mode() == "generate"

    not_midi = tmp_path / "notes.mid"
    not_midi.write_text("this is not a MIDI file")
    assert panel.accepts_drop(not_midi) and not panel.accepts_drop(tmp_path / "x.png")
    window.handle_dropped_paths([not_midi])  # a drop on the window goes to the panel too
    assert got[-1][1] == "error" and "notes.mid" in got[-1][0]
    assert panel.clips() == []

    # a good clip dropped on the window; a bad one later keeps it
    window.handle_dropped_paths([clip])
    assert panel.clips() == [clip] and panel.mode() == "continue"
    drop_on(panel.roll, [bad])
    assert panel.clips() == [clip]

    # interpolate takes two clips, A then B
    panel.set_mode("interpolate")
    clip_b = tmp_path / "b.mid"
    clip_b.write_bytes(clip.read_bytes())
    panel.add_clip(clip_b)
    assert panel.clips() == [clip, clip_b]
    assert "A: tune.mid" in panel.clip_label.text() and "B: b.mid" in panel.clip_label.text()

    # a clip mode without its clip is refused with a message, no job
    panel.clear_clips()
    panel.generate()
    assert got[-1][1] == "error" and "clip" in got[-1][0].lower()
    assert panel._batch_job is None


def test_piano_roll_zoom_scroll_and_seek_on_a_clip(qtbot, window, panel, clip):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    assert panel.add_clip(clip)  # previewed in the roll and playable before generating
    roll = panel.roll
    assert roll.score() is not None and roll.zoom() == 1.0 and not roll.scrollbar.isVisible()
    lo, hi = roll.pitch_range()
    assert lo <= min(CLIP_PITCHES) and hi >= max(CLIP_PITCHES) and hi - lo + 1 >= 25
    first = roll.note_rect(0)
    roll.zoom_in()
    assert roll.zoom() == pytest.approx(1.5) and roll.scrollbar.isVisible()
    assert roll.note_rect(0).width() == pytest.approx((first.width() + 1) * 1.5 - 1, abs=0.5)
    # Ctrl+wheel zooms, the plain wheel scrolls
    pos = QPointF(roll.width() / 2, roll.height() / 2)
    for mods, delta in (
        (Qt.KeyboardModifier.ControlModifier, 120),
        (Qt.KeyboardModifier.NoModifier, -240),
    ):
        ev = QWheelEvent(
            pos, roll.mapToGlobal(pos), QPoint(), QPoint(0, delta),
            Qt.MouseButton.NoButton, mods, Qt.ScrollPhase.NoScrollPhase, False,
        )  # fmt: skip
        QApplication.sendEvent(roll, ev)
    assert roll.zoom() == pytest.approx(2.25) and roll.scrollbar.value() > 0
    roll.zoom_fit()
    assert roll.zoom() == 1.0 and not roll.scrollbar.isVisible()
    # clicking the ruler seeks (once the clip's audio is rendered)
    qtbot.waitUntil(panel.audio_ready, timeout=WAIT_MS)
    x = roll.width() - (roll.width() - 46) / 2  # the middle of the time axis
    qtbot.mouseClick(roll, Qt.MouseButton.LeftButton, pos=QPointF(x, 8).toPoint())
    half = midi.read_midi(clip).duration_s / 2
    assert panel.position() == pytest.approx(half, abs=0.1)
    assert roll.playhead() == pytest.approx(2 * 4 * 480 / 2, abs=40)  # ticks
    for theme_name in ("dark", "light"):  # paints in both themes
        window.set_theme(theme_name, save=False)
        roll.grab()
        assert roll.painted_notes == len(CLIP_PITCHES)


# --- reuse and drag out ------------------------------------------------------------------------


def test_reuse_settings_and_drag_out(qtbot, window, panel):
    panel.style.setCurrentIndex(panel.style.findData("melody_accomp"))
    panel.tonic.setCurrentIndex(panel.tonic.findData("A"))
    panel.scale.setCurrentIndex(panel.scale.findData("minor"))
    panel.time_signature.setCurrentIndex(panel.time_signature.findData("3/4"))
    panel.temperature.setValue(0.8)
    panel.top_p.setValue(0.9)
    panel.top_k.setValue(12)
    panel.key_lock.setChecked(False)
    panel.audio.setChecked(False)
    small(panel, bars=1, count=1, seed=4321)
    (asset_id,) = run_job(qtbot, panel, 1)
    rec = panel.ctx.project.gallery.get(asset_id)

    # the drag-out carries the .mid asset file as a URL
    md = panel.drag_mime_data()
    assert md is not None and md.hasUrls()
    (url,) = md.urls()
    assert url.isLocalFile() and Path(url.toLocalFile()) == panel.ctx.project.asset_path(rec)
    assert url.toLocalFile().endswith(".mid") and Path(url.toLocalFile()).is_file()

    # scramble, then "Reuse these settings" from the gallery asset
    panel.set_mode("drums")
    panel.style.setCurrentIndex(0)
    panel.tonic.setCurrentIndex(0)
    panel.time_signature.setCurrentIndex(0)
    panel.bars.setValue(9)
    panel.temperature.setValue(1.5)
    panel.top_k.setValue(0)
    panel.seed.setText("1")
    panel.key_lock.setChecked(True)
    window.set_mode("gallery")
    window.reuse_settings(rec)
    assert window.current_panel() is panel
    s = panel.current_settings()
    assert (s.mode, s.style, s.key, s.time_signature) == (
        "generate",
        "melody_accomp",
        "A minor",
        "3/4",
    )
    assert (s.bars, s.seed, s.count, s.tempo) == (1, 4321, 1, 150.0)
    assert s.temperature == pytest.approx(0.8) and s.top_p == pytest.approx(0.9)
    assert s.top_k == 12 and s.key_lock is False and s.audio is False
    assert panel.mode_buttons.checkedButton().property("mode") == "generate"


# --- no model pack ------------------------------------------------------------------------------


def test_missing_model_pack_is_explained_and_drums_still_work(
    qtbot, window, monkeypatch, tmp_path, clip
):
    from genstudio.generators.music import sampler

    monkeypatch.setattr(sampler, "default_pack_dir", lambda: tmp_path / "no-pack")
    monkeypatch.setattr(sampler, "_models", {})
    monkeypatch.setenv("GENSTUDIO_AUDIO_OUTPUT", "null")
    panel = window.set_mode("music")
    got = messages(panel.ctx)
    assert panel.banner.isVisible() and "model pack" in panel.banner_text.text()
    assert "Drums works without it" in panel.banner_text.text()
    assert not panel.generate_button.isEnabled()
    window.act_generate.trigger()  # Ctrl+Enter explains instead of queueing a failing job
    assert got[-1][1] == "error" and "model pack" in got[-1][0] and panel._batch_job is None

    panel.add_clip(clip)
    panel.set_mode("drums")
    assert panel.generate_button.isEnabled()
    panel.audio.setChecked(False)
    panel.seed.setText("3")
    panel.count.setValue(1)
    (asset_id,) = run_job(qtbot, panel, 1)
    score = panel.current_result().score
    assert any(t.is_drum for t in score.tracks) and score.n_bars == 2
    assert panel.ctx.project.gallery.get(asset_id).params["mode"] == "drums"


# --- screenshots (opt-in: GENSTUDIO_SCREENSHOTS=1 writes docs/screenshots/music-*.png) ----------


@pytest.mark.skipif(not os.environ.get("GENSTUDIO_SCREENSHOTS"), reason="screenshots are opt-in")
def test_screenshots(qtbot, window, panel, monkeypatch):
    from genstudio.core.paths import shipped_models_dir
    from genstudio.generators.music import sampler

    shipped = shipped_models_dir() / sampler.PACK_ID
    if (shipped / "model.json").exists():  # the real model for the committed pictures
        monkeypatch.setattr(sampler, "default_pack_dir", lambda: shipped)
        monkeypatch.setattr(sampler, "_models", {})
    docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    window.resize(1440, 900)
    panel.style.setCurrentIndex(panel.style.findData("melody_accomp"))
    panel.tonic.setCurrentIndex(panel.tonic.findData("D"))
    panel.scale.setCurrentIndex(panel.scale.findData("major"))
    panel.bars.setValue(8)
    panel.count.setValue(3)
    panel.seed.setText("1234")
    panel.tempo.setValue(110)
    run_job(qtbot, panel, 3)
    qtbot.waitUntil(panel.audio_ready, timeout=WAIT_MS)
    panel.play()
    qtbot.waitUntil(lambda: panel.position() > 2.5, timeout=10_000)
    panel.pause()
    for name in ("light", "dark"):
        window.set_theme(name, save=False)
        qtbot.wait(300)
        window.grab().save(str(docs / f"music-{name}.png"))


def test_top_p_follows_the_style_default(panel):
    from genstudio.generators.music.generator import STYLE_TOP_P

    for style in ("chorale", "folk", "melody_accomp"):
        panel.style.setCurrentIndex(panel.style.findData(style))
        assert panel.top_p.value() == pytest.approx(STYLE_TOP_P[style])
    panel.top_p.setValue(0.7)  # the user's value stands until the style changes again
    assert panel.top_p.value() == pytest.approx(0.7)


# --- fine-tuned styles (packs made in the Train mode) -------------------------------------------


def finetuned_copy(pack_dir: Path, models: Path, name: str = "Mine") -> str:
    """The random pack as a project's fine-tune with its own style (``style4``): model.json
    gets a new id and a ``styles`` entry; the model files and their hashes stay as they are."""
    import json
    import shutil

    slug = name.lower()
    out = models / f"music-{slug}"
    shutil.copytree(pack_dir, out)
    doc = json.loads((out / "model.json").read_text())
    doc.update(id=f"music-{slug}", title=f"My style: {name}")
    doc["styles"] = [
        {
            "token": "style4",
            "title": f"My style: {name}",
            "tracks": [{"name": "Fiddle", "program": 40}],
        }
    ]
    (out / "model.json").write_text(json.dumps(doc))
    return doc["id"]


def test_finetuned_styles_are_listed_generate_with_their_model_and_are_reused(
    qtbot, window, panel, pack_dir
):
    builtin = panel.style_choices()
    assert [(s, m) for s, m, _ in builtin] == [
        (s, "") for s in ("folk", "chorale", "melody_accomp")
    ]
    pack_id = finetuned_copy(pack_dir, window.ctx.project.models_dir)
    with qtbot.waitSignal(panel.styles_loaded, timeout=WAIT_MS):
        panel.activated()  # the list is read again each time the mode is shown
    choices = panel.style_choices()
    assert choices[:3] == builtin and choices[3:] == [("style4", pack_id, "My style: Mine")]
    assert panel.style_choice() == ("folk", "")  # the selection stays

    panel.style.setCurrentIndex(panel.style.findText("My style: Mine"))
    assert panel.style_choice() == ("style4", pack_id)
    s = panel.current_settings()
    assert (s.style, s.model) == ("style4", pack_id)
    assert s.to_params()["model"] == pack_id
    panel.audio.setChecked(False)
    small(panel, bars=2, count=1, seed=11)
    (asset_id,) = run_job(qtbot, panel, 1)
    rec = panel.ctx.project.gallery.get(asset_id)
    assert (rec.params["model"], rec.params["style"]) == (pack_id, "style4")
    assert panel.current_result().score.tracks[0].name == "Fiddle"  # the pack's own layout
    assert rec.model_id == pack_id
    assert "my style: mine" in panel.ctx.jobs.get(panel._batch_job).spec.title.lower()

    # "Reuse these settings" picks the fine-tuned style again
    panel.style.setCurrentIndex(0)
    panel.top_p.setValue(0.5)
    window.reuse_settings(rec)
    assert panel.style_choice() == ("style4", pack_id)
    assert panel.top_p.value() == pytest.approx(rec.params["top_p"])


def test_reusing_a_piece_whose_model_is_gone_falls_back_with_a_message(
    qtbot, window, panel, pack_dir
):
    from genstudio.ui.modes.music import state

    got = messages(panel.ctx)

    class Record:
        params = {**state.MusicSettings(style="style4", model="music-gone").to_params()}
        seed = 5

    panel.style.setCurrentIndex(panel.style.findData("chorale"))
    with qtbot.waitSignal(panel.styles_loaded, timeout=WAIT_MS):
        panel.apply_settings(Record())
    assert panel.style_choice() == ("folk", "")  # the default built-in style instead
    assert got[-1][1] == "warning" and "music-gone" in got[-1][0]
    assert panel.current_settings().model == ""
