"""A tiny SpriteNet trained for a few steps end to end: resume, export, ONNX-only generation."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from genstudio.generators.base import RunContext  # noqa: E402
from genstudio.generators.sprites import model_gen  # noqa: E402
from genstudio.generators.sprites.generator import SpriteParams  # noqa: E402
from genstudio.ml.sprites.train import TrainConfig, export_pack, train  # noqa: E402
from genstudio.runtime.packs import load_pack  # noqa: E402


def tiny(max_steps: int) -> TrainConfig:
    return TrainConfig(
        batch=2,
        poses_per_char=2,
        enc_frames=2,
        max_steps=max_steps,
        warmup=1,
        save_every=2,
        stats_sheets=20,
        ch=(16, 16, 16, 16),
        code_dim=32,
        threads=1,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    first = train(run, tiny(2))
    assert first["step"] == 2
    second = train(run, tiny(4))  # resumes from the checkpoint, does not start over
    assert second["step"] == 4 and second["seen"] == 8
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(x["ce"]) for x in lines)
    return run


@pytest.fixture(scope="module")
def pack(run_dir, tmp_path_factory):
    return export_pack(run_dir, tmp_path_factory.mktemp("pack") / "sprites-spritenet")


def test_exported_pack_verifies_and_has_no_pickle(pack):
    p = load_pack(pack)
    assert p.kind == "sprites" and "sprites.onnx" in p.files
    assert p.raw["training"]["steps"] == 4
    for f in pack.iterdir():
        assert f.read_bytes()[:1] != b"\x80", f


def test_onnx_generation_is_seeded_pixel_art(pack):
    attrs = [{k: v[0] for k, v in model_gen._load(pack)[2].items()}] * 2
    a = model_gen.generate_sheets(attrs, [5, 6], pack_dir=pack, palette_colors=8)
    b = model_gen.generate_sheets(attrs, [5, 6], pack_dir=pack, palette_colors=8)
    assert a.shape == (2, 4, 6, 32, 32, 4)
    assert np.array_equal(a, b)
    assert np.isin(a[..., 3], (0, 255)).all()
    for sheet in a:
        opaque = sheet[sheet[..., 3] == 255][:, :3]
        assert len(np.unique(opaque, axis=0)) <= 8


def test_spritenet_generator_emits_assets(pack, monkeypatch):
    monkeypatch.setattr(model_gen, "default_pack_dir", lambda: pack)
    gen = model_gen.SpriteNetGenerator()
    outs = []
    ctx = RunContext(emit=lambda o: outs.append(o) or str(len(outs)))
    gen.run(SpriteParams(prompt="red hair", seed=3, count=2, size=64), ctx)
    assert len(outs) == 2 and outs[0].kind == "sprite" and outs[0].params["seed"] == 3
    assert outs[0].extra["attrs"]["hair_color"] == "red"
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(outs[0].data))
    assert img.size == (64 * 6, 64 * 4) and img.mode == "RGBA"


def test_missing_pack_is_a_clear_error(tmp_path):
    from genstudio.core.errors import ModelPackError

    with pytest.raises(ModelPackError, match="missing"):
        model_gen.raw_sheets([{}], [0], pack_dir=tmp_path / "nope")


def test_logit_adjusted_export_records_the_bias(run_dir, tmp_path):
    from genstudio.ml import common
    from genstudio.ml.sprites.bench import _torch_runner

    run = run_dir
    out = export_pack(run, tmp_path / "adjusted", logit_adjust=True)
    raw = load_pack(out).raw
    assert raw["training"]["logit_adjust"] is True
    tensors, _ = common.load_checkpoint(out / "weights.safetensors")
    weights = json.loads((run / "class_weights.json").read_text())["weights"]
    assert np.allclose(tensors["export.logit_bias"].numpy(), -np.log(weights), atol=1e-6)
    # ONNX Runtime and the torch runner of the bench agree on the adjusted pack
    _, session, vocab, z_dim = model_gen._load(out)
    a = np.array([[0] * len(vocab), [1] * len(vocab)], dtype=np.int64)
    z = np.stack([model_gen.latent(i, z_dim) for i in range(2)])
    (got,) = session.run(["indices"], {"attrs": a, "z": z})
    want = _torch_runner(load_pack(out), a, z, 1)()
    assert (got == want).mean() > 0.999
