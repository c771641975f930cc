"""The style-adoption harness (genstudio.ml.music.style_eval) and its material
(genstudio.ml.music.style_data): the distance on hand-made Scores, the NLL windows and the NLL
itself against the sampler's own log-probability, generation under a spare style on a tiny
random-weight pack, and the conversion of real madrigals (rest overflow, voice order, splits)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from genstudio.generators.music import tokens as tk
from genstudio.generators.music.score import Key, Note, Score, Track, transpose
from genstudio.ml.music import style_data, style_eval

BAR = 1920  # 4/4 at 480 ticks per quarter


def _piece(seed: int, *, offset: int = 0, bars: int = 4, rhythm: int = 480) -> Score:
    """A two-voice piece in C major: upper voice on every ``rhythm`` ticks (+ ``offset``),
    lower voice on the half notes; the pitches drawn from the C major scale by ``seed``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes = []
    for t in range(offset, bars * BAR, rhythm):
        notes.append(Note(t, int(rng.choice(scale)), rhythm, 80, 0))
    for t in range(0, bars * BAR, 960):
        notes.append(Note(t, int(rng.choice(scale)) - 12, 960, 70, 1))
    return Score(
        [Track("Upper"), Track("Lower")],
        sorted(notes),
        100.0,
        (4, 4),
        Key(0, "major"),
        bars,
    )


def _set(n: int = 8, **kw) -> list[Score]:
    return [_piece(i, **kw) for i in range(n)]


def test_identical_sets_are_at_distance_zero():
    a = _set()
    d = style_eval.descriptor_distance(a, [replace(s) for s in a])
    assert d["D"] == 0.0
    assert d["descriptors"] == d["pitch_class"] == d["onset"] == 0.0
    assert d["n"] == [8, 8]


def test_octave_is_invisible_but_a_shifted_rhythm_is_not():
    a = _set()
    octave = [transpose(s, 12) for s in a]
    shifted = _set(offset=240)  # same pitches, every upper-voice onset an eighth late
    d_oct = style_eval.descriptor_distance(a, octave)
    d_shift = style_eval.descriptor_distance(a, shifted)
    # no descriptor sees an octave (same pitch classes, same range, same rhythm) ...
    assert d_oct["D"] == pytest.approx(0.0, abs=1e-12)
    # ... a displaced rhythm moves the onset histogram: half the onsets are off the beat now
    assert d_shift["onset"] > 0.2
    assert d_shift["D"] > 0.05 > d_oct["D"]


def test_pitch_classes_are_compared_relative_to_the_key():
    a = _set()
    up = [transpose(s, 2) for s in a]  # D major: notes and key move together
    assert up[0].key == Key(2, "major")
    assert style_eval.descriptor_distance(a, up)["pitch_class"] == pytest.approx(0.0, abs=1e-12)
    # the same notes but claiming C major: now the histogram is off by a tone
    wrong = [replace(s, key=Key(0, "major")) for s in up]
    assert style_eval.descriptor_distance(a, wrong)["pitch_class"] > 0.3
    # relative minor = same diatonic collection: not moved (A minor is C major's)
    rel = [replace(s, key=Key(9, "minor")) for s in a]
    assert style_eval.descriptor_distance(a, rel)["pitch_class"] == pytest.approx(0.0, abs=1e-12)


def test_denser_set_is_further_and_cohen_d_is_capped():
    a = _set()
    dense = _set(rhythm=240)  # twice the notes per bar
    d = style_eval.descriptor_distance(a, dense)
    assert d["per_descriptor"]["note_density"]["d"] == style_eval.D_CAP  # constant sets, differ
    assert d["per_descriptor"]["note_density"]["b"] > d["per_descriptor"]["note_density"]["a"]
    for row in d["per_descriptor"].values():
        assert 0.0 <= row["d"] <= style_eval.D_CAP
    assert d["D"] == pytest.approx(np.mean([d[p] for p in style_eval.PARTS]))


def test_through_codec_puts_real_pieces_on_the_token_grid():
    s = _piece(0)
    odd = replace(s, notes=[replace(n, start=n.start + 7) for n in s.notes])  # off the grid
    back = style_eval.through_codec(odd)
    assert back.key == s.key and back.time_signature == s.time_signature and back.n_bars == 4
    assert all(n.start % (480 // 4) == 0 for n in back.notes)
    assert sorted((n.start, n.pitch) for n in back.notes) == sorted(
        (n.start, n.pitch) for n in s.notes
    )


def test_windows_hold_every_body_token_once_within_max_len():
    seq = tk.encode(_piece(3, bars=12, rhythm=240), "style4")[:-1]
    max_len = 64
    wins = style_eval._windows(seq, max_len)
    assert len(wins) > 2
    bar = tk.VOCAB.id("BAR")
    body = []
    for w in wins:
        assert len(w) <= max_len and w[:5] == seq[:5] and w[5] == bar
        body += w[5:]
    assert body == seq[5:]


def test_splits_are_balanced_by_piece_and_stable():
    paths = [f"monteverdi/madrigal.{b}.{n}.mxl" for b in (3, 4, 5) for n in range(1, 12)]
    s1 = style_data.assign_splits(paths)
    assert s1 == style_data.assign_splits(list(reversed(paths)))
    for book in "345":
        mine = [p for p in paths if style_data.book_of(p) == book]
        n_train = sum(s1[p] == "train" for p in mine)
        assert abs(2 * n_train - len(mine)) <= 1
    held = [p for p in paths if s1[p] == "heldout"]
    halves = style_data.heldout_halves(held)
    assert sorted(halves["A"] + halves["B"]) == sorted(held)
    assert not set(halves["A"]) & set(halves["B"])
    assert abs(len(halves["A"]) - len(halves["B"])) <= 3  # at most one per book


def test_cut_and_silent_voice_excerpts():
    s = _piece(1, bars=8)
    s = replace(s, notes=[n for n in s.notes if not (n.track == 1 and n.start >= 4 * BAR)])
    ex = style_data.excerpts(s, 4, None)
    assert [first for first, _, _ in ex] == [0, 4]
    assert ex[0][1] is not None and ex[0][1].n_bars == 4
    assert ex[1][1] is None and ex[1][2].startswith("silent_voice")
    long = replace(s, notes=[Note(3 * BAR, 60, 3 * BAR, 80, 0)] + s.notes)
    c = style_data.cut(long, 0, 4)
    assert max(n.start + n.duration for n in c.notes) <= 4 * BAR


# --------------------------------------------------------------------------- a tiny pack


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from genstudio.ml.music.model import MusicGPTConfig, build
    from genstudio.ml.music.train import write_music_pack

    torch.manual_seed(0)
    cfg = MusicGPTConfig(vocab=tk.VOCAB.size, n_layer=1, n_head=2, d_model=32, max_len=64)
    net, _ = build(cfg)
    out = tmp_path_factory.mktemp("pack") / "music-gpt"
    write_music_pack(net, cfg, out, version="0.test", training={"steps": 0})
    return out


def test_nll_matches_the_samplers_logprob_and_covers_long_pieces(pack):
    from genstudio.generators.music import sampler

    short = _piece(2, bars=1, rhythm=960)
    seq = tk.encode(short, "style4")[:-1]
    assert len(seq) < 64
    model = sampler.load_model(pack)
    want = -sampler.sequence_logprob(model, seq, 5) / (len(seq) - 5)
    assert style_eval.heldout_nll(pack, "style4", [short]) == pytest.approx(want, rel=1e-6)
    long = _piece(4, bars=6, rhythm=240)  # ~3 windows of 64 tokens
    det = style_eval.nll_detail(pack, "style4", [long])
    assert det["tokens"] == len(tk.encode(long, "style4")) - 6  # every body token, no EOS
    assert 0 < det["nll"] < 10
    other = style_eval.nll_detail(pack, "style4", [long], header_style="chorale")
    assert other["tokens"] == det["tokens"] and other["nll"] != det["nll"]


def test_generate_set_follows_the_headers_for_a_spare_style(pack):
    headers = [
        {"key": "D minor", "time_signature": "4/4", "tempo": 100.0, "tracks": 5},
        {"key": "G major", "time_signature": "3/4", "tempo": 120.0, "tracks": 3},
    ]
    out = style_eval.generate_set(pack, "style4", headers, 2, seed=0)
    assert len(out) == 2
    for s, h in zip(out, headers):
        assert (
            s.n_bars == 2
            and f"{s.time_signature[0]}/{s.time_signature[1]}" == (h["time_signature"])
        )
        assert str(s.key) == h["key"] and s.notes
        assert max(n.track for n in s.notes) < h["tracks"]
        scale = s.key.scale()
        assert all(n.pitch % 12 in scale for n in s.notes)  # key lock
        assert all(n.start + n.duration <= s.length_ticks for n in s.notes)
    again = style_eval.generate_set(pack, "style4", headers, 2, seed=0)
    assert [a.notes for a in again] == [a.notes for a in out]
    chorale = style_eval.generate_set(pack, "chorale", headers[:1], 2, seed=0)[0]
    assert max(n.track for n in chorale.notes) < 4  # the base style's own tracks


# --------------------------------------------------------------------------- real madrigals


def test_madrigal_conversion_fixes_doubled_whole_bar_rests():
    pytest.importorskip("music21")
    coll = style_data.collection("monteverdi")
    # 4.2: 60 measures, some parts write a whole-bar rest as two whole rests (8 quarters)
    score, meta = style_data.convert_piece(coll, "monteverdi/madrigal.4.2.mxl")
    assert meta["rest_overflow_fixed"] > 0
    assert score.n_bars == 60
    assert len(score.tracks) == 5
    means = [np.mean([n.pitch for n in score.notes if n.track == t]) for t in range(5)]
    assert means == sorted(means, reverse=True)  # track 0 = the highest voice
    assert tk.encode(style_data.cut(score, 0, 16), "style4")
    # Book 5: the continuo is dropped, the five voices are kept
    score5, meta5 = style_data.convert_piece(coll, "monteverdi/madrigal.5.1.mxl")
    assert meta5["dropped_parts"] == ["Continuo"] and len(score5.tracks) == 5
