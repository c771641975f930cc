"""Music generator robustness (issue 15, "MIDI from other tools"): Variations on chordal and
multi-track clips, truncated MIDI files, Drums on an empty clip. The MIDI inputs are made with
mido (other tools' files) or by running the generator (GenStudio's own outputs)."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest

mido = pytest.importorskip("mido")

from genstudio.core.errors import GenStudioError, MidiFileError  # noqa: E402
from genstudio.generators.base import RunContext  # noqa: E402
from genstudio.generators.music import drums, midi, sampler  # noqa: E402
from genstudio.generators.music import tokens as tk  # noqa: E402
from genstudio.generators.music.generator import (  # noqa: E402
    MusicGenerator,
    MusicParams,
    fit_to_style,
)
from genstudio.generators.music.score import Score  # noqa: E402

TPB = 480
needs_model = pytest.mark.skipif(
    not (sampler.default_pack_dir() / "model.json").is_file(),
    reason="the shipped music model pack is not there",
)


def run(**kw):
    outs = []
    gen = MusicGenerator()
    gen.run(
        MusicParams.from_dict({"audio": False, **kw}),
        RunContext(emit=lambda o: outs.append(o) or ""),
    )
    assert outs and outs[0].ext == "mid"
    return outs[0]


def _save(mf) -> bytes:
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


def _track(events) -> object:
    """(tick, kind, channel, pitch, velocity) -> a mido track with delta times."""
    t = mido.MidiTrack()
    now = 0
    for tick, kind, ch, pitch, vel in sorted(events, key=lambda e: (e[0], e[1] == "note_on")):
        t.append(mido.Message(kind, channel=ch, note=pitch, velocity=vel, time=tick - now))
        now = tick
    return t


def piano_file(bars: int = 4) -> bytes:
    """Another tool's piano piece: a conductor track, a right hand in triads and a left hand in
    octaves (type 1, two notes or more at every onset, chords on both tracks)."""
    mf = mido.MidiFile(type=1, ticks_per_beat=TPB)
    cond = mido.MidiTrack()
    cond.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(96)))
    cond.append(mido.MetaMessage("time_signature", numerator=4, denominator=4))
    cond.append(mido.MetaMessage("key_signature", key="C"))
    mf.tracks.append(cond)
    triads = [(72, 67, 64), (72, 69, 65), (71, 67, 62), (72, 67, 64)]
    basses = [48, 41, 43, 48]
    rh, lh = [], []
    for bar in range(bars):
        for beat in range(4):
            at = (bar * 4 + beat) * TPB
            for p in triads[bar % 4]:
                rh += [(at, "note_on", 0, p, 80), (at + TPB, "note_off", 0, p, 0)]
        at = bar * 4 * TPB
        for p in (basses[bar % 4], basses[bar % 4] - 12):
            lh += [(at, "note_on", 1, p, 70), (at + 2 * TPB, "note_off", 1, p, 0)]
            lh += [(at + 2 * TPB, "note_on", 1, p, 70), (at + 4 * TPB, "note_off", 1, p, 0)]
    for name, events in (("Right hand", rh), ("Left hand", lh)):
        t = _track(events)
        t.insert(0, mido.MetaMessage("track_name", name=name))
        mf.tracks.append(t)
    return _save(mf)


def rhythm(data: bytes) -> Counter:
    """How many notes start at each onset (the rhythm Variations must keep)."""
    return Counter(n.start for n in midi.read_midi(data).notes)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    out = {"piano": d / "piano.mid"}
    out["piano"].write_bytes(piano_file())
    if (sampler.default_pack_dir() / "model.json").is_file():
        for style in ("chorale", "melody_accomp"):
            out[style] = d / f"{style}.mid"
            out[style].write_bytes(run(style=style, bars=4, seed=3).data)
    return out


# ---------------------------------------------------------------------------------------------
# 1. Variations on chords


@needs_model
@pytest.mark.parametrize("clip", ["piano", "chorale", "melody_accomp"])
@pytest.mark.parametrize("style", ["folk", "chorale", "melody_accomp"])
def test_variations_of_chordal_and_multitrack_clips_keep_the_rhythm(clips, clip, style):
    """Was "Token EOS may not follow PAD.": a re-drawn chord note left no pitch in range under
    it for the chord's next note, the kept rhythm slipped out of step with the grammar, and the
    sampler ended the piece in the middle of the clip."""
    source = clips[clip].read_bytes()
    # the clip on the style's tracks: parts merged into one track share unisons
    fitted = tk.decode(tk.encode(fit_to_style(midi.read_midi(source), style), style))
    expected = Counter(n.start for n in fitted.notes)
    if clip == "piano" or clip == style:
        assert expected == rhythm(source)
    for seed in (0, 1, 2):
        out = run(mode="variations", style=style, inputs=[str(clips[clip])], seed=seed)
        assert out.extra["bars"] == midi.read_midi(source).n_bars
        assert "notes" not in out.extra  # nothing was left out: no sentences
        assert rhythm(out.data) == expected


@needs_model
def test_variations_at_full_strength_change_pitches_not_rhythm(clips):
    src = midi.read_midi(clips["piano"].read_bytes())
    out = run(mode="variations", style="folk", inputs=[str(clips["piano"])], strength=1.0, seed=5)
    got = midi.read_midi(out.data)
    assert rhythm(out.data) == rhythm(clips["piano"].read_bytes())
    # (durations can differ in the file: MIDI cuts a note where the same pitch starts again)
    assert sorted(n.pitch for n in got.notes) != sorted(n.pitch for n in src.notes)


@needs_model
def test_a_chord_too_big_for_its_part_loses_notes_with_a_plain_note(tmp_path):
    """14 notes at once on the soprano part: its range (60-81) holds 13 notes of C major."""
    events = []
    cluster = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79, 81, 83]
    for at in (0, TPB, 2 * TPB):
        for p in cluster:
            events += [(at, "note_on", 0, p, 80), (at + TPB, "note_off", 0, p, 0)]
    mf = mido.MidiFile(type=1, ticks_per_beat=TPB)
    mf.tracks.append(_track(events))
    path = tmp_path / "cluster.mid"
    path.write_bytes(_save(mf))
    out = run(mode="variations", style="chorale", key="C major", inputs=[str(path)], seed=1)
    said = out.extra["notes"]
    assert isinstance(said, list) and len(said) == 1
    assert "left out" in said[0] and "Token" not in said[0] and "PAD" not in said[0]
    assert out.extra["note_count"] == 3 * 13
    assert set(rhythm(out.data)) == {0, TPB, 2 * TPB}


# ---------------------------------------------------------------------------------------------
# 2. Truncated files


def _cut_in_half(tmp_path) -> Path:
    data = piano_file()
    path = tmp_path / "cut.mid"
    path.write_bytes(data[: data.rindex(b"MTrk") + 60])  # into the left hand's track
    with pytest.raises((EOFError, OSError)):  # mido refuses it
        mido.MidiFile(file=io.BytesIO(path.read_bytes()))
    return path


def test_a_cut_off_file_is_read_up_to_the_cut_with_a_note(tmp_path):
    path = _cut_in_half(tmp_path)
    whole = midi.read_midi(piano_file())
    with pytest.raises(MidiFileError, match="cut off"):
        midi.read_midi(path)  # the strict reader still refuses it
    part = midi.read_midi_partial(path)
    assert part.cut and "track 3" in part.cut
    assert 0 < len(part.score.notes) < len(whole.notes)

    out = run(mode="drums", inputs=[str(path)], seed=1)
    said = out.extra["notes"]
    assert isinstance(said, list) and len(said) == 1
    assert "cut.mid" in said[0] and "cut off" in said[0]
    assert out.extra["note_count"] > len(part.score.notes)  # its notes and the drums

    from genstudio import cli

    assert cli._output_notes([out.extra]) == said  # the CLI prints it as "note: ..."


@needs_model
def test_a_cut_off_file_can_be_varied_and_continued(tmp_path):
    path = _cut_in_half(tmp_path)
    for mode in ("variations", "continue"):
        out = run(mode=mode, inputs=[str(path)], bars=2, seed=2)
        assert any("cut off" in s for s in out.extra["notes"])


def test_a_file_cut_before_any_note_is_refused_naming_the_file(tmp_path):
    data = piano_file()
    first_note = data.index(bytes([0x90]))
    for cut in (20, first_note - 3, first_note + 1):
        path = tmp_path / f"early{cut}.mid"
        path.write_bytes(data[:cut])
        with pytest.raises(MidiFileError) as info:
            run(mode="drums", inputs=[str(path)])
        err = info.value
        assert path.name in err.message and "cut off" in err.message and err.hint


def test_a_track_without_its_end_marker_is_noted(tmp_path):
    data = piano_file()
    end = bytes([0x00, 0xFF, 0x2F, 0x00])
    assert data.endswith(end)
    start = data.rindex(b"MTrk")
    size = int.from_bytes(data[start + 4 : start + 8], "big")
    fixed = data[: start + 4] + (size - 4).to_bytes(4, "big") + data[start + 8 : -4]
    path = tmp_path / "noend.mid"
    path.write_bytes(fixed)
    assert len(midi.read_midi(path).notes) == len(midi.read_midi(data).notes)
    out = run(mode="drums", inputs=[str(path)], seed=1)
    assert any("noend.mid" in s and "end-of-track" in s for s in out.extra["notes"])


# ---------------------------------------------------------------------------------------------
# 3. Drums on an empty clip


def _empty_clip(tmp_path) -> Path:
    mf = mido.MidiFile(type=1, ticks_per_beat=TPB)
    t = mido.MidiTrack()
    t.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100)))
    mf.tracks.append(t)
    path = tmp_path / "empty.mid"
    path.write_bytes(_save(mf))
    return path


@pytest.mark.parametrize("bars", [8, 3])
def test_drums_on_an_empty_clip_play_the_bars_asked_for(tmp_path, bars):
    out = run(mode="drums", inputs=[str(_empty_clip(tmp_path))], bars=bars, seed=1)
    score = midi.read_midi(out.data)
    assert out.extra["bars"] == score.n_bars == bars
    starts = {n.start // score.bar_ticks for n in score.notes}
    assert starts == set(range(bars))  # a groove in every bar
    assert all(score.tracks[n.track].is_drum for n in score.notes)


def test_add_drums_without_a_clip_takes_the_bars():
    empty = Score(tracks=[], tempo=110.0)
    assert drums.add_drums(empty, seed=1).n_bars == 1
    assert drums.add_drums(empty, seed=1, bars=8).n_bars == 8


def test_drums_on_a_clip_with_notes_still_follow_the_clip(tmp_path):
    path = tmp_path / "piano.mid"
    path.write_bytes(piano_file(bars=2))
    out = run(mode="drums", inputs=[str(path)], bars=8, seed=1)
    assert out.extra["bars"] == 2 and "notes" not in out.extra


def test_drums_without_a_clip_is_a_clear_error():
    with pytest.raises(GenStudioError) as info:
        MusicParams.from_dict({"mode": "drums", "bars": 8})
    assert info.value.hint
