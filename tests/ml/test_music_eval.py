"""``genstudio eval music``, ``bench music`` and ``ml report music`` end to end on a small real
corpus cache (a few pieces per collection) and a tiny random-weight pack: every code path runs,
every output is checked by independent readers. (The numbers of the shipped model are in its
model card; random weights only prove the plumbing.)"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("music21")
mido = pytest.importorskip("mido")

from genstudio.generators.music import midi, tokens  # noqa: E402
from genstudio.ml.music import data  # noqa: E402
from genstudio.ml.music.model import MusicGPTConfig, build  # noqa: E402
from genstudio.ml.music.train import write_music_pack  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    cache = tmp_path_factory.mktemp("music-data")
    data.build(cache, limit_per_collection=25)
    torch.manual_seed(0)
    cfg = MusicGPTConfig(vocab=tokens.VOCAB.size, n_layer=2, n_head=2, d_model=32, max_len=128)
    net, _ = build(cfg)
    pack = write_music_pack(
        net, cfg, tmp_path_factory.mktemp("pack") / "music-gpt", version="0.t", training={}
    )
    return cache, pack


def test_eval_reports_every_metric_beside_heldout(setup):
    from genstudio.ml.music.evaluate import evaluate

    cache, pack = setup
    r = evaluate(cache, n=2, bars=4, pack_dir=pack, n_loop=2, n_continue=2, music21_check=2)
    assert "n_generated" in r["styles"]["folk"]  # 100 folk pieces: some are held out
    for style, row in r["styles"].items():
        if "skipped" in row:
            continue
        assert row["n_generated"] == 2 and row["n_heldout"] >= 1, style
        assert set(row["metrics"]) >= {"pitch_class_entropy", "polyphony", "pitch_range"}
        assert row["key_lock_in_scale"] == 1.0  # the mask makes this exact, whatever the weights
    assert r["validity"]["valid_share"] == 1.0, r["validity"]["problems"]
    assert r["validity"]["music21_checked"] == 2
    assert set(r["loop"]["metrics"]) >= {"leap", "note_density"}
    assert r["continue"]["meter_kept"] == 1.0


def test_check_midi_catches_a_wrong_file():
    from genstudio.generators.music.score import Note, Score, Track
    from genstudio.ml.music.evaluate import check_midi

    score = Score([Track("A")], [Note(0, 60, 480), Note(1440, 62, 480)], 100.0, (3, 4), None, 2)
    blob = midi.midi_bytes(score)
    assert check_midi(blob, 2, 100.0, (3, 4)) == []
    problems = check_midi(blob, 3, 120.0, (4, 4), with_music21=False)
    assert len(problems) == 3  # tempo, time signature and length are all wrong
    trailing = Score([Track("A")], [Note(0, 60, 480)], 100.0, (3, 4), None, 2)
    problems = check_midi(midi.midi_bytes(trailing), 2, 100.0, (3, 4))
    assert problems == ["the last note is in bar 1, not in the last bar (2)"]


def test_bench_json_and_report(setup, tmp_path):
    from genstudio.ml.music.bench import bench_music
    from genstudio.ml.music.report import EXAMPLES, model_card, write_examples

    _, pack = setup
    b = bench_music(pack, runs=2, warmup=1, gen_runs=3)
    json.dumps(b)
    kv = b["kv_cache_batch1"]
    assert kv["onnxruntime"]["p50_tok_s"] > 0 and kv["ort_vs_torch"] > 0
    assert b["generate_32_bars_folk"]["n"] == 2 and b["audio_32_bars"]["synth"]["p50_s"] > 0
    rows = write_examples(tmp_path, pack)
    assert [r["name"] for r in rows] == [n for n, _ in EXAMPLES]
    for r in rows:
        mf = mido.MidiFile(tmp_path / "music" / f"{r['name']}.mid")
        assert mf.type == 1 and len(mf.tracks) >= 2
        assert (tmp_path / "music" / f"{r['name']}.png").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / "music" / f"{r['name']}.ogg").read_bytes()[:4] == b"OggS"
    card = model_card(pack, None, b)
    assert "tokens/s" in card and "public domain" in card


def test_training_resumes_and_exports_a_working_pack(setup, tmp_path):
    from genstudio.generators.music import sampler
    from genstudio.ml.music.train import TrainConfig, export_pack, train
    from genstudio.runtime.packs import load_pack

    cache, _ = setup
    cfg = TrainConfig(
        batch=2,
        max_len=64,
        n_layer=1,
        n_head=2,
        d_model=16,
        max_steps=2,
        warmup=1,
        save_every=1,
        eval_every=2,
        threads=1,
    )
    run = tmp_path / "run"
    first = train(run, cache, cfg)
    assert first["step"] == 2 and first["best_valid"] > 0
    cfg.max_steps = 4
    second = train(run, cache, cfg)  # resumes from the checkpoint, does not start over
    assert second["step"] == 4
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "valid_loss" in x] == [2, 4]
    pack = export_pack(run, tmp_path / "music-gpt", notes=["test"])
    assert load_pack(pack).raw["training"]["steps"] == 4
    model = sampler.MusicModel(pack)
    prompt = sampler.header_tokens("folk", "G major", (3, 4), 100)
    g = sampler.Grammar(prompt, sampler.Constraints(bars=2))
    seq = sampler.generate_tokens(model, prompt, g, sampler.SampleSettings(seed=1))
    assert seq.count(tokens.VOCAB.id("BAR")) == 2
