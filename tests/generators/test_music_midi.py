"""Our own MIDI writer and reader, checked against independent readers/writers (mido,
pretty_midi, music21) and against broken input."""

from __future__ import annotations

import io
import random

import pytest

mido = pytest.importorskip("mido")
pretty_midi = pytest.importorskip("pretty_midi")

from genstudio.core.errors import InvalidParamsError, MidiFileError  # noqa: E402
from genstudio.generators.music import midi  # noqa: E402
from genstudio.generators.music.midi import midi_bytes, read_midi, write_midi  # noqa: E402
from genstudio.generators.music.score import (  # noqa: E402
    Note,
    Score,
    Track,
    key_from_signature,
    parse_key,
)


def _score() -> Score:
    """Flute melody, piano chords, drums; 6/8 in Bb major at 96 bpm, 4 bars, last bar empty."""
    tracks = [Track("Flute", 73), Track("Piano", 0), Track("Kit", 0, is_drum=True)]
    notes = [
        Note(0, 72, 480, 90, 0),
        Note(720, 74, 240, 80, 0),
        Note(1440, 77, 1200, 100, 0),  # crosses the bar line
        Note(0, 58, 1440, 70, 1),
        Note(0, 62, 1440, 70, 1),
        Note(1440, 65, 1440, 60, 1),
        Note(0, 36, 120, 100, 2),
        Note(720, 38, 120, 110, 2),
        Note(1440, 42, 60, 50, 2),
    ]
    return Score(tracks, notes, tempo=96, time_signature=(6, 8), key=parse_key("Bb major"), bars=4)


def _mido_notes(track) -> list[tuple[int, int, int, int]]:
    """(start, pitch, duration, velocity) of a mido track, pairing ons with offs."""
    now, open_, out = 0, {}, []
    for msg in track:
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            open_[msg.note] = (now, msg.velocity)
        elif msg.type in ("note_on", "note_off"):
            start, vel = open_.pop(msg.note)
            out.append((start, msg.note, now - start, vel))
    return sorted(out)


def _expected(score: Score, track: int) -> list[tuple[int, int, int, int]]:
    return sorted(
        (n.start, n.pitch, n.duration, n.velocity) for n in score.notes if n.track == track
    )


def test_mido_reads_header_conductor_tracks_notes_and_no_running_status(tmp_path):
    score = _score()
    path = tmp_path / "piece.mid"
    write_midi(score, path)
    assert [p.name for p in tmp_path.iterdir()] == ["piece.mid"]  # no temp file left behind
    mf = mido.MidiFile(path)
    assert (mf.type, mf.ticks_per_beat, len(mf.tracks)) == (1, 480, 4)

    conductor = mf.tracks[0]
    metas = {m.type: m for m in conductor if m.time == 0 and m.is_meta}
    assert metas["set_tempo"].tempo == 625_000  # 96 bpm
    assert mido.tempo2bpm(metas["set_tempo"].tempo) == pytest.approx(96)
    ts = metas["time_signature"]
    assert (ts.numerator, ts.denominator) == (6, 8)
    assert metas["key_signature"].key == "Bb"
    assert sum(m.time for m in conductor) == score.length_ticks == 4 * 1440
    assert mf.length == pytest.approx(score.duration_s)  # the reader sees all 4 bars

    channels = []
    for i, track in enumerate(mf.tracks[1:]):
        assert track.name == score.tracks[i].name
        progs = [m for m in track if m.type == "program_change"]
        assert [p.program for p in progs] == [score.tracks[i].program]
        chans = {m.channel for m in track if not m.is_meta}
        assert len(chans) == 1
        channels.append(chans.pop())
        assert _mido_notes(track) == _expected(score, i)
    assert channels[2] == 9 and 9 not in channels[:2] and channels[0] != channels[1]

    # Running-status-free: every chunk is exactly as long as its events with status bytes.
    from mido.midifiles.midifiles import encode_variable_int

    data, pos = path.read_bytes(), 14
    for track in mf.tracks:
        size = int.from_bytes(data[pos + 4 : pos + 8], "big")
        full = sum(len(encode_variable_int(m.time)) + len(m.bytes()) for m in track)
        assert size == full
        pos += 8 + size
    assert pos == len(data)


def test_pretty_midi_reads_tempo_signatures_instruments_and_notes():
    score = _score()
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(score)))
    times, tempi = pm.get_tempo_changes()
    assert list(times) == [0.0] and tempi[0] == pytest.approx(96.0)
    assert [(t.numerator, t.denominator) for t in pm.time_signature_changes] == [(6, 8)]
    assert [k.key_number for k in pm.key_signature_changes] == [10]  # Bb major
    assert [(i.name, i.program, i.is_drum) for i in pm.instruments] == [
        ("Flute", 73, False),
        ("Piano", 0, False),
        ("Kit", 0, True),
    ]
    for index, inst in enumerate(pm.instruments):
        got = sorted((n.start, n.end, n.pitch, n.velocity) for n in inst.notes)
        want = sorted(
            (score.seconds(n.start), score.seconds(n.start + n.duration), n.pitch, n.velocity)
            for n in score.notes
            if n.track == index
        )
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g[0] == pytest.approx(w[0]) and g[1] == pytest.approx(w[1])
            assert g[2:] == w[2:]


def test_music21_reads_parts_meter_key_tempo_and_pitches(tmp_path):
    music21 = pytest.importorskip("music21")
    score = Score(
        [Track("Violin", 40), Track("Cello", 42), Track("Drums", 0, is_drum=True)],
        [
            Note(0, 76, 480, 90, 0),
            Note(480, 74, 480, 90, 0),
            Note(960, 72, 480, 90, 0),
            Note(1440, 71, 1440, 90, 0),  # fills the 2nd bar
            Note(0, 48, 1440, 70, 1),
            Note(1440, 43, 1440, 70, 1),
            Note(0, 35, 240, 100, 2),
        ],
        tempo=72,
        time_signature=(3, 4),
        key=parse_key("E minor"),
        bars=2,
    )
    path = tmp_path / "m21.mid"
    write_midi(score, path)
    parsed = music21.converter.parse(str(path))
    assert len(parsed.parts) == 3
    assert [p.partName for p in parsed.parts] == ["Violin", "Cello", "Drums"]
    instruments = [
        list(p.recurse().getElementsByClass(music21.instrument.Instrument))[0] for p in parsed.parts
    ]
    assert [i.midiProgram for i in instruments[:2]] == [40, 42]
    assert instruments[2].midiChannel == 9
    flat = parsed.flatten()
    assert flat.getElementsByClass(music21.meter.TimeSignature)[0].ratioString == "3/4"
    key = flat.getElementsByClass(music21.key.KeySignature)[0]
    assert key.sharps == 1 and getattr(key, "mode", "minor") == "minor"
    assert flat.getElementsByClass(music21.tempo.MetronomeMark)[0].number == pytest.approx(72)
    violin = [n.pitch.midi for n in parsed.parts[0].recurse().notes]
    assert violin == [76, 74, 72, 71]
    assert len(parsed.parts[0].getElementsByClass(music21.stream.Measure)) == 2
    assert parsed.parts[1].highestTime == pytest.approx(6.0)  # quarter notes


def test_round_trip_through_our_reader(tmp_path):
    score = _score()
    path = tmp_path / "rt.mid"
    write_midi(score, path)
    back = read_midi(path)
    assert back == read_midi(path.read_bytes())
    assert (back.tempo, back.time_signature, back.key, back.bars) == (96.0, (6, 8), score.key, 4)
    assert [(t.name, t.program, t.is_drum) for t in back.tracks] == [
        (t.name, t.program, t.is_drum) for t in score.tracks
    ]
    assert back.notes == score.sorted_notes()


def test_writer_edge_cases():
    # Same-pitch overlap is cut; two at one tick keep the longer; tpq is rescaled to 480;
    # a score without notes still has its conductor and its length.
    score = Score(
        [Track("A", 5), Track("B", 6)],
        [Note(0, 60, 200, 80, 0), Note(100, 60, 200, 90, 0), Note(0, 64, 50, 80, 0)]
        + [Note(0, 64, 120, 70, 0), Note(0, 200, 10, 300, 1)],
        tpq=240,
        bars=1,
    )
    back = read_midi(midi_bytes(score))
    assert [(n.start, n.pitch, n.duration, n.velocity) for n in back.notes] == [
        (0, 60, 200, 80),
        (0, 64, 240, 70),
        (0, 127, 20, 127),
        (200, 60, 400, 90),
    ]
    empty = Score([Track("Silence")], [], tempo=60, time_signature=(4, 4), bars=3)
    mf = mido.MidiFile(file=io.BytesIO(midi_bytes(empty)))
    assert mf.length == pytest.approx(12.0)
    back = read_midi(midi_bytes(empty))
    assert (back.notes, back.tracks, back.bars, back.tempo) == ([], [], 3, 60.0)
    with pytest.raises(InvalidParamsError):
        midi_bytes(Score([Track("x")], time_signature=(5, 6)))
    with pytest.raises(InvalidParamsError):
        midi_bytes(Score([Track("x")], tempo=0))


def test_sixteen_melodic_tracks_never_use_the_drum_channel():
    score = Score(
        [Track(f"T{i}", i) for i in range(17)], [Note(0, 60, 10, 80, i) for i in range(17)]
    )
    mf = mido.MidiFile(file=io.BytesIO(midi_bytes(score)))
    chans = [next(m.channel for m in t if m.type == "note_on") for t in mf.tracks[1:]]
    assert 9 not in chans and chans[:15] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15]


# ---------------------------------------------------------------------------------------------
# Files made by others


def _save(mf) -> bytes:
    buf = io.BytesIO()
    mf.save(file=buf)  # mido writes running status
    return buf.getvalue()


def test_reads_type0_with_running_status_other_division_and_odd_events():
    mf = mido.MidiFile(type=0, ticks_per_beat=96)
    t = mido.MidiTrack()
    mf.tracks.append(t)
    t += [
        mido.MetaMessage("track_name", name="Song", time=0),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("key_signature", key="Em", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
        mido.Message("program_change", channel=0, program=24, time=0),
        mido.Message("sysex", data=[1, 2, 3], time=0),
        mido.Message("note_on", channel=0, note=64, velocity=80, time=0),
        mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
        mido.Message("note_on", channel=9, note=36, velocity=0, time=24),  # vel 0 = off
        mido.Message("note_on", channel=0, note=64, velocity=90, time=24),  # overlap, FIFO
        mido.Message("note_off", channel=0, note=64, velocity=0, time=48),
        mido.Message("control_change", channel=0, control=7, value=100, time=0),
        mido.Message("pitchwheel", channel=0, pitch=100, time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150), time=0),  # later: ignored
        mido.Message("note_off", channel=0, note=64, velocity=0, time=48),
        mido.Message("note_on", channel=0, note=67, velocity=70, time=0),  # never ended
        mido.MetaMessage("end_of_track", time=96),
    ]
    data = _save(mf)
    score = read_midi(data)
    assert (score.tempo, score.time_signature) == (pytest.approx(90.0), (3, 4))
    assert score.key == parse_key("E minor")
    assert [(t.name, t.program, t.is_drum) for t in score.tracks] == [
        ("Song (channel 1)", 24, False),
        ("Song (channel 10)", 0, True),
    ]
    # 96 -> 480 ticks a quarter: every tick x5.
    assert [(n.start, n.pitch, n.duration, n.velocity, n.track) for n in score.notes] == [
        (0, 64, 480, 80, 0),
        (0, 36, 120, 100, 1),
        (240, 64, 480, 90, 0),
        (720, 67, 480, 70, 0),
    ]
    assert score.bars == 1 and score.length_ticks == 1440


@pytest.mark.parametrize("division", [384, 1000, 220, 1])
def test_reads_type1_at_other_divisions(division):
    mf = mido.MidiFile(type=1, ticks_per_beat=division)
    conductor, a, b = mido.MidiTrack(), mido.MidiTrack(), mido.MidiTrack()
    mf.tracks += [conductor, a, b]
    conductor.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    a += [
        mido.MetaMessage("track_name", name="Lead", time=0),
        mido.Message("program_change", channel=3, program=81, time=0),
        mido.Message("note_on", channel=3, note=70, velocity=64, time=division),
        mido.Message("note_off", channel=3, note=70, time=division * 2),
    ]
    b += [
        mido.Message("note_on", channel=9, note=42, velocity=30, time=0),
        mido.Message("note_off", channel=9, note=42, time=division // 2),
    ]
    score = read_midi(_save(mf))
    assert score.time_signature == (4, 4) and score.key is None and score.tempo == 120.0
    assert [(t.name, t.program, t.is_drum) for t in score.tracks] == [
        ("Lead", 81, False),
        ("Drums", 0, True),
    ]
    lead, hat = score.notes[1], score.notes[0]
    assert (lead.start, lead.duration, lead.pitch) == (480, 960, 70)
    assert (hat.start, hat.pitch) == (0, 42) and abs(hat.duration - 240) <= 240 / division + 1


def test_reads_pretty_midi_output():
    pm = pretty_midi.PrettyMIDI(initial_tempo=132.0)  # resolution 220
    inst = pretty_midi.Instrument(program=33, name="Bass")
    inst.notes.append(pretty_midi.Note(velocity=77, pitch=40, start=0.0, end=60 / 132))
    pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    score = read_midi(buf.getvalue())
    assert score.tempo == pytest.approx(132.0, rel=1e-4)
    assert [(t.name, t.program) for t in score.tracks] == [("Bass", 33)]
    assert [(n.start, n.pitch, n.duration, n.velocity) for n in score.notes] == [(0, 40, 480, 77)]


def test_running_status_after_meta_and_no_notes_and_drum_only():
    def smf(track: bytes, fmt: int = 0, division: int = 480) -> bytes:
        head = (
            b"MThd" + (6).to_bytes(4, "big") + bytes([0, fmt, 0, 1]) + division.to_bytes(2, "big")
        )
        return head + b"MTrk" + len(track).to_bytes(4, "big") + track

    # note on ch10, a meta event, then data bytes under running status; no end-of-track event
    drums = bytes([0, 0x99, 38, 90, 0, 0xFF, 0x01, 1, 65, 0x60, 38, 0, 0, 42, 70])
    score = read_midi(smf(drums))
    assert [t.is_drum for t in score.tracks] == [True]
    assert [(n.start, n.pitch, n.duration) for n in score.notes] == [(0, 38, 96), (96, 42, 1)]

    nothing = bytes([0, 0xFF, 0x51, 3, 0x07, 0xA1, 0x20, 0, 0xFF, 0x2F, 0])
    score = read_midi(smf(nothing))
    assert (score.notes, score.tracks, score.tempo, score.bars) == ([], [], 120.0, 1)


# ---------------------------------------------------------------------------------------------
# Broken input


def _raises_midi_error(data) -> MidiFileError:
    with pytest.raises(MidiFileError) as info:
        read_midi(data)
    err = info.value
    assert err.message and err.message[0].isupper() and err.message.endswith(".")
    assert str(err).startswith(err.message)
    return err


def _header(fmt=1, ntracks=1, division=480, length=6) -> bytes:
    return (
        b"MThd"
        + length.to_bytes(4, "big")
        + fmt.to_bytes(2, "big")
        + ntracks.to_bytes(2, "big")
        + division.to_bytes(2, "big")
    )


def test_bad_inputs_give_midi_file_errors(tmp_path):
    good = midi_bytes(_score())
    end_track = b"MTrk" + (4).to_bytes(4, "big") + bytes([0, 0xFF, 0x2F, 0])
    assert "empty" in _raises_midi_error(b"").message
    assert "not a MIDI file" in _raises_midi_error(b"RIFF\0\0\0\0WAVEfmt ").message
    _raises_midi_error(b"MThd")
    _raises_midi_error(random.Random(1).randbytes(500))
    _raises_midi_error(b"MTrk" + good[4:])
    assert "type 2" in _raises_midi_error(_header(fmt=2) + end_track).message
    assert _raises_midi_error(_header(fmt=2) + end_track).hint
    assert "unknown type" in _raises_midi_error(_header(fmt=7) + end_track).message
    assert "SMPTE" in _raises_midi_error(_header(division=0xE728) + end_track).message
    _raises_midi_error(_header(division=0) + end_track)
    assert "no tracks" in _raises_midi_error(_header(ntracks=0)).message
    _raises_midi_error(_header(ntracks=60000) + end_track)
    assert "cut off" in _raises_midi_error(_header(ntracks=3) + end_track).message
    _raises_midi_error(_header(length=0xFFFFFFFF) + end_track)
    _raises_midi_error(_header(length=2) + end_track)
    huge_track = b"MTrk" + (0xFFFFFFF0).to_bytes(4, "big") + bytes([0, 0xFF, 0x2F, 0])
    assert "cut off" in _raises_midi_error(_header() + huge_track).message
    huge_meta = b"MTrk" + (8).to_bytes(4, "big") + bytes([0, 0xFF, 0x01, 0x8F, 0xFF, 0xFF, 0x7F, 0])
    _raises_midi_error(_header() + huge_meta)
    long_vlq = b"MTrk" + (8).to_bytes(4, "big") + bytes([0xFF] * 5 + [0x90, 60, 64])
    assert "longer than 4 bytes" in _raises_midi_error(_header() + long_vlq).message
    no_status = b"MTrk" + (4).to_bytes(4, "big") + bytes([0, 60, 64, 0])
    _raises_midi_error(_header() + no_status)
    bad_data = b"MTrk" + (4).to_bytes(4, "big") + bytes([0, 0x90, 0xC0, 64])
    _raises_midi_error(_header() + bad_data)
    assert "MB" in _raises_midi_error(good + bytes(midi.MAX_FILE_BYTES)).message
    big = tmp_path / "big.mid"
    big.write_bytes(good + bytes(midi.MAX_FILE_BYTES))
    _raises_midi_error(big)
    assert "does not exist" in _raises_midi_error(tmp_path / "missing.mid").message
    _raises_midi_error(tmp_path)


def test_event_and_note_caps(monkeypatch):
    data = midi_bytes(_score())
    monkeypatch.setattr(midi, "MAX_EVENTS", 10)
    assert "events" in _raises_midi_error(data).message
    monkeypatch.setattr(midi, "MAX_EVENTS", 10_000)
    monkeypatch.setattr(midi, "MAX_NOTES", 3)
    assert "notes" in _raises_midi_error(data).message


def test_every_truncation_is_a_midi_file_error():
    data = midi_bytes(_score())
    for cut in range(len(data)):
        _raises_midi_error(data[:cut])


def test_bit_flip_fuzz_raises_only_midi_file_errors():
    data = midi_bytes(_score())
    rng = random.Random(20240607)
    outcomes = {"score": 0, "error": 0}
    for _ in range(400):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.7:
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
            else:
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        try:
            score = read_midi(bytes(buf))
        except MidiFileError as e:
            assert e.message
            outcomes["error"] += 1
            continue
        outcomes["score"] += 1
        assert all(0 <= n.track < len(score.tracks) and n.duration > 0 for n in score.notes)
        assert 1 <= score.bars and score.tpq == 480
    assert outcomes["score"] > 50 and outcomes["error"] > 50  # both paths were exercised


def test_key_signatures_round_trip_through_mido_names():
    names = {"C", "G", "D", "A", "E", "B", "F#", "C#", "F", "Bb", "Eb", "Ab", "Db", "Gb", "Cb"}
    names |= {n + "m" for n in ("A", "E", "B", "F#", "C#", "G#", "D#", "A#", "D", "G", "C", "F")}
    names |= {"Bbm", "Ebm", "Abm"}
    for name in sorted(names):
        mf = mido.MidiFile(type=1)
        t = mido.MidiTrack()
        mf.tracks.append(t)
        t += [
            mido.MetaMessage("key_signature", key=name, time=0),
            mido.Message("note_on", note=60, velocity=64, time=0),
            mido.Message("note_off", note=60, time=10),
        ]
        key = read_midi(_save(mf)).key
        minor = name.endswith("m")
        assert key == parse_key(name[:-1] + " minor" if minor else name + " major")
        again = read_midi(midi_bytes(Score([Track("x")], key=key))).key
        assert again == key
        assert key_from_signature(key.sharps, minor) == key
