"""MusicGPT with tiny random weights: KV-cache parity torch vs ONNX Runtime, and the sampler's
constraints (grammar, exact bars, key lock, voice ranges, sliding window) on real ONNX sessions.

Random weights are right here: the constraints must hold whatever the model prefers."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from genstudio.generators.music import sampler, tokens  # noqa: E402
from genstudio.generators.music.score import parse_key  # noqa: E402
from genstudio.ml.music.model import MusicGPTConfig, build  # noqa: E402
from genstudio.ml.music.train import write_music_pack  # noqa: E402


def tiny_cfg(max_len: int = 64) -> MusicGPTConfig:
    return MusicGPTConfig(
        vocab=tokens.VOCAB.size, n_layer=2, n_head=2, d_model=32, max_len=max_len, dropout=0.0
    )


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    torch.manual_seed(0)
    net, _ = build(tiny_cfg())
    out = tmp_path_factory.mktemp("pack") / "music-gpt"
    return write_music_pack(net, tiny_cfg(), out, version="0.test", training={"steps": 0})


def test_cache_steps_match_the_full_forward():
    torch.manual_seed(1)
    cfg = tiny_cfg()
    net, _ = build(cfg)
    net.eval()
    tok = torch.randint(0, cfg.vocab, (2, 20))
    full = net(tok)
    past = []
    for _ in range(cfg.n_layer):
        past += [torch.zeros(2, 2, 16, 0), torch.zeros(2, 2, 0, 16)]
    logits, *past = net.step(tok[:, :12], *past)
    assert torch.allclose(logits, full[:, 11], atol=1e-5)
    for i in range(12, 20):
        logits, *past = net.step(tok[:, i : i + 1], *past)
        assert torch.allclose(logits, full[:, i], atol=1e-5)


def test_onnx_cache_matches_torch(pack):
    model = sampler.MusicModel(pack)
    net, _ = build(tiny_cfg())
    from genstudio.ml import common

    tensors, _ = common.load_checkpoint(pack / "weights.safetensors")
    net.load_state_dict(tensors)
    net.eval()
    seq = np.array([sampler.header_tokens("folk", "D major", (6, 8), 110) + [3, 64, 96, 150]])
    with torch.no_grad():
        want = net(torch.from_numpy(seq)).numpy()
    logits, past = model.run(seq[:, :5], model.empty())
    assert np.allclose(logits, want[:, 4], atol=1e-4)
    for i in range(5, seq.shape[1]):
        logits, past = model.run(seq[:, i : i + 1], past)
        assert np.allclose(logits, want[:, i], atol=1e-4)
    assert model.cache_len(past) == seq.shape[1]


@pytest.mark.parametrize(
    ("style", "key", "ts", "bars"),
    [("chorale", "G major", (4, 4), 3), ("folk", "E minor", (6, 8), 5), ("folk", None, (3, 4), 2)],
)
def test_sampled_sequences_keep_every_constraint(pack, style, key, ts, bars):
    model = sampler.MusicModel(pack)
    prompt = sampler.header_tokens(style, key, ts, 100)
    grammar = sampler.Grammar(prompt, sampler.Constraints(bars=bars))
    seq = sampler.generate_tokens(
        model, prompt, grammar, sampler.SampleSettings(temperature=1.0, seed=3)
    )
    v = tokens.VOCAB
    assert seq[-1] == v.id("EOS")
    assert seq.count(v.id("BAR")) == bars
    tokens.allowed_mask(seq[:-1])  # the codec's own grammar accepts every token
    score = tokens.decode(seq, tempo=100)
    assert score.n_bars == bars and score.time_signature == ts
    ranges = sampler.RANGES[style]
    for n in score.notes:
        lo, hi = ranges[n.track]
        assert lo <= n.pitch <= hi
        if key:
            assert n.pitch % 12 in parse_key(key).scale()


def test_sampling_is_seeded_and_slides_past_the_context(pack):
    model = sampler.MusicModel(pack)  # max_len 64: 24 bars of chorale slide many times
    prompt = sampler.header_tokens("chorale", "C major", (4, 4), 90)

    def run(seed):
        g = sampler.Grammar(prompt, sampler.Constraints(bars=24))
        return sampler.generate_tokens(model, prompt, g, sampler.SampleSettings(seed=seed))

    a, b, c = run(5), run(5), run(6)
    assert a == b and a != c
    assert len(a) > 3 * model.max_len
    assert a.count(tokens.VOCAB.id("BAR")) == 24


def test_sample_logits_top_k_top_p_and_greedy():
    rng = np.random.Generator(np.random.PCG64(0))
    logits = np.array([5.0, 4.0, 0.0, -1.0, 9.0])
    allowed = np.array([True, True, True, True, False])
    assert sampler.sample_logits(logits, allowed, rng, temperature=0) == 0
    picks = {sampler.sample_logits(logits, allowed, rng, top_k=2) for _ in range(200)}
    assert picks == {0, 1}
    picks = {sampler.sample_logits(logits, allowed, rng, top_p=0.5) for _ in range(100)}
    assert picks == {0}


def test_public_io_binding_path_gives_the_same_music(pack):
    """The pybind fast path and ONNX Runtime's public IO-binding API produce the same tokens."""
    prompt = sampler.header_tokens("folk", "A minor", (4, 4), 100)

    def run(model):
        g = sampler.Grammar(prompt, sampler.Constraints(bars=6))
        return sampler.generate_tokens(model, prompt, g, sampler.SampleSettings(seed=11))

    fast = sampler.MusicModel(pack)
    slow = sampler.MusicModel(pack)
    slow._c = None
    assert fast._c is not None  # the fast path is really in use on this ONNX Runtime
    assert run(fast) == run(slow)


def test_generated_bars_are_never_silent_unless_allowed(pack):
    model = sampler.MusicModel(pack)
    v = tokens.VOCAB
    prompt = sampler.header_tokens("folk", "D major", (4, 4), 100)
    for seed in range(4):
        g = sampler.Grammar(prompt, sampler.Constraints(bars=6))
        seq = sampler.generate_tokens(model, prompt, g, sampler.SampleSettings(seed=seed))
        pairs = list(zip(seq, seq[1:]))
        assert (v.id("BAR"), v.id("BAR")) not in pairs and (v.id("BAR"), v.id("EOS")) not in pairs
    g = sampler.Grammar(prompt + [v.id("BAR")], sampler.Constraints(bars=3, silent_bars=True))
    assert g.mask()[v.id("BAR")]  # an empty bar may follow when allowed
    g = sampler.Grammar(prompt + [v.id("BAR")], sampler.Constraints(bars=3))
    assert not g.mask()[v.id("BAR")] and not g.mask()[v.id("EOS")]


def test_top_p_defaults_to_the_style_and_the_user_value_wins():
    from genstudio.generators.music.generator import STYLE_TOP_P, MusicParams

    assert MusicParams.from_dict({"style": "folk"}).nucleus() == STYLE_TOP_P["folk"] == 0.9
    assert MusicParams.from_dict({"style": "chorale"}).nucleus() == 0.95
    assert MusicParams.from_dict({"style": "folk", "top_p": 0.5}).nucleus() == 0.5
    with pytest.raises(Exception, match="top-p|Top-p|top_p"):
        MusicParams.from_dict({"style": "folk", "top_p": 1.5})
