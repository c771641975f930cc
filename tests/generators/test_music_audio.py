"""Music audio: built-in synth, SoundFont rendering and fallback, WAV export, playback.

There is no sound card on the test machines, so the Player is tested on its ``NullOutput``
back-end (a thread that pulls audio blocks from the player's callback exactly as the sound
card's stream would, without producing sound). The real sounddevice back-end is exercised
once in a subprocess against ALSA's ``null`` PCM device where ALSA is available.
SoundFont tests need tinysoundfont and a system SoundFont (for example Debian's
timgm6mb-soundfont, installed for tests only) and are skipped when there is none.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators.music import audio_io, playback, soundfont, synth
from genstudio.generators.music.score import Note, Score, Track

SR = 22050  # half rate keeps the tests quick; one test uses the 44.1 kHz default


def _score(notes, tracks=None, tempo=120.0, bars=0) -> Score:
    return Score(tracks or [Track("piano", 0)], list(notes), tempo=tempo, bars=bars)


def _chorale(bars=2) -> Score:
    tracks = [Track(n, 52) for n in ("S", "A", "T", "B")]
    notes = []
    for bar in range(bars):
        for beat in range(4):
            t = (bar * 4 + beat) * 480
            for v, base in enumerate((72, 67, 60, 48)):
                notes.append(Note(t, base + (beat % 3) - 1, 480, 80, v))
    return _score(notes, tracks, tempo=100.0)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _peak_hz(x: np.ndarray, sr: int) -> float:
    mono = x.mean(axis=1) if x.ndim == 2 else x
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1.0 / sr)[spec.argmax()])


def _centroid_hz(x: np.ndarray, sr: int) -> float:
    """Power-weighted spectral centroid."""
    mono = x.mean(axis=1)
    spec = np.abs(np.fft.rfft(mono)) ** 2
    f = np.fft.rfftfreq(len(mono), 1.0 / sr)
    return float((spec * f).sum() / spec.sum())


# --------------------------------------------------------------------------- synth


def test_synth_shape_range_and_duration_is_length_plus_tail():
    score = _chorale(bars=2)
    score.tracks.append(Track("drums", 0, is_drum=True))
    score.notes += [Note(i * 480, 36 if i % 2 == 0 else 38, 240, 100, 4) for i in range(8)]
    audio = synth.render(score, 44100)
    expected = round(score.duration_s * 44100) + round(synth.TAIL_SECONDS * 44100)
    assert audio.shape == (expected, 2)
    assert audio.dtype == np.float32
    assert np.isfinite(audio).all()
    assert np.abs(audio).max() <= 1.0
    assert _rms(audio) > 0.01
    assert not np.array_equal(audio[:, 0], audio[:, 1])  # tracks are panned
    np.testing.assert_array_equal(audio, synth.render(score, 44100))  # deterministic


def test_synth_is_silent_where_the_score_is_silent():
    # one beat in bar 1, one beat in bar 4, nothing in between; 120 bpm: a beat is 0.5 s
    score = _score([Note(480, 60, 480, 100), Note(3 * 1920, 64, 480, 100)])
    audio = synth.render(score, SR)
    first_on, first_off = int(0.5 * SR), int(1.0 * SR)
    second_on = int(6.0 * SR)
    assert np.abs(audio[: first_on - 1]).max() == 0.0  # before the first note
    assert _rms(audio[first_on:first_off]) > 0.01
    gap = audio[first_off + int(synth.MAX_RELEASE_S * SR) + 1 : second_on - 1]
    assert np.abs(gap).max() == 0.0  # the release ended; nothing until the next note
    assert _rms(audio[second_on : second_on + int(0.5 * SR)]) > 0.01
    assert np.abs(audio[-int(0.05 * SR) :]).max() < 1e-4  # the tail rings out to silence


def test_empty_score_renders_one_silent_bar_plus_tail():
    audio = synth.render(_score([]), SR)
    assert audio.shape == (round((2.0 + synth.TAIL_SECONDS) * SR), 2)
    assert not audio.any()


@pytest.mark.parametrize(
    ("track", "pitch"),
    [(Track("p", 0), 60), (Track("s", 48), 60), (Track("f", 73), 72), (Track("d", 0, True), 38)],
)
def test_higher_velocity_is_louder(track, pitch):
    soft = synth.render(_score([Note(0, pitch, 960, 40)], [track]), SR)
    loud = synth.render(_score([Note(0, pitch, 960, 110)], [track]), SR)
    assert _rms(loud) > 2.0 * _rms(soft) > 0


def test_drums_sound_and_differ_by_note():
    drums = [Track("drums", 0, is_drum=True)]
    sounds = {}
    for name, note in {"kick": 36, "snare": 38, "hat": 42, "tom": 45, "crash": 49}.items():
        audio = synth.render(_score([Note(0, note, 240, 110)], drums), SR)
        assert _rms(audio[: SR // 4]) > 0.005, name
        sounds[name] = audio[: SR // 4]
    assert _centroid_hz(sounds["kick"], SR) < 300 < 3000 < _centroid_hz(sounds["hat"], SR)
    assert _centroid_hz(sounds["tom"], SR) < _centroid_hz(sounds["snare"], SR)


@pytest.mark.parametrize("program", [0, 19, 24, 33, 40, 52, 56, 66, 73, 81])
def test_synth_plays_the_right_pitch(program):
    audio = synth.render(_score([Note(0, 69, 960, 100)], [Track("x", program)]), SR)
    assert abs(_peak_hz(audio[:SR], SR) - 440.0) < 4.0


def test_instrument_families():
    names = {p: synth.instrument_for_program(p).name for p in range(128)}
    assert names[0] == "piano" and names[19] == "organ" and names[33] == "bass"
    assert names[40] == "strings" and names[52] == "choir" and names[73] == "flute"
    assert names[25] == "pluck" and names[11] == "mallet"


def test_any_polyphony_stays_within_range():
    tracks = [Track(f"t{i}", p) for i, p in enumerate((0, 19, 48, 61, 81, 33))]
    notes = [Note(0, 36 + 3 * k, 1920, 127, k % 6) for k in range(24)]
    audio = synth.render(_score(notes, tracks), SR)
    assert np.abs(audio).max() <= synth.LIMIT_CEILING + 1e-6
    assert _rms(audio[:SR]) > 0.05


def test_limiter_caps_peaks_and_leaves_quiet_audio_alone():
    t = np.arange(SR) / SR
    quiet = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[:, None].repeat(2, 1)
    np.testing.assert_array_equal(synth.limit(quiet), quiet)
    hot = quiet * 4.0
    hot[SR // 2] = 9.0
    limited = synth.limit(hot)
    assert np.abs(limited).max() <= synth.LIMIT_CEILING
    assert np.abs(limited).max() > 0.9  # limited, not just scaled down to nothing


def test_notes_cut_by_the_end_do_not_click():
    score = _score([Note(0, 60, 4 * 1920, 120)], [Track("organ", 19)], bars=1)
    audio = synth.render(score, SR)
    assert audio.shape[0] == round((2.0 + synth.TAIL_SECONDS) * SR)
    end = audio[-int(0.02 * SR) :]
    assert np.abs(end[-1]).max() == 0.0  # faded to silence...
    assert np.abs(np.diff(end, axis=0)).max() < 0.05  # ...smoothly, without a jump


@pytest.mark.parametrize("program", [19, 48, 73])  # organ, strings, flute: sustained tones
def test_sustained_notes_release_smoothly(program):
    score = _score([Note(0, 57, 960, 100)], [Track("x", program)])  # one second
    audio = synth.render(score, SR).mean(axis=1)
    off = SR  # note-off at 1.0 s
    release = int(synth.instrument_for_program(program).release_s * SR)
    w = int(0.01 * SR)
    at_off = _rms(audio[off - w : off])
    assert at_off > 0.01
    assert _rms(audio[off : off + w]) > 0.3 * at_off  # no sudden cut at note-off...
    assert _rms(audio[off + release - w : off + release]) < 0.05 * at_off  # ...a fade
    assert not audio[off + release :].any()


def test_bad_sample_rate_is_refused():
    with pytest.raises(InvalidParamsError):
        synth.render(_score([]), 1000)


# --------------------------------------------------------------------------- WAV


def test_wav_round_trip_with_stdlib_and_an_independent_reader(tmp_path):
    sf = pytest.importorskip("soundfile")  # libsndfile: a reader independent of `wave`
    audio = synth.render(_chorale(bars=1), SR)
    path = audio_io.write_wav(tmp_path / "out.wav", audio, SR)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, SR)
        assert w.getnframes() == len(audio)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    expected = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
    np.testing.assert_array_equal(pcm, expected)
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.frames) == (SR, 2, len(audio))
    assert info.subtype == "PCM_16"
    data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    assert rate == SR
    np.testing.assert_array_equal(data, expected)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]  # no temp file left


def test_wav_clips_and_silences_bad_samples_and_accepts_mono(tmp_path):
    audio = np.array([0.0, 0.5, 2.0, -3.0, np.nan, np.inf, -1.0], np.float32)
    audio_io.write_wav(tmp_path / "m.wav", audio, 44100)
    with wave.open(str(tmp_path / "m.wav"), "rb") as w:
        assert w.getnchannels() == 1 and w.getframerate() == 44100
        pcm = np.frombuffer(w.readframes(7), "<i2")
    assert pcm.tolist() == [0, 16384, 32767, -32767, 0, 32767, -32767]


def test_wav_errors_are_clear(tmp_path):
    with pytest.raises(GenStudioError, match="Could not write"):
        audio_io.write_wav(tmp_path / "missing" / "x.wav", np.zeros((10, 2)), 44100)
    with pytest.raises(InvalidParamsError):
        audio_io.write_wav(tmp_path / "x.wav", np.zeros((10, 2)), 100)
    with pytest.raises(InvalidParamsError):
        audio_io.write_wav(tmp_path / "x.wav", np.zeros((2, 3, 4)), 44100)
    with pytest.raises(audio_io.AudioFormatError, match="Cannot write audio"):
        audio_io.write_audio(tmp_path / "x.mp3", np.zeros((10, 2)), 44100)


@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_optional_formats(tmp_path, suffix):
    sf = pytest.importorskip("soundfile")
    t = np.arange(SR) / SR
    audio = (0.4 * np.sin(2 * np.pi * 440 * t))[:, None].repeat(2, 1).astype(np.float32)
    path = audio_io.write_audio(tmp_path / f"a{suffix}", audio, SR)
    data, rate = sf.read(str(path), always_2d=True)
    assert rate == SR and data.shape[1] == 2 and abs(len(data) - SR) < 64
    assert abs(_peak_hz(data[: len(audio)], SR) - 440) < 3


def test_optional_format_without_soundfile_says_how(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile -> ImportError
    with pytest.raises(audio_io.AudioFormatError) as e:
        audio_io.write_audio(tmp_path / "a.flac", np.zeros((10, 2)), 44100)
    assert "soundfile" in e.value.hint and not (tmp_path / "a.flac").exists()
    assert audio_io.can_write(".wav") and not audio_io.can_write(".flac")


# --------------------------------------------------------------------------- SoundFont


@pytest.fixture
def system_sf2() -> Path:
    pytest.importorskip("tinysoundfont")
    path = soundfont.find_soundfont()
    if path is None or path.suffix.lower() != ".sf2" or path.stat().st_size > 200_000_000:
        pytest.skip("no system .sf2 SoundFont (e.g. apt-get install timgm6mb-soundfont)")
    return path


def test_soundfont_render_plays_a440(system_sf2):
    score = _score([Note(0, 69, 960, 100)])  # A4, one second at 120 bpm
    audio = soundfont.render_soundfont(score, system_sf2, 44100)
    assert audio.shape == (synth.output_frames(score, 44100), 2)
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    assert np.abs(audio).max() <= 1.0 and _rms(audio[:44100]) > 1e-3
    assert abs(_peak_hz(audio[:44100], 44100) - 440.0) < 3.0
    assert np.abs(audio[-100:]).max() < 1e-3


def test_soundfont_renders_drums_and_several_tracks(system_sf2):
    score = _chorale(bars=1)
    score.tracks.append(Track("drums", 0, is_drum=True))
    score.notes += [Note(i * 480, 36, 240, 110, 4) for i in range(4)]
    audio = soundfont.render_soundfont(score, system_sf2, SR)
    assert audio.shape == (synth.output_frames(score, SR), 2) and _rms(audio) > 1e-3
    drums = soundfont.render_soundfont(
        _score([Note(0, 36, 240, 110)], [Track("d", 0, True)]), system_sf2, SR
    )
    assert _rms(drums[: SR // 4]) > 1e-3


def test_render_audio_uses_a_found_soundfont(system_sf2):
    result = soundfont.render_audio(_score([Note(0, 69, 480, 90)]), sample_rate=SR)
    assert result.engine == "soundfont" and result.message is None
    assert result.soundfont is not None and result.audio.shape[1] == 2


def _fake_soundfont(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x00\x10\x00\x00sfbk" + bytes(64))
    return path


def test_find_soundfont_order(tmp_path, monkeypatch):
    monkeypatch.setattr(soundfont, "system_soundfont_dirs", lambda: [tmp_path / "system"])
    assert soundfont.find_soundfont() is None
    system = _fake_soundfont(tmp_path / "system" / "b.sf2")
    assert soundfont.find_soundfont() == system
    user_dir = soundfont.user_soundfont_dir()  # under the test's fresh GENSTUDIO_DATA_DIR
    user_dir.mkdir(parents=True)
    (user_dir / "aaa-broken.sf2").write_bytes(b"not a soundfont")  # skipped
    user = _fake_soundfont(user_dir / "mine.sf3")
    assert soundfont.find_soundfont() == user
    chosen = _fake_soundfont(tmp_path / "chosen" / "x.sf2")
    assert soundfont.find_soundfont([tmp_path / "chosen"]) == chosen
    assert soundfont.find_soundfont([chosen.with_name("gone.sf2"), chosen]) == chosen


def test_missing_or_corrupt_soundfont_raise_a_clear_error(tmp_path):
    score = _score([Note(0, 60, 480)])
    with pytest.raises(soundfont.SoundFontError, match="does not exist") as e:
        soundfont.render_soundfont(score, tmp_path / "nope.sf2")
    assert e.value.hint
    (tmp_path / "junk.sf2").write_bytes(b"junk" * 100)
    with pytest.raises(soundfont.SoundFontError, match="damaged or not a SoundFont") as e:
        soundfont.render_soundfont(score, tmp_path / "junk.sf2")
    assert e.value.hint and e.value.kind == "soundfont"
    with pytest.raises(soundfont.SoundFontError, match="not a SoundFont file"):
        soundfont.render_soundfont(score, _fake_soundfont(tmp_path / "x.txt"))


def test_truncated_soundfont_with_a_good_header_is_refused(tmp_path):
    pytest.importorskip("tinysoundfont")
    bad = tmp_path / "cut.sf2"
    bad.write_bytes(b"RIFF\x00\x00\x10\x00sfbkLIST" + np.random.default_rng(0).bytes(5000))
    with pytest.raises(soundfont.SoundFontError, match="damaged") as e:
        soundfont.render_soundfont(_score([Note(0, 60, 480)]), bad)
    assert "another" in e.value.hint


def test_render_audio_falls_back_with_a_reason(tmp_path, monkeypatch):
    score = _score([Note(0, 60, 480, 90)])
    expected = synth.render(score, SR)

    for choice in (None, "none"):
        plain = soundfont.render_audio(score, soundfont=choice, sample_rate=SR)
        assert plain.engine == "synth" and plain.message is None
        np.testing.assert_array_equal(plain.audio, expected)

    monkeypatch.setattr(soundfont, "system_soundfont_dirs", lambda: [])
    auto = soundfont.render_audio(score, sample_rate=SR)
    assert auto.engine == "synth" and auto.message == soundfont.NO_SOUNDFONT_MESSAGE
    assert "soundfonts" in auto.hint
    np.testing.assert_array_equal(auto.audio, expected)

    missing = soundfont.render_audio(score, soundfont=tmp_path / "gone.sf2", sample_rate=SR)
    assert missing.engine == "synth" and "built-in synth" in missing.message
    assert "gone.sf2" in missing.message and missing.hint

    (tmp_path / "bad.sf2").write_bytes(b"garbage")
    bad = soundfont.render_audio(score, soundfont=tmp_path / "bad.sf2", sample_rate=SR)
    assert bad.engine == "synth" and "damaged" in bad.message
    np.testing.assert_array_equal(bad.audio, expected)

    loud = soundfont.render_audio(score, soundfont=None, sample_rate=SR, normalize=True)
    assert abs(np.abs(loud.audio).max() - soundfont.NORMALIZE_PEAK) < 1e-3


def test_without_tinysoundfont_the_synth_is_used(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)
    sf2 = _fake_soundfont(tmp_path / "gm.sf2")
    with pytest.raises(soundfont.SoundFontError) as e:
        soundfont.render_soundfont(_score([Note(0, 60, 480)]), sf2)
    assert "tinysoundfont" in e.value.hint
    result = soundfont.render_audio(_score([Note(0, 60, 480)]), soundfont=sf2, sample_rate=SR)
    assert result.engine == "synth" and "tinysoundfont" in result.message


# --------------------------------------------------------------------------- playback


def _wait(cond, timeout=5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def test_player_controls_on_the_null_output_never_block():
    audio = np.zeros((10 * SR, 2), np.float32)  # ten seconds
    player = playback.Player(playback.NullOutput(speed=1.0), block_size=256)
    player.load(audio, SR)
    assert player.state == "stopped" and player.duration == 10.0 and player.has_device is False
    try:
        assert _timed(player.play) < 0.5  # returns long before the ten seconds are over
        assert player.state == "playing"
        assert _wait(lambda: player.position > 0.05)
        assert _timed(player.pause) < 0.5 and player.state == "paused"
        held = player.position
        time.sleep(0.1)
        assert player.position == held  # paused: the position holds
        assert _timed(player.seek, 7.5) < 0.5 and player.position == 7.5
        assert _timed(player.play) < 0.5
        assert _wait(lambda: player.position > 7.55)
        player.seek(2.0)  # seek while playing
        assert 2.0 <= player.position < 3.0
        assert _timed(player.stop) < 0.5
        assert player.state == "stopped" and player.position == 0.0
        time.sleep(0.05)
        assert player.position == 0.0  # nothing keeps running after stop
    finally:
        player.close()


def test_player_finishes_and_calls_on_finished():
    finished = threading.Event()
    calls = []
    player = playback.Player(playback.NullOutput(speed=math.inf), block_size=512)
    player.on_finished = lambda: (calls.append(threading.current_thread().name), finished.set())
    player.load(np.ones((SR // 2, 2), np.float32) * 0.1, SR)
    player.seek(0.25)
    player.play()
    assert finished.wait(5.0)
    assert player.state == "stopped" and player.position == 0.0
    assert calls == ["genstudio-null-audio"]  # on the back-end thread, exactly once
    finished.clear()
    player.play()  # from the start again
    assert finished.wait(5.0) and len(calls) == 2
    # stop() is not a natural end: no callback
    finished.clear()
    slow = playback.Player(playback.NullOutput(speed=1.0), on_finished=finished.set)
    slow.load(np.zeros((5 * SR, 2), np.float32), SR)
    slow.play()
    slow.stop()
    assert not finished.wait(0.2)
    slow.close()


def test_player_loop_wraps_on_the_null_output():
    finished = threading.Event()
    backend = playback.NullOutput(speed=math.inf)
    player = playback.Player(backend, block_size=256, on_finished=finished.set)
    n = SR // 10
    player.load(np.zeros((n, 2), np.float32), SR)
    player.loop = True
    player.play()
    try:
        assert _wait(lambda: backend.blocks * 256 > 5 * n)  # five times round
        assert player.state == "playing" and not finished.is_set()
        assert 0.0 <= player.position <= n / SR
        player.loop = False
        assert finished.wait(5.0) and player.state == "stopped"
    finally:
        player.close()


class _ManualOutput(playback.OutputBackend):
    """Pulls blocks only when the test says so: exact, timing-free checks of the samples."""

    name = "manual"

    def start(self, fill, on_done, *, sample_rate, channels, block_size):
        self.fill, self.on_done, self.shape = fill, on_done, (block_size, channels)

    def stop(self):
        pass

    def pull(self, blocks: int) -> np.ndarray:
        out = []
        for _ in range(blocks):
            block = np.full(self.shape, np.nan, np.float32)
            more = self.fill(block)
            out.append(block)
            if not more:
                self.on_done()
                break
        return np.concatenate(out)


def test_player_delivers_the_exact_samples_with_loop_range_and_seek():
    ramp = np.arange(1000, dtype=np.float32)[:, None].repeat(2, 1) / 1000
    backend = _ManualOutput()
    done = []
    player = playback.Player(backend, block_size=100, on_finished=lambda: done.append(1))
    player.load(ramp, 8000)
    player.set_loop(True, start=200 / 8000, end=500 / 8000)
    player.seek(400 / 8000)
    player.play()
    got = backend.pull(4)
    expected = np.concatenate([ramp[400:500], ramp[200:500]])  # wraps at 500 back to 200
    np.testing.assert_array_equal(got, expected)
    player.loop = False
    player.seek(950 / 8000)
    tail = backend.pull(3)
    np.testing.assert_array_equal(tail[:50], ramp[950:])
    assert not tail[50:].any() and len(tail) == 100  # zero-padded last block, then done
    assert done == [1] and player.state == "stopped"


def test_no_device_degrades_to_silent_playback(monkeypatch):
    def no_portaudio():
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(playback, "_import_sounddevice", no_portaudio)
    player = playback.Player()
    assert player.probe() is False and player.has_device is False
    assert player.message == playback.NO_PORTAUDIO_MESSAGE
    assert isinstance(player.backend, playback.NullOutput)

    class NoDevice:
        @staticmethod
        def query_devices(kind=None):
            raise RuntimeError("Error querying device -1")

    monkeypatch.setattr(playback, "_import_sounddevice", lambda: NoDevice)
    assert playback.probe_sounddevice() == (False, playback.NO_DEVICE_MESSAGE)
    monkeypatch.setenv("GENSTUDIO_AUDIO_OUTPUT", "null")
    assert playback.probe_sounddevice() == (False, playback.FORCED_NULL_MESSAGE)


def test_a_failing_device_falls_back_instead_of_raising():
    class Broken(playback.OutputBackend):
        is_device = True

        def start(self, *a, **k):
            raise RuntimeError("Device unavailable")

        def stop(self):
            pass

    player = playback.Player(Broken())
    player.load(np.zeros((SR, 2), np.float32), SR)
    player.play()
    try:
        assert player.state == "playing" and "Device unavailable" in player.message
        assert isinstance(player.backend, playback.NullOutput) and player.has_device is False
        assert _wait(lambda: player.position > 0)
    finally:
        player.close()


def test_player_refuses_bad_audio_and_ignores_controls_when_empty():
    player = playback.Player(playback.NullOutput())
    player.play()
    player.pause()
    player.seek(3)
    player.stop()
    assert player.state == "empty" and player.position == 0.0
    with pytest.raises(InvalidParamsError):
        player.load(np.zeros((2, 3, 4)), SR)
    with pytest.raises(InvalidParamsError):
        player.load(np.zeros(10), 5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ALSA null device is Linux-only")
def test_sounddevice_backend_on_alsa_null_device(tmp_path):
    """The real callback-stream back-end, in a subprocess whose ALSA has only a null device."""
    conf = tmp_path / "asound.conf"
    conf.write_text("pcm.!default { type null }\n")
    code = textwrap.dedent(
        """
        import threading, numpy as np
        from genstudio.generators.music import playback
        ok, message = playback.probe_sounddevice()
        if not ok:
            print("SKIP", message); raise SystemExit(0)
        done = threading.Event()
        player = playback.Player(on_finished=done.set)
        player.load(np.zeros((4410, 2), np.float32), 44100)
        player.play()
        assert player.backend.name == "sounddevice", player.backend
        assert done.wait(10), "on_finished did not fire"
        assert player.state == "stopped"
        player.close()
        print("OK")
        """
    )
    env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
    env.pop("GENSTUDIO_AUDIO_OUTPUT", None)
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=60
    )
    if proc.stdout.startswith("SKIP"):
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("OK")
