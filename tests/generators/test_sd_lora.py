"""LoRA on Stable Diffusion ONNX models (genstudio.generators.images.sd.lora), against diffusers.

A LoRA is made on the tiny SD 1.x UNet with peft (random, non-zero up matrices, so it changes
the picture), saved by diffusers in its own (PEFT) key format and converted by diffusers to the
kohya format (with alpha set to half the rank, so the alpha scaling is checked). The reference
is diffusers' pipeline after ``load_lora_weights`` + ``fuse_lora(lora_scale=w)``; GenStudio
merges the same file into its ONNX sessions with numpy. A text-encoder LoRA (kohya keys) is
checked against the torch text encoder with the same update added by hand.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from genstudio.core.errors import InvalidParamsError, ModelPackError, UnsafeModelError
from genstudio.generators.images.sd import lora
from tests.generators.test_sd_onnx import NEGATIVE, PROMPT, SIZE, _payload, _run_diffusers

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation:DeprecationWarning", "ignore::FutureWarning"
)
torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

TOL = 1e-3
CPU = ["CPUExecutionProvider"]
TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.2"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from genstudio.ml.images.tiny_sd import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("lora") / "sd1", kind="sd1")


@pytest.fixture(scope="module")
def files(tiny, tmp_path_factory):
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_kohya
    from peft import LoraConfig, get_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    out = tmp_path_factory.mktemp("lora-files")
    pipe = StableDiffusionPipeline.from_pretrained(str(tiny.diffusers_dir))
    torch.manual_seed(0)
    cfg = LoraConfig(r=4, lora_alpha=4, target_modules=TARGETS, init_lora_weights=False)
    pipe.unet.add_adapter(cfg)
    StableDiffusionPipeline.save_lora_weights(
        str(out), unet_lora_layers=get_peft_model_state_dict(pipe.unet), safe_serialization=True
    )
    peft_file = out / "pytorch_lora_weights.safetensors"
    kohya = convert_state_dict_to_kohya(load_file(str(peft_file)))
    kohya = {k: (torch.tensor(2.0) if k.endswith(".alpha") else v) for k, v in kohya.items()}
    save_file(kohya, str(out / "kohya.safetensors"))
    # a text-encoder LoRA, kohya keys, made by hand
    g = torch.Generator().manual_seed(1)
    te = {}
    for proj in ("q_proj", "v_proj"):
        key = f"lora_te_text_model_encoder_layers_0_self_attn_{proj}"
        te[f"{key}.lora_down.weight"] = torch.randn(2, 768, generator=g) * 0.15
        te[f"{key}.lora_up.weight"] = torch.randn(768, 2, generator=g) * 0.15
        te[f"{key}.alpha"] = torch.tensor(1.0)
    save_file(te, str(out / "te.safetensors"))
    return {"peft": peft_file, "kohya": out / "kohya.safetensors", "te": out / "te.safetensors"}


def _reference(tiny, path, weight):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(tiny.diffusers_dir))
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(str(path))
    pipe.fuse_lora(lora_scale=weight)
    return pipe


def _ours(tiny, loras, name):
    from genstudio.generators.images.sd.pipeline import SDPipeline

    pipe = SDPipeline(tiny.onnx_dir, CPU, threads=1, loras=loras)
    return pipe.generate(
        PROMPT,
        negative_prompt=NEGATIVE,
        steps=4,
        guidance_scale=7.5,
        scheduler=name,
        seed=11,
        width=SIZE,
        height=SIZE,
        output="float",
    )


def _config(tiny):
    return json.loads((tiny.onnx_dir / "scheduler" / "scheduler_config.json").read_text())


@pytest.mark.parametrize("name", ["euler", "dpmpp_2m"])
@pytest.mark.parametrize("fmt", ["peft", "kohya"])
def test_a_unet_lora_matches_diffusers(tiny, files, monkeypatch, fmt, name):
    weight = 0.8
    torch.set_num_threads(1)
    ref = _reference(tiny, files[fmt], weight)
    theirs = _run_diffusers(monkeypatch, ref, _config(tiny), name, 11, 4, 7.5)
    mine = _ours(tiny, [(files[fmt], weight)], name)
    err = float(np.abs(mine - theirs).max())
    assert err < TOL, f"max abs difference {err:.2e} against diffusers with the LoRA"
    plain = _ours(tiny, [], name)
    assert float(np.abs(plain - mine).max()) > 100 * TOL  # the LoRA really changes the image


def test_a_text_encoder_lora_matches_the_update_added_by_hand(tiny, files, monkeypatch):
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import load_file

    torch.set_num_threads(1)
    ref = StableDiffusionPipeline.from_pretrained(str(tiny.diffusers_dir))
    ref.set_progress_bar_config(disable=True)
    sd = load_file(str(files["te"]))
    text = getattr(ref.text_encoder, "text_model", ref.text_encoder)  # transformers 4 / 5
    layer = text.encoder.layers[0].self_attn
    with torch.no_grad():
        for proj in ("q_proj", "v_proj"):
            key = f"lora_te_text_model_encoder_layers_0_self_attn_{proj}"
            up, down = sd[f"{key}.lora_up.weight"], sd[f"{key}.lora_down.weight"]
            scale = 1.5 * float(sd[f"{key}.alpha"]) / down.shape[0]
            getattr(layer, proj).weight += scale * up @ down
    theirs = _run_diffusers(monkeypatch, ref, _config(tiny), "euler", 11, 4, 7.5)
    mine = _ours(tiny, [(files["te"], 1.5)], "euler")
    assert float(np.abs(mine - theirs).max()) < TOL


def test_two_loras_add_up(tiny, files):
    both = _ours(tiny, [(files["kohya"], 0.5), (files["te"], 1.0)], "euler")
    one = _ours(tiny, [(files["kohya"], 0.5)], "euler")
    assert float(np.abs(both - one).max()) > 100 * TOL


def test_the_model_file_is_not_changed(tiny, files):
    before = (tiny.onnx_dir / "unet" / "model.onnx").read_bytes()
    _ours(tiny, [(files["peft"], 1.0)], "euler")
    assert (tiny.onnx_dir / "unet" / "model.onnx").read_bytes() == before


def test_prompt_tags_are_read_and_taken_out():
    clean, tags = lora.parse_prompt("a castle, <lora:pixelStyle:0.8> at dusk <LORA:ink>")
    assert clean == "a castle, at dusk"
    assert tags == [lora.LoraTag("pixelStyle", 0.8), lora.LoraTag("ink", 1.0)]
    assert lora.parse_prompt("no tags here") == ("no tags here", [])
    with pytest.raises(InvalidParamsError, match="out of range"):
        lora.parse_prompt("<lora:x:99>")


def test_find_lora_and_its_a1111_hash(files, tmp_path):
    import hashlib

    folder = files["kohya"].parent
    assert lora.find_lora("kohya", [tmp_path, folder]) == files["kohya"]
    with pytest.raises(InvalidParamsError, match="no LoRA named"):
        lora.find_lora("missing", [folder])
    with pytest.raises(InvalidParamsError):
        lora.find_lora("../kohya", [folder])
    data = files["kohya"].read_bytes()
    n = int.from_bytes(data[:8], "little")
    assert lora.a1111_hash(files["kohya"]) == hashlib.sha256(data[8 + n :]).hexdigest()[:12]


def test_bad_loras_are_refused(tiny, tmp_path):
    from safetensors.torch import save_file

    from genstudio.generators.images.sd.pipeline import SDPipeline

    other = tmp_path / "xl.safetensors"
    save_file(
        {
            "lora_unet_down_blocks_5_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 8),
            "lora_unet_down_blocks_5_attentions_0_proj_in.lora_up.weight": torch.zeros(8, 2),
        },
        str(other),
    )
    with pytest.raises(ModelPackError, match="does not have"):
        SDPipeline(tiny.onnx_dir, CPU, threads=1, loras=[(other, 1.0)])
    pick = tmp_path / "evil.safetensors"
    marker = tmp_path / "ran"
    pick.write_bytes(_payload(marker, 4))
    with pytest.raises(UnsafeModelError):
        SDPipeline(tiny.onnx_dir, CPU, threads=1, loras=[(pick, 1.0)])
    assert not marker.exists()
    half = tmp_path / "half.safetensors"
    save_file(
        {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 32)},
        str(half),
    )
    with pytest.raises(ModelPackError, match="half a LoRA"):
        SDPipeline(tiny.onnx_dir, CPU, threads=1, loras=[(half, 1.0)])


def test_a_model_without_a_weight_map_says_how_to_get_one(tiny, files, tmp_path):
    import shutil

    from genstudio.generators.images.sd.pipeline import SDPipeline

    folder = tmp_path / "optimum-export"
    shutil.copytree(tiny.onnx_dir, folder)
    (folder / "unet" / lora.WEIGHT_MAP).unlink()
    with pytest.raises(ModelPackError, match="converted itself") as e:
        SDPipeline(folder, CPU, threads=1, loras=[(files["peft"], 1.0)])
    assert "models import" in (e.value.hint or "")


def test_prompt_tags_apply_the_lora_and_are_written_as_a1111_does(tiny, files, tmp_path):
    """As a user types it: ``<lora:name:weight>`` in the prompt of ``generate image``; the
    LoRA is found in ``loras/`` beside the model; sd-parsers reads the tag and its hash."""
    import shutil
    import subprocess
    import sys

    from sd_parsers import ParserManager

    from genstudio.generators.images.sd.pipeline import SDPipeline

    models = tmp_path / "models"
    shutil.copytree(tiny.onnx_dir, models / "tiny")
    (models / "loras").mkdir()
    shutil.copy(files["kohya"], models / "loras" / "inkStyle.safetensors")
    prompt = "a red castle <lora:inkStyle:0.7>"

    def cmd(text, out):
        return [
            sys.executable, "-m", "genstudio", "generate", "image", "--model",
            str(models / "tiny"), "--prompt", text, "--steps", "3", "--width", "64",
            "--height", "64", "--count", "1", "--seed", "4", "--scheduler", "euler",
            "--out", str(out),
        ]  # fmt: skip

    out = subprocess.run(cmd(prompt, tmp_path / "o"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    [png] = list((tmp_path / "o").glob("*.png"))
    info = ParserManager().parse(str(png))
    assert info.full_prompt == prompt  # A1111 keeps the tag in the prompt
    want = lora.a1111_hash(files["kohya"])
    # A1111's own line (sd-parsers 0.6 reads the prompt but drops this key; A1111 reads it)
    assert f'Lora hashes: "inkStyle: {want}"' in info.raw_parameters["parameters"]
    from genstudio.generators.images import metadata

    back = metadata.read_metadata(png)
    assert back is not None and back.extra["Lora hashes"] == f"inkStyle: {want}"
    from PIL import Image

    with Image.open(png, formats=["PNG"]) as im:
        got = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
    pipe = SDPipeline(models / "tiny", CPU, loras=[(files["kohya"], 0.7)])
    kw = {"steps": 3, "seed": 4, "width": 64, "height": 64, "scheduler": "euler"}
    ref = pipe.generate("a red castle", output="float", **kw)[0]
    assert float(np.abs(got - ref).max()) <= 1.5 / 255  # the same picture, 8-bit rounded
    plain = SDPipeline(models / "tiny", CPU).generate("a red castle", output="float", **kw)[0]
    assert float(np.abs(plain - ref).max()) > 0.05
    missing = subprocess.run(
        cmd("a <lora:nope>", tmp_path / "o2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode != 0 and "no LoRA named 'nope'" in missing.stdout + missing.stderr
    assert "Traceback" not in missing.stderr
