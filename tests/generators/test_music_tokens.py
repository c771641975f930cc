"""The REMI-like token vocabulary: fixed layout, grammar, encode/decode round trips, fuzz."""

from __future__ import annotations

import random

import numpy as np
import pytest

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.music import tokens as tk
from genstudio.generators.music.midi import midi_bytes, read_midi
from genstudio.generators.music.score import TPQ, Note, Score, parse_key
from genstudio.generators.music.tokens import (
    STYLE_TRACKS,
    TEMPO_BPM,
    VOCAB,
    GrammarState,
    allowed_next,
    bar_positions,
    decode,
    encode,
    tempo_bin,
)

S = TPQ // 4  # one 16th note in ticks


def _names(seq):
    return [VOCAB.names[t] for t in seq]


def _style_of(seq) -> str:
    for t in seq:
        if 0 <= t < VOCAB.size and VOCAB.kind(t) == "BAR":
            break
        if 0 <= t < VOCAB.size and VOCAB.kind(t) == "STYLE":
            return VOCAB.value(t)
    return "style4"


# ---------------------------------------------------------------------------------------------
# Vocabulary layout: a trained model depends on it


def test_vocabulary_size_and_layout_are_fixed():
    assert VOCAB.size == len(VOCAB) == 223
    assert VOCAB.kinds == (
        "PAD", "BOS", "EOS", "BAR", "STYLE", "KEY", "TS", "TEMPO", "POS", "TRK", "PITCH", "VEL",
        "DUR",
    )  # fmt: skip
    first = {k: int(VOCAB.ids(k)[0]) for k in VOCAB.kinds}
    count = {k: len(VOCAB.ids(k)) for k in VOCAB.kinds}
    assert first == {
        "PAD": 0, "BOS": 1, "EOS": 2, "BAR": 3, "STYLE": 4, "KEY": 12, "TS": 37, "TEMPO": 48,
        "POS": 64, "TRK": 96, "PITCH": 104, "VEL": 192, "DUR": 200,
    }  # fmt: skip
    assert count == {
        "PAD": 1, "BOS": 1, "EOS": 1, "BAR": 1, "STYLE": 8, "KEY": 25, "TS": 11, "TEMPO": 16,
        "POS": 32, "TRK": 8, "PITCH": 88, "VEL": 8, "DUR": 23,
    }  # fmt: skip
    assert [VOCAB.value(i) for i in VOCAB.ids("STYLE")] == [
        "chorale", "folk", "melody_accomp", "drums", "style4", "style5", "style6", "style7",
    ]  # fmt: skip
    keys = [VOCAB.value(i) for i in VOCAB.ids("KEY")]
    assert keys[:3] == ["C major", "C# major", "D major"] and keys[12] == "C minor"
    assert keys[23] == "B minor" and keys[24] is None and VOCAB.names[36] == "KEY_none"
    assert [VOCAB.value(i) for i in VOCAB.ids("TS")] == [
        (2, 4), (3, 4), (4, 4), (5, 4), (6, 4), (2, 2), (3, 2), (3, 8), (6, 8), (9, 8), (12, 8),
    ]  # fmt: skip
    assert [VOCAB.value(i) for i in VOCAB.ids("VEL")] == [24, 40, 56, 72, 88, 100, 112, 124]
    assert [VOCAB.value(i) for i in VOCAB.ids("DUR")] == list(range(1, 17)) + [
        20, 24, 28, 32, 40, 48, 64,
    ]  # fmt: skip
    assert [VOCAB.value(i) for i in VOCAB.ids("PITCH")] == list(range(21, 109))
    assert [VOCAB.value(i) for i in VOCAB.ids("POS")] == list(range(32))
    assert VOCAB.names[:5] == ["PAD", "BOS", "EOS", "BAR", "STYLE_chorale"]
    assert VOCAB.names[VOCAB.id("PITCH", 60)] == "PITCH_60"


def test_id_kind_value_consistency():
    assert len(set(VOCAB.names)) == VOCAB.size
    assert VOCAB.kind_of.shape == (VOCAB.size,)
    for t in range(VOCAB.size):
        kind = VOCAB.kind(t)
        assert VOCAB.kinds[VOCAB.kind_of[t]] == kind
        assert VOCAB.id(kind, VOCAB.value(t)) == t
        assert t in VOCAB.ids(kind)
    assert sorted(np.concatenate([VOCAB.ids(k) for k in VOCAB.kinds]).tolist()) == list(
        range(VOCAB.size)
    )
    assert VOCAB.id("KEY", "Gb major") == VOCAB.id("KEY", "F# major")
    assert VOCAB.id("KEY", parse_key("a minor")) == VOCAB.id("KEY", "A minor")
    assert VOCAB.id("KEY", "none") == VOCAB.id("KEY", None) == 36
    assert VOCAB.id("TS", "6/8") == VOCAB.id("TS", (6, 8))
    assert VOCAB.id("pitch", np.int64(60)) == VOCAB.id("PITCH", 60)
    for kind, value in [("PITCH", 20), ("DUR", 17), ("TS", (7, 8)), ("STYLE", "jazz"), ("X", 1)]:
        with pytest.raises(InvalidParamsError):
            VOCAB.id(kind, value)
    with pytest.raises(InvalidParamsError):
        VOCAB.id("KEY", "H major")


def test_tempo_bins_and_bar_positions():
    assert TEMPO_BPM[0] == 40.0 and TEMPO_BPM[-1] == 240.0 and len(TEMPO_BPM) == 16
    assert all(a < b for a, b in zip(TEMPO_BPM, TEMPO_BPM[1:]))
    ratios = [b / a for a, b in zip(TEMPO_BPM, TEMPO_BPM[1:])]
    assert max(ratios) - min(ratios) < 0.01  # geometric
    assert [tempo_bin(b) for b in TEMPO_BPM] == list(range(16))
    assert tempo_bin(10) == 0 and tempo_bin(1000) == 15 and tempo_bin(120) == 9
    with pytest.raises(InvalidParamsError):
        tempo_bin(0)
    assert [bar_positions(ts) for ts in [(4, 4), (3, 4), (6, 8), (12, 8), (2, 2), (3, 8)]] == [
        16, 12, 12, 24, 16, 6,
    ]  # fmt: skip
    assert tk.duration_bin(0.2) == 1 and tk.duration_bin(17) == 16 and tk.duration_bin(18) == 16
    assert tk.duration_bin(19) == 20 and tk.duration_bin(500) == 64
    assert tk.velocity_bin(1) == 24 and tk.velocity_bin(48) == 40 and tk.velocity_bin(127) == 124


# ---------------------------------------------------------------------------------------------
# Encode / decode


def _on_grid_scores():
    chorale = Score(
        [*tk.style_tracks("chorale")],
        [
            Note(0, 76, 4 * S, 88, 0), Note(0, 67, 4 * S, 88, 1), Note(0, 60, 4 * S, 72, 2),
            Note(0, 48, 12 * S, 72, 3), Note(4 * S, 74, 2 * S, 100, 0), Note(6 * S, 72, 2 * S, 100, 0),
            Note(12 * S, 71, 24 * S, 56, 0),  # 3/4: crosses into the next bar, no tie
            Note(12 * S, 55, 12 * S, 56, 3), Note(23 * S, 79, S, 124, 0),
        ],
        tempo=TEMPO_BPM[7], time_signature=(3, 4), key=parse_key("G major"), bars=3,
    )  # fmt: skip
    accomp = Score(
        [*tk.style_tracks("melody_accomp")],
        [
            Note(0, 72, 8 * S, 88, 0), Note(0, 60, 16 * S, 56, 1), Note(0, 64, 16 * S, 56, 1),
            Note(0, 67, 16 * S, 56, 1), Note(15 * S, 74, 64 * S, 112, 0),
            Note(16 * S, 108, 3 * S, 24, 0), Note(16 * S, 21, 3 * S, 24, 1),
        ],
        tempo=TEMPO_BPM[9], time_signature=(4, 4), key=None, bars=2,
    )  # fmt: skip
    folk = Score(
        [*tk.style_tracks("folk")],
        [Note(i * 2 * S, 62 + i % 5, 2 * S, 88, 0) for i in range(18)],
        tempo=TEMPO_BPM[12], time_signature=(6, 8), key=parse_key("D minor"), bars=3,
    )  # fmt: skip
    drums = Score(
        [*tk.style_tracks("drums")],
        [Note(i * S, 42, S, 72, 0) for i in range(0, 16, 2)]
        + [Note(0, 36, S, 112, 0), Note(4 * S, 38, S, 100, 0), Note(8 * S, 36, S, 112, 0)],
        tempo=TEMPO_BPM[10], time_signature=(4, 4), bars=1,
    )  # fmt: skip
    return {"chorale": chorale, "melody_accomp": accomp, "folk": folk, "drums": drums}


@pytest.mark.parametrize("style", ["chorale", "melody_accomp", "folk", "drums"])
def test_round_trip_on_grid(style):
    score = _on_grid_scores()[style]
    seq = encode(score, style)
    back = decode(seq)
    assert back.notes == score.sorted_notes()
    assert (back.time_signature, back.key, back.tempo, back.bars) == (
        score.time_signature, score.key, score.tempo, score.bars,
    )  # fmt: skip
    assert [(t.name, t.program, t.is_drum) for t in back.tracks] == [
        (t.name, t.program, t.is_drum) for t in STYLE_TRACKS[style]
    ]
    assert encode(back, style) == seq
    assert _names(seq)[:5] == [
        "BOS", f"STYLE_{style}", VOCAB.names[VOCAB.id("KEY", score.key)],
        f"TS_{score.time_signature[0]}/{score.time_signature[1]}",
        f"TEMPO_{tempo_bin(score.tempo)}",
    ]  # fmt: skip
    assert _names(seq).count("BAR") == score.bars and seq[-1] == VOCAB.id("EOS")
    assert decode(seq, tempo=77.0).tempo == 77.0


def test_event_order_inside_a_position_and_bar():
    seq = encode(_on_grid_scores()["melody_accomp"], "melody_accomp")
    names = _names(seq)
    first_bar = names[names.index("BAR") + 1 : names.index("BAR", 6)]
    assert first_bar[:17] == [
        "POS_0",
        "TRK_0", "PITCH_72", "VEL_88", "DUR_8",
        "TRK_1", "PITCH_67", "VEL_56", "DUR_16",  # same track: pitch descending
        "TRK_1", "PITCH_64", "VEL_56", "DUR_16",
        "TRK_1", "PITCH_60", "VEL_56", "DUR_16",
        "POS_15",
    ][:17]  # fmt: skip
    assert first_bar[17:] == ["POS_15", "TRK_0", "PITCH_74", "VEL_112", "DUR_64"]


def test_quantization_and_binning():
    score = Score(
        tk.style_tracks("folk"),
        [
            Note(59, 60, 7, 1, 0),  # -> pos 0 (59/120 rounds down), dur 1 16th, vel 24
            Note(180, 62, 17 * S, 127, 0),  # 1.5 16ths rounds half up -> pos 2; dur 16
            Note(15 * S + 61, 10, 19 * S, 64, 0),  # into bar 2; pitch 10 -> 22; dur 20; vel 56
            Note(4 * S, 120, 100 * S, 80, 0),  # pitch 120 -> 108; dur 64 (the longest bin)
            Note(4 * S + 10, 120, 2 * S, 80, 0),  # same cell: merged, the longer is kept
        ],
        time_signature=(4, 4),
        bars=1,
    )
    back = decode(encode(score, "folk"))
    assert back.bars == 2  # a note rounded into bar 2 grows the piece
    assert [(n.start // S, n.pitch, n.duration // S, n.velocity) for n in back.notes] == [
        (0, 60, 1, 24), (2, 62, 16, 124), (4, 108, 64, 72), (16, 22, 20, 56),
    ]  # fmt: skip


def test_encode_refuses_what_it_cannot_represent():
    score = Score(tk.style_tracks("folk"), [Note(0, 60, S, 80, 0)], time_signature=(7, 8))
    with pytest.raises(InvalidParamsError) as info:
        encode(score, "folk")
    assert "7/8" in info.value.message and "6/8" in info.value.hint
    with pytest.raises(InvalidParamsError):
        encode(Score(tk.style_tracks("folk"), [Note(0, 60, S, 80, 0)]), "jazz")
    two = Score(tk.style_tracks("melody_accomp"), [Note(0, 60, S, 80, 1)])
    with pytest.raises(InvalidParamsError) as info:
        encode(two, "folk")
    assert info.value.hint
    assert encode(two, "style5")[1] == VOCAB.id("STYLE", "style5")  # spare styles: 8 tracks
    empty = encode(Score(tk.style_tracks("folk"), [], bars=2), "folk")
    assert _names(empty)[5:] == ["BAR", "BAR", "EOS"]


def test_tokens_survive_a_midi_file_round_trip():
    for style, score in _on_grid_scores().items():
        seq = encode(score, style)
        decoded = decode(seq)
        again = read_midi(midi_bytes(decoded))
        # A MIDI file is as long as its last note: notes held past the last bar add bars.
        end = max(n.start + n.duration for n in decoded.notes)
        assert again.bars == max(decoded.bars, -(-end // decoded.bar_ticks))
        bar, eos = VOCAB.id("BAR"), VOCAB.id("EOS")
        assert encode(again, style) == seq[:-1] + [bar] * (again.bars - decoded.bars) + [eos]


# ---------------------------------------------------------------------------------------------
# Grammar


def test_encode_output_follows_the_grammar():
    for style, score in _on_grid_scores().items():
        seq = encode(score, style)
        kinds = [VOCAB.kind(t) for t in seq]
        assert kinds[0] in allowed_next(None)
        for a, b in zip(kinds, kinds[1:]):
            assert b in allowed_next(a), (a, b)
        assert allowed_next("EOS") == ()
        state = GrammarState()
        for t in seq:
            assert state.allowed()[t], VOCAB.names[t]
            state.feed(t)
        assert state.allowed().tolist() == (np.arange(VOCAB.size) == VOCAB.id("PAD")).tolist()
        state = GrammarState()
        for t in seq[:7]:
            state.feed(t)
        assert tk.allowed_mask(seq[:7]).tolist() == state.allowed().tolist()


def test_grammar_state_refuses_bad_tokens_and_masks_values():
    state = GrammarState()
    with pytest.raises(InvalidParamsError):
        state.feed(VOCAB.id("BAR"))
    for t in [VOCAB.id("BOS"), VOCAB.id("STYLE", "chorale"), VOCAB.id("KEY", None)]:
        state.feed(t)
    state.feed(VOCAB.id("TS", (3, 4)))
    state.feed(VOCAB.id("TEMPO", 3))
    state.feed(VOCAB.id("BAR"))
    mask = state.allowed()
    pos = [VOCAB.value(t) for t in VOCAB.ids("POS") if mask[t]]
    assert pos == list(range(12)) and mask[VOCAB.id("BAR")] and mask[VOCAB.id("EOS")]
    state.feed(VOCAB.id("POS", 5))
    assert [VOCAB.value(t) for t in np.flatnonzero(state.allowed())] == [0, 1, 2, 3]  # chorale
    for t in [VOCAB.id("TRK", 2), VOCAB.id("PITCH", 60), VOCAB.id("VEL", 88), VOCAB.id("DUR", 4)]:
        state.feed(t)
    mask = state.allowed()
    assert [VOCAB.value(t) for t in VOCAB.ids("TRK") if mask[t]] == [2, 3]
    assert [VOCAB.value(t) for t in VOCAB.ids("POS") if mask[t]] == list(range(6, 12))
    state.feed(VOCAB.id("TRK", 2))
    mask = state.allowed()
    assert [VOCAB.value(t) for t in VOCAB.ids("PITCH") if mask[t]] == list(range(21, 60))
    with pytest.raises(InvalidParamsError):
        state.feed(VOCAB.id("PITCH", 60))


def test_sequences_sampled_under_the_grammar_round_trip_exactly():
    rng = random.Random(7)
    for _ in range(60):
        state, seq = GrammarState(), []
        while not seq or VOCAB.kind(seq[-1]) != "EOS":
            allowed = np.flatnonzero(state.allowed())
            eos = VOCAB.id("EOS")
            t = eos if (len(seq) > 150 and eos in allowed) else int(rng.choice(allowed))
            state.feed(t)
            seq.append(t)
        style = _style_of(seq)
        back = decode(seq)
        assert encode(back, style) == seq
        assert back.bars == _names(seq).count("BAR")


def test_decode_is_tolerant_of_random_tokens():
    rng = random.Random(11)
    for i in range(300):
        n = rng.randint(0, 300)
        if i % 3 == 0:  # plausible: a valid header, then random body tokens
            body = [int(rng.choice(VOCAB.ids(k))) for k in _random_kinds(rng, n)]
            seq = [1, int(rng.choice(VOCAB.ids("STYLE"))), 12, 39, 50] + body
        else:
            seq = [rng.randint(-5, VOCAB.size + 5) for _ in range(n)]
        score = decode(seq)
        bar_count = 0
        for t in seq:
            if t == VOCAB.id("EOS"):
                break
            bar_count += t == VOCAB.id("BAR")
        assert score.bars == bar_count
        bar = score.bar_ticks
        for note in score.notes:
            assert 0 <= note.track < len(score.tracks) and note.duration > 0
            assert note.start < max(1, score.bars) * bar and note.start % S == 0
        style = _style_of(seq)
        once = encode(score, style)
        assert encode(decode(once), style) == once  # a fixed point after one round
    assert decode(np.array([1, 4, 12, 39, 50, 3, 64, 96, 150, 196, 207, 2])).notes
    assert decode([]).notes == [] and decode([None, "x", 2**80]).bars == 0


def _random_kinds(rng, n):
    cycle = ["POS", "TRK", "PITCH", "VEL", "DUR"]
    out = []
    while len(out) < n:
        r = rng.random()
        if r < 0.1:
            out.append("BAR")
        elif r < 0.2:
            out.append(rng.choice(cycle))
        else:
            out += cycle[rng.randint(0, 1) :]
    return out
