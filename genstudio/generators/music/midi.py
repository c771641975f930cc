"""Standard MIDI Files: our own reader and writer, in pure Python (no mido at run time).

Writing (:func:`midi_bytes`, :func:`write_midi`) gives an SMF type 1 file at 480 ticks per
quarter note:

* track 0, the conductor: track name (the title), tempo, time signature and key signature (when
  the score has a key) at tick 0, and its end-of-track at the end of the piece
  (``score.length_ticks``), so every reader sees the requested number of bars;
* then one track per :class:`~genstudio.generators.music.score.Track`: track name, program
  change, and its notes. Drum tracks play on channel 10 (index 9); melodic tracks take channels
  0-8 and 10-15 in order (wrapping round after 15 melodic tracks). A note-off is written as
  ``0x8n pitch 64``; at one tick note-offs come before note-ons. Every event carries its status
  byte (no running status). Overlapping notes of the same pitch in one track cannot be told
  apart in MIDI, so the earlier one is cut where the later one starts (of two starting at the
  same tick the longer one is kept).

Reading (:func:`read_midi`) accepts SMF type 0 and type 1 at any ticks-per-quarter division and
rescales to 480 (rounding to the nearest tick). Type 2 files (independent patterns) and SMPTE
(frames-per-second) divisions are refused with a :class:`MidiFileError`. Every note-bearing
(track chunk, channel) pair becomes one Score track, so a type 0 file is split by channel; channel
10 becomes a drum track (``is_drum=True``). Details:

* running status is followed across meta and sysex events (lenient, like most readers); sysex
  (``F0``) and escape (``F7``) events are skipped, as are stray system bytes (``F1``-``FE``);
* note-on with velocity 0 is a note-off; overlapping notes of the same pitch on one channel are
  closed first-in first-out; notes still sounding at the end of their track are closed there;
  a note-on and note-off at the same tick gives a note of 1 tick (drum hits);
* the first tempo in time (ties: first track) is the Score's tempo, clamped to
  ``TEMPO_RANGE``; the first time signature and key signature likewise (unsupported or invalid
  ones are ignored: 4/4, no key); a track's name is its first track-name meta event; its GM
  program is the one in force at its first note;
* ``bars`` is the length of the longest track (its end-of-track tick) in bars, rounded up, with
  one tick of tolerance for rescaling;
* a file with no notes gives a Score with no tracks and no notes (callers decide what to do).

Anything that is not a readable MIDI file - empty, not MIDI, truncated, corrupt, bigger than
``MAX_FILE_BYTES`` or with more than ``MAX_EVENTS`` events - raises :class:`MidiFileError` with a
plain-English message and a hint, never an IndexError or a struct error.

:func:`read_midi_partial` is the lenient reader for clips: a file that is cut off (an
interrupted download or copy) gives the notes before the cut, and says where it was cut
(:class:`PartialMidi`); everything else is refused as by :func:`read_midi`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from genstudio.core.atomic import atomic_write_bytes, read_file_bytes
from genstudio.core.errors import InvalidParamsError, MidiFileError
from genstudio.generators.music.score import (
    DRUM_CHANNEL,
    MAX_BARS,
    TEMPO_RANGE,
    TPQ,
    Key,
    Note,
    Score,
    Track,
    check_tempo,
    key_from_signature,
    parse_time_signature,
)

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_EVENTS = 2_000_000
MAX_NOTES = 500_000
MAX_TRACKS = 1024  # track chunks a file may declare
MAX_TICK = 0x0FFFFFFF  # the largest delta time a variable-length quantity can hold

MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)

_HINT_DAMAGED = (
    "The file may be damaged or not really a MIDI file. "
    "Export it again from the program that made it."
)
_HINT_CONVERT = "Open it in a MIDI editor or DAW and save it as a type 1 (multi-track) MIDI file."

# ---------------------------------------------------------------------------------------------
# Writing


def _vlq(value: int) -> bytes:
    """A MIDI variable-length quantity (7 bits a byte, high bit = more follows)."""
    if not 0 <= value <= MAX_TICK:
        raise InvalidParamsError(
            f"A time of {value} ticks cannot be stored in a MIDI file.",
            hint="Make the piece shorter.",
        )
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta(kind: int, data: bytes) -> bytes:
    return bytes((0xFF, kind)) + _vlq(len(data)) + data


def _text(text: str) -> bytes:
    """Latin-1 where possible (what most readers assume), UTF-8 otherwise."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _chunk(events: list[tuple[int, int, bytes]], end_tick: int) -> bytes:
    """Events (tick, order at that tick, bytes) -> an MTrk chunk ending at ``end_tick``."""
    out = bytearray()
    now = 0
    for tick, _order, payload in sorted(events, key=lambda e: (e[0], e[1])):
        out += _vlq(tick - now)
        out += payload
        now = tick
    out += _vlq(max(end_tick, now) - now) + _meta(0x2F, b"")
    return b"MTrk" + len(out).to_bytes(4, "big") + bytes(out)


def _time_signature_data(num: int, den: int) -> bytes:
    clocks = 96 // den  # MIDI clocks (24 a quarter) per beat
    if den >= 8 and num % 3 == 0 and num > 3:
        clocks *= 3  # compound metre: the click is the dotted beat
    return bytes((num, den.bit_length() - 1, min(clocks, 255), 8))


def _playable(notes: list[Note]) -> list[tuple[int, int, int, int]]:
    """(start, end, pitch, velocity) with same-pitch overlaps cut, in start order."""
    by_pitch: dict[int, list[tuple[int, int, int]]] = {}
    for n in notes:
        pitch = min(127, max(0, int(n.pitch)))
        velocity = min(127, max(1, int(n.velocity)))
        start = max(0, int(n.start))
        by_pitch.setdefault(pitch, []).append((start, start + max(1, int(n.duration)), velocity))
    out = []
    for pitch, group in by_pitch.items():
        group.sort(key=lambda g: (g[0], g[1]))
        for i, (start, end, velocity) in enumerate(group):
            if i + 1 < len(group):
                end = min(end, group[i + 1][0])
            if end > start:
                out.append((start, end, pitch, velocity))
    out.sort()
    return out


def midi_bytes(score: Score, *, title: str = "GenStudio") -> bytes:
    """The score as an SMF type 1 file (conductor track + one track per part), 480 TPQ."""
    num, den = parse_time_signature((int(score.time_signature[0]), int(score.time_signature[1])))
    tempo = check_tempo(score.tempo)
    scale = TPQ / score.tpq if score.tpq != TPQ else 1.0

    def tick(t: int) -> int:
        return int(round(t * scale)) if scale != 1.0 else int(t)

    length = tick(score.length_ticks)
    conductor = [
        (0, 0, _meta(0x03, _text(title))),
        (0, 1, _meta(0x51, min(0xFFFFFF, round(60_000_000 / tempo)).to_bytes(3, "big"))),
        (0, 2, _meta(0x58, _time_signature_data(num, den))),
    ]
    if score.key is not None:
        sharps = score.key.sharps
        minor = 1 if score.key.mode == "minor" else 0
        conductor.append((0, 3, _meta(0x59, bytes((sharps & 0xFF, minor)))))
    chunks = [_chunk(conductor, length)]

    by_track: dict[int, list[Note]] = {}
    for n in score.notes:
        by_track.setdefault(n.track, []).append(n)
    melodic = 0
    for index, track in enumerate(score.tracks):
        if track.is_drum:
            channel = DRUM_CHANNEL
        else:
            channel = MELODIC_CHANNELS[melodic % len(MELODIC_CHANNELS)]
            melodic += 1
        program = min(127, max(0, int(track.program)))
        events = [
            (0, 0, _meta(0x03, _text(track.name))),
            (0, 1, bytes((0xC0 | channel, program))),
        ]
        notes = [
            Note(tick(n.start), n.pitch, max(1, tick(n.duration)), n.velocity, n.track)
            for n in by_track.get(index, [])
        ]
        end = 0
        for start, stop, pitch, velocity in _playable(notes):
            events.append((start, 3, bytes((0x90 | channel, pitch, velocity))))
            events.append((stop, 2, bytes((0x80 | channel, pitch, 64))))
            end = max(end, stop)
        chunks.append(_chunk(events, end))

    header = b"MThd" + (6).to_bytes(4, "big")
    header += (1).to_bytes(2, "big") + len(chunks).to_bytes(2, "big") + TPQ.to_bytes(2, "big")
    return header + b"".join(chunks)


def write_midi(score: Score, path: str | os.PathLike[str], *, title: str = "GenStudio") -> None:
    """Write the score as a MIDI file, atomically (a reader never sees half a file)."""
    atomic_write_bytes(path, midi_bytes(score, title=title))


# ---------------------------------------------------------------------------------------------
# Reading


_HINT_CUT = "The file is incomplete (an interrupted download or copy?). Get a complete copy."


class MidiCutOffError(MidiFileError):
    """The file ends before its data does: it is cut off (:func:`read_midi_partial` keeps what
    comes before the cut)."""


def _truncated(where: str) -> MidiFileError:
    return MidiCutOffError(
        f"The MIDI file is cut off: it ends in the middle of {where}.", hint=_HINT_CUT
    )


def _corrupt(what: str) -> MidiFileError:
    return MidiFileError(f"The MIDI file is damaged: {what}.", hint=_HINT_DAMAGED)


def _too_many_events() -> MidiFileError:
    return MidiFileError(
        f"The MIDI file has more than {MAX_EVENTS:,} events, more than GenStudio reads.",
        hint="Split it into shorter pieces in a MIDI editor.",
    )


def _read_vlq(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        if pos >= end:
            raise _truncated(what)
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos
    raise _corrupt(f"a {what} is longer than 4 bytes")


def _decode_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\x00", "").strip()


class _Parsed:
    """What the track parser collects for the whole file."""

    def __init__(self) -> None:
        self.events = 0
        self.notes = 0
        self.tempos: list[tuple[int, int, int]] = []  # (tick, chunk, microseconds a quarter)
        self.time_signatures: list[tuple[int, int, int, int]] = []  # (tick, chunk, num, den)
        self.keys: list[tuple[int, int, Key]] = []
        self.end_tick = 0
        self.cut: str | None = None  # lenient reading: where the file is cut off
        self.unterminated: list[int] = []  # 1-based tracks that have no end-of-track event


class _TrackData:
    def __init__(self) -> None:
        self.name: str | None = None
        self.notes: dict[int, list[tuple[int, int, int, int]]] = {}  # ch -> (start, end, p, v)
        self.programs: dict[int, list[tuple[int, int]]] = {}  # ch -> [(tick, program)]
        self.tick = 0  # the time reached
        self.ended = False  # its end-of-track event was read


_SYSTEM_DATA_BYTES = {0xF1: 1, 0xF2: 2, 0xF3: 1}


def _parse_track(
    data: bytes, pos: int, end: int, index: int, out: _Parsed, *, lenient: bool = False
) -> _TrackData:
    """One MTrk chunk's events. ``lenient``: an event cut off by the end of the data ends the
    track there (``out.cut`` says so) instead of raising."""
    track = _TrackData()
    open_notes: dict[int, list[tuple[int, int]]] = {}  # ch * 128 + pitch -> [(start, vel)]
    try:
        _parse_events(data, pos, end, index, out, track, open_notes)
    except MidiCutOffError:
        if not lenient:
            raise
        out.cut = out.cut or f"it ends in the middle of track {index + 1}"
    tick = track.tick
    if not track.ended:
        out.unterminated.append(index + 1)
    for key, stack in open_notes.items():  # notes never switched off end with the track
        channel, pitch = divmod(key, 128)
        for start, velocity in stack:
            track.notes.setdefault(channel, []).append((start, tick, pitch, velocity))
    out.end_tick = max(out.end_tick, tick)
    return track


def _parse_events(
    data: bytes,
    pos: int,
    end: int,
    index: int,
    out: _Parsed,
    track: _TrackData,
    open_notes: dict[int, list[tuple[int, int]]],
) -> None:
    tick = 0
    status = 0  # running status; 0 = none yet
    while pos < end:
        delta, pos = _read_vlq(data, pos, end, "an event time")
        tick += delta
        track.tick = tick
        if pos >= end:
            raise _truncated("an event")
        out.events += 1
        if out.events > MAX_EVENTS:
            raise _too_many_events()
        st = data[pos]
        if st & 0x80:
            pos += 1
        elif status:
            st = status
        else:
            raise _corrupt(f"track {index + 1} has note data without a status byte")

        if st < 0xF0:  # channel message
            status = st
            kind, channel = st & 0xF0, st & 0x0F
            size = 1 if kind in (0xC0, 0xD0) else 2
            if pos + size > end:
                raise _truncated("a note or controller event")
            d1 = data[pos]
            d2 = data[pos + 1] if size == 2 else 0
            if (d1 | d2) & 0x80:
                raise _corrupt(f"track {index + 1} has an invalid data byte")
            pos += size
            if kind == 0x90 and d2 > 0:
                out.notes += 1
                if out.notes > MAX_NOTES:
                    raise MidiFileError(
                        f"The MIDI file has more than {MAX_NOTES:,} notes, more than GenStudio "
                        "reads.",
                        hint="Split it into shorter pieces in a MIDI editor.",
                    )
                open_notes.setdefault(channel * 128 + d1, []).append((tick, d2))
            elif kind in (0x80, 0x90):
                stack = open_notes.get(channel * 128 + d1)
                if stack:
                    start, velocity = stack.pop(0)  # first in, first out
                    track.notes.setdefault(channel, []).append((start, tick, d1, velocity))
            elif kind == 0xC0:
                track.programs.setdefault(channel, []).append((tick, d1))
        elif st == 0xFF:  # meta event
            if pos >= end:
                raise _truncated("a meta event")
            mtype = data[pos]
            length, pos = _read_vlq(data, pos + 1, end, "meta event length")
            if pos + length > end:
                raise _truncated("a meta event")
            payload = data[pos : pos + length]
            pos += length
            if mtype == 0x2F:  # end of track
                track.ended = True
                break
            if mtype == 0x51 and length == 3:
                us = int.from_bytes(payload, "big")
                if us > 0:
                    out.tempos.append((tick, index, us))
            elif mtype == 0x58 and length >= 2:
                if payload[1] <= 4:
                    out.time_signatures.append((tick, index, payload[0], 1 << payload[1]))
            elif mtype == 0x59 and length >= 2:
                sharps = payload[0] - 256 if payload[0] > 127 else payload[0]
                if -7 <= sharps <= 7 and payload[1] in (0, 1):
                    out.keys.append((tick, index, key_from_signature(sharps, payload[1] == 1)))
            elif mtype == 0x03 and track.name is None:
                track.name = _decode_text(payload)
        elif st in (0xF0, 0xF7):  # sysex or escape: skipped
            length, pos = _read_vlq(data, pos, end, "system-exclusive length")
            if pos + length > end:
                raise _truncated("a system-exclusive event")
            pos += length
        else:  # stray system common / real-time bytes: not valid in a file, but harmless
            pos += _SYSTEM_DATA_BYTES.get(st, 0)
            if pos > end:
                raise _truncated("a system event")


def _load(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > MAX_FILE_BYTES:
            raise _too_big(len(data))
        return data
    return read_file_bytes(
        source, what="MIDI file", error=MidiFileError, max_bytes=MAX_FILE_BYTES, too_big=_too_big
    )


def _too_big(size: int) -> MidiFileError:
    return MidiFileError(
        f"The MIDI file is {size / 1e6:.1f} MB; GenStudio reads MIDI files up to "
        f"{MAX_FILE_BYTES // (1024 * 1024)} MB.",
        hint="MIDI files are normally well under 1 MB: check that this is the right file.",
    )


def _unwrap_rmid(data: bytes) -> bytes:
    """RIFF 'RMID' files wrap a standard MIDI file in a 'data' chunk."""
    if data[:4] != b"RIFF" or data[8:12] != b"RMID":
        return data
    pos = 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if data[pos : pos + 4] == b"data":
            return data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise _corrupt("the RIFF MIDI file has no 'data' chunk")


def read_midi(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Score:
    """A MIDI file (path or bytes) -> Score at 480 TPQ. Raises MidiFileError."""
    return _read_checked(source, lenient=False)[0]


@dataclass(frozen=True)
class PartialMidi:
    """What :func:`read_midi_partial` read: the score, and how complete the file was."""

    score: Score
    #: where the file is cut off ("it ends in the middle of track 2"); None: it is complete
    cut: str | None = None
    #: the (1-based) tracks that have no end-of-track event (the standard requires one)
    unterminated: tuple[int, ...] = ()


def read_midi_partial(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
) -> PartialMidi:
    """Like :func:`read_midi`, but a file that is cut off gives the notes before the cut (and
    ``cut`` says where) instead of an error. The header must be whole; anything damaged, not
    MIDI, too big or too long is refused as by :func:`read_midi`."""
    score, parsed = _read_checked(source, lenient=True)
    return PartialMidi(score, parsed.cut, tuple(parsed.unterminated))


def _read_checked(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview, *, lenient: bool
) -> tuple[Score, _Parsed]:
    data = _load(source)
    try:
        return _read(_unwrap_rmid(data), lenient=lenient)
    except MidiFileError:
        raise
    except (IndexError, ValueError, OverflowError) as e:  # a safety net: never a raw error
        raise _corrupt(f"it could not be parsed ({e})") from e


def _read(data: bytes, *, lenient: bool = False) -> tuple[Score, _Parsed]:
    if not data:
        raise MidiFileError("The MIDI file is empty (0 bytes).", hint=_HINT_DAMAGED)
    if data[:4] != b"MThd":
        raise MidiFileError(
            "This is not a MIDI file: it does not start with the 'MThd' header.",
            hint="Choose a Standard MIDI File (.mid or .midi).",
        )
    if len(data) < 14:
        raise _truncated("the file header")
    header_len = int.from_bytes(data[4:8], "big")
    if header_len < 6:
        raise _corrupt(f"the header is {header_len} bytes long, less than the 6 it must be")
    if 8 + header_len > len(data):
        raise _truncated("the file header")
    fmt = int.from_bytes(data[8:10], "big")
    ntracks = int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big")
    if fmt == 2:
        raise MidiFileError(
            "This MIDI file is type 2 (a set of independent patterns), which GenStudio does "
            "not read.",
            hint=_HINT_CONVERT,
        )
    if fmt > 2:
        raise MidiFileError(f"This MIDI file has an unknown type ({fmt}).", hint=_HINT_CONVERT)
    if division & 0x8000:
        raise MidiFileError(
            "This MIDI file counts time in SMPTE frames, which GenStudio does not read.",
            hint="Save it again with musical time (ticks per quarter note), e.g. 480.",
        )
    if division == 0:
        raise _corrupt("the header says 0 ticks per quarter note")
    if ntracks == 0:
        raise MidiFileError("The MIDI file contains no tracks.", hint=_HINT_DAMAGED)
    if ntracks > MAX_TRACKS:
        raise MidiFileError(
            f"The MIDI file declares {ntracks} tracks; GenStudio reads up to {MAX_TRACKS}.",
            hint=_HINT_DAMAGED,
        )

    parsed = _Parsed()
    tracks: list[_TrackData] = []
    pos = 8 + header_len
    while len(tracks) < ntracks:
        if pos + 8 > len(data) and lenient and tracks:
            parsed.cut = (
                f"the header promises {ntracks} tracks but the file ends after {len(tracks)}"
            )
            break
        if pos + 8 > len(data):
            if pos >= len(data):
                raise MidiCutOffError(
                    f"The MIDI file is cut off: the header promises {ntracks} tracks but the "
                    f"file holds only {len(tracks)}.",
                    hint="The file is incomplete (an interrupted download or copy?).",
                )
            raise _truncated("a track header")
        chunk_type = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "big")
        body = pos + 8
        if body + size > len(data):
            if not lenient or not (chunk_type == b"MTrk" or (tracks and chunk_type.isalnum())):
                raise _truncated(f"track {len(tracks) + 1} (it says it is {size:,} bytes long)")
            index = len(tracks)
            if chunk_type != b"MTrk":
                parsed.cut = f"the header promises {ntracks} tracks but the file ends after {index}"
                break
            tracks.append(_parse_track(data, body, len(data), index, parsed, lenient=True))
            parsed.cut = f"it ends in the middle of track {index + 1}"
            if index + 1 < ntracks:
                parsed.cut += f" of the {ntracks} its header promises"
            break
        if chunk_type == b"MTrk":
            tracks.append(
                _parse_track(data, body, body + size, len(tracks), parsed, lenient=lenient)
            )
        elif not chunk_type.isalnum():
            raise _corrupt(f"expected a track at byte {pos}, found {chunk_type!r}")
        pos = body + size  # unknown chunk types are skipped, as the standard says

    return _build(tracks, parsed, division), parsed


def _build(tracks: list[_TrackData], parsed: _Parsed, division: int) -> Score:
    def tick(t: int) -> int:  # rescale to TPQ, rounding half up, exact integer arithmetic
        return (t * TPQ * 2 + division) // (2 * division)

    tempo = 120.0
    if parsed.tempos:
        us = min(parsed.tempos, key=lambda t: (t[0], t[1]))[2]
        tempo = min(TEMPO_RANGE[1], max(TEMPO_RANGE[0], 60_000_000 / us))
    time_signature = (4, 4)
    for _tick, _index, num, den in sorted(parsed.time_signatures, key=lambda t: (t[0], t[1])):
        try:
            time_signature = parse_time_signature((num, den))
            break
        except InvalidParamsError:
            continue
    key = min(parsed.keys, key=lambda k: (k[0], k[1]))[2] if parsed.keys else None

    score_tracks: list[Track] = []
    notes: list[Note] = []
    for chunk_index, data in enumerate(tracks):
        channels = sorted(ch for ch, ns in data.notes.items() if ns)
        for channel in channels:
            is_drum = channel == DRUM_CHANNEL
            if len(channels) == 1 and data.name:
                name = data.name
            elif data.name:
                name = f"{data.name} (channel {channel + 1})"
            elif is_drum:
                name = "Drums"
            else:
                name = f"Track {chunk_index + 1}" + (
                    f" (channel {channel + 1})" if len(channels) > 1 else ""
                )
            channel_notes = data.notes[channel]
            first = min(n[0] for n in channel_notes)
            changes = sorted(data.programs.get(channel, []))
            before = [p for t, p in changes if t <= first]
            program = before[-1] if before else (changes[0][1] if changes else 0)
            index = len(score_tracks)
            score_tracks.append(Track(name, program=program, is_drum=is_drum))
            for start, end, pitch, velocity in channel_notes:
                a = tick(start)
                notes.append(Note(a, pitch, max(1, tick(end) - a), velocity, index))

    score = Score(
        tracks=score_tracks,
        tempo=tempo,
        time_signature=time_signature,
        key=key,
        tpq=TPQ,
    )
    end = max([tick(parsed.end_tick)] + [n.start + n.duration for n in notes])
    bars = max(1, -(-(end - 1) // score.bar_ticks))
    if bars > MAX_BARS:  # bounded from the header and the events, before anything per bar
        minutes = score.seconds(end) / 60.0
        raise MidiFileError(
            f"The MIDI file is {bars:,} bars long (about {minutes:,.0f} minutes at its tempo); "
            f"GenStudio reads pieces of up to {MAX_BARS:,} bars.",
            hint="The file's timing looks damaged (huge pauses between events); open it in a "
            "MIDI editor, remove the silence and save it again.",
        )
    return score.with_notes(notes, bars=bars)
