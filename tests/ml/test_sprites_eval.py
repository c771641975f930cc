"""The sprite metrics can fail: a perfect generator scores like real data, a collapsed one does not."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from genstudio.ml.sprites import data  # noqa: E402
from genstudio.ml.sprites.evaluate import (  # noqa: E402
    evaluate,
    frechet,
    identity_retrieval,
    pixel_rules,
    visible,
)
from genstudio.ml.sprites.judge import JudgeConfig, train_judge  # noqa: E402


def test_frechet_is_zero_for_identical_and_grows_with_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 8))
    assert frechet(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet(a, a + 3.0) == pytest.approx(9.0 * 8, rel=0.05)


def test_identity_retrieval_perfect_and_collapsed():
    rng = np.random.default_rng(1)
    ident = rng.normal(size=(50, 1, 16))
    feats = ident + 0.01 * rng.normal(size=(50, 6, 16))  # each sheet: its own identity
    assert identity_retrieval(feats, pool=50) == 1.0
    collapsed = np.repeat(rng.normal(size=(1, 6, 16)), 50, axis=0)  # every sheet the same
    assert identity_retrieval(collapsed, pool=50) < 0.1


def test_pixel_rules_catch_soft_alpha_and_too_many_colours():
    sheets = np.zeros((2, 4, 6, 32, 32, 4), np.uint8)
    sheets[0, ..., 3] = 255
    sheets[0, :, :, :, :, 0] = np.arange(32)[None, None, :, None]  # 32 reds
    sheets[1, 0, 0, 0, 0, 3] = 128  # one soft-alpha pixel
    r = pixel_rules(sheets, max_colors=16)
    assert r["within_palette"] == pytest.approx(0.5)
    assert r["binary_alpha"] < 1.0


def test_hidden_attributes_are_not_scored():
    assert not visible({"headwear": "none"}, "headwear_color")
    assert visible({"headwear": "cap"}, "headwear_color")
    assert visible({"hair_style": "bald"}, "body")


@pytest.mark.slow
def test_evaluate_end_to_end_with_a_tiny_judge(tmp_path):
    vocab = data.vocabulary()
    cfg = JudgeConfig(attr_sizes=[len(v) for v in vocab.values()], n_poses=24, steps=3, batch=4)
    train_judge(tmp_path, cfg)

    def perfect(attrs, seeds):
        return np.stack([data.render(a, s) for a, s in zip(attrs, seeds)])

    def collapsed(attrs, seeds):
        one = data.render(attrs[0], seeds[0])
        return np.stack([one] * len(attrs))

    good = evaluate(tmp_path, perfect, n=24, n_train_ref=24)
    bad = evaluate(tmp_path, collapsed, n=24, n_train_ref=24)
    assert good["pixel_rules"]["binary_alpha"] == 1.0
    assert good["diversity"]["ratio"] > 0.8
    assert bad["diversity"]["generated"] == pytest.approx(0.0, abs=1e-6)
    assert bad["identity_consistency"]["generated"] < good["identity_consistency"]["generated"]
    assert (
        bad["frechet_distance"]["generated_vs_real"] > good["frechet_distance"]["generated_vs_real"]
    )
