"""The music generator's modes end to end on a real ONNX session (tiny random-weight pack: the
structure and constraints must hold whatever the weights), MIDI read back by mido."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")
mido = pytest.importorskip("mido")

from genstudio.core.errors import InvalidParamsError  # noqa: E402
from genstudio.generators.base import RunContext  # noqa: E402
from genstudio.generators.music import midi  # noqa: E402
from genstudio.generators.music.generator import MusicGenerator, MusicParams  # noqa: E402
from genstudio.generators.music.score import Note, Score, Track, parse_key  # noqa: E402
from genstudio.ml.music.model import MusicGPTConfig, build  # noqa: E402
from genstudio.ml.music.train import write_music_pack  # noqa: E402


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    from genstudio.generators.music import tokens

    torch.manual_seed(0)
    cfg = MusicGPTConfig(vocab=tokens.VOCAB.size, n_layer=2, n_head=2, d_model=32, max_len=96)
    net, _ = build(cfg)
    out = tmp_path_factory.mktemp("pack") / "music-gpt"
    write_music_pack(net, cfg, out, version="0.test", training={"steps": 0})
    return MusicGenerator(out)


@pytest.fixture
def clip(tmp_path):
    """A two-bar G-major tune in 3/4 with a drum track, as a MIDI file."""
    tracks = [Track("Tune", 40), Track("Kit", 0, True)]
    melody = [67, 71, 74, 72, 71, 69]
    notes = [Note(i * 480, p, 480, 90, 0) for i, p in enumerate(melody)]
    notes += [Note(i * 480, 36, 120, 100, 1) for i in range(6)]
    score = Score(tracks, notes, 96.0, (3, 4), parse_key("G major"), 2)
    path = tmp_path / "clip.mid"
    midi.write_midi(score, path)
    return path


def run(gen, **kw):
    outs = []
    ctx = RunContext(emit=lambda o: outs.append(o) or str(len(outs)))
    gen.run(MusicParams.from_dict({"audio": False, **kw}), ctx)
    return outs


def read(output):
    return mido.MidiFile(file=io.BytesIO(output.data)), midi.read_midi(output.data)


def test_generate_writes_the_requested_bars_tempo_meter_and_key(gen):
    outs = run(gen, style="folk", key="E minor", tempo=132, time_signature="6/8", bars=6, seed=2)
    assert len(outs) == 1 and outs[0].ext == "mid" and outs[0].kind == "music"
    mf, score = read(outs[0])
    metas = [m for t in mf.tracks for m in t if m.is_meta]
    assert any(m.type == "set_tempo" and round(mido.tempo2bpm(m.tempo)) == 132 for m in metas)
    assert any(m.type == "time_signature" and (m.numerator, m.denominator) == (6, 8) for m in metas)
    assert score.n_bars == 6 and outs[0].extra["bars"] == 6
    assert all(n.pitch % 12 in parse_key("E minor").scale() for n in score.notes)


def test_continue_keeps_the_clip_its_key_and_meter(gen, clip):
    outs = run(gen, mode="continue", inputs=[str(clip)], bars=3, seed=1, key="")
    _, score = read(outs[0])
    assert score.time_signature == (3, 4) and score.n_bars == 2 + 3
    first = sorted((n.start, n.pitch) for n in score.notes if n.start < 2 * score.bar_ticks)
    assert first == [(i * 480, p) for i, p in enumerate([67, 71, 74, 72, 71, 69])]
    assert outs[0].extra["input_key"] == "G major" and outs[0].extra["key"] == "G major"
    assert all(n.pitch % 12 in parse_key("G major").scale() for n in score.notes)


def test_variations_keep_the_rhythm(gen, clip):
    outs = run(gen, mode="variations", inputs=[str(clip)], strength=1.0, seed=4)
    _, score = read(outs[0])
    assert [n.start for n in sorted(score.notes)] == [i * 480 for i in range(6)]
    assert score.n_bars == 2


def test_interpolate_and_loop_and_drums(gen, clip, tmp_path):
    outs = run(gen, mode="interpolate", inputs=[str(clip), str(clip)], bars=2, seed=3)
    _, score = read(outs[0])
    assert score.n_bars == 2 + 2 + 2
    outs = run(gen, mode="loop", style="chorale", key="C major", bars=4, seed=5)
    _, score = read(outs[0])
    assert score.n_bars == 4 and len(outs[0].extra["seam"]["logprob_first_bar"]) == 6
    outs = run(gen, mode="drums", inputs=[str(clip)], seed=6)
    _, score = read(outs[0])
    drums = [n for n in score.notes if score.tracks[n.track].is_drum]
    assert drums and score.n_bars == 2
    assert any(t.is_drum for t in score.tracks)


def test_same_seed_same_music(gen):
    a = run(gen, style="chorale", key="A minor", bars=2, seed=9)[0].data
    b = run(gen, style="chorale", key="A minor", bars=2, seed=9)[0].data
    assert a == b


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "remix"},
        {"style": "jazz"},
        {"key": "H major"},
        {"time_signature": "7/7"},
        {"tempo": 5000},
        {"bars": 0},
        {"bars": 100000},
        {"temperature": -1},
        {"mode": "continue"},
        {"mode": "interpolate", "inputs": ["a.mid"]},
    ],
)
def test_absurd_values_are_clear_errors(bad):
    with pytest.raises(InvalidParamsError):
        MusicParams.from_dict(bad)


def test_drum_only_clip_cannot_be_continued(gen, tmp_path):
    score = Score([Track("Kit", 0, True)], [Note(0, 36, 120, 100, 0)], 100.0, (4, 4), None, 1)
    path = tmp_path / "drums.mid"
    midi.write_midi(score, path)
    with pytest.raises(InvalidParamsError, match="no melodic notes"):
        run(gen, mode="continue", inputs=[str(path)])
