"""The numpy + ONNX Runtime Stable Diffusion pipeline against diffusers' PyTorch pipelines.

Tiny random-weight pipelines (``genstudio.ml.images.tiny_sd``) are built once per module, as a
diffusers folder (safetensors) and as the Optimum ONNX layout with the same weights. Both sides
then run the whole pipeline - tokenizer, text encoder, classifier-free guidance, scheduler loop,
VAE - and the float images (diffusers ``output_type="np"``, ours ``output="float"``) are
compared.

Same noise on both sides: GenStudio draws everything from one
``np.random.Generator(PCG64(seed))`` - the initial latents first, then each ancestral step's
noise (Euler ancestral, LCM). diffusers gets the initial latents passed in (txt2img) and its
``randn_tensor`` replaced (monkeypatch), in the pipeline and scheduler modules, by a function
that draws from a second generator seeded the same way; the two runs thus see identical noise
as long as they draw the same shapes in the same order (itself part of what is checked). The
VAE encoder is read at its posterior mean on both sides (diffusers' ``retrieve_latents`` is
patched to ``sample_mode="argmax"``; GenStudio always uses the mean). For LCM img2img and
inpainting, diffusers' standard pipelines skip the first steps of the full schedule while
GenStudio's LCM shrinks the schedule (as diffusers' own LatentConsistencyModelImg2ImgPipeline
does): the reference pipeline's ``get_timesteps`` is patched to that pipeline's
``set_timesteps(steps, strength=strength)``.

Tolerance: max |ours - diffusers| over all pixels of [0, 1] float images; float32 ONNX Runtime
against float32 torch. Seen on the tiny models (x86-64, 2 cores): see ``TOL`` and the table in
the report; asserted: ``TOL``. Every case also checks that the images are not flat and that a
different seed moves them by far more than the tolerance, so the comparison can fail.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from genstudio.core.errors import (
    Cancelled,
    InvalidParamsError,
    ModelPackError,
    UnsafeModelError,
)
from genstudio.generators.images.schedulers import SCHEDULERS

# diffusers 0.42 on numpy 2 warns from its own np.array(tensor) calls; nothing of ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation:DeprecationWarning", "ignore::FutureWarning"
)

TOL = 1e-4  # max abs difference on [0, 1] images; seen: <= 2e-5 (sd2 + lcm), mostly 3e-6..1e-5
SIZE = 32
CPU = ["CPUExecutionProvider"]
PROMPT = "a photo of a red dragon castle, high quality oil painting"
NEGATIVE = "dark fog"
# diffusers class and overrides for each GenStudio scheduler name
DIFFUSERS = {
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "solver_type": "midpoint"},
    ),
    "lcm": ("LCMScheduler", {}),
}
NOISY = (
    "schedulers.scheduling_euler_ancestral_discrete",
    "schedulers.scheduling_lcm",
    "schedulers.scheduling_ddim",
    "schedulers.scheduling_dpmsolver_multistep",
    "pipelines.stable_diffusion.pipeline_stable_diffusion",
    "pipelines.stable_diffusion.pipeline_stable_diffusion_img2img",
    "pipelines.stable_diffusion.pipeline_stable_diffusion_inpaint",
)


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from genstudio.ml.images.tiny_sd import build_tiny_sd

    root = tmp_path_factory.mktemp("tiny_sd")
    return {k: build_tiny_sd(root / k, kind=k) for k in ("sd1", "sd2", "inpaint", "lcm")}


# One intra-op thread on each side: ORT's and torch's thread pools both spin-wait, and run in
# turns in one process on two cores they slow each other down some 40x.
@pytest.fixture(scope="module")
def ours(tiny):
    from genstudio.generators.images.sd.pipeline import SDPipeline

    return {k: SDPipeline(t.onnx_dir, CPU, threads=1) for k, t in tiny.items()}


@pytest.fixture(scope="module")
def refs(tiny):
    import torch
    from diffusers import (
        StableDiffusionImg2ImgPipeline,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
    )

    torch.set_num_threads(1)
    pipes = {}
    for k in ("sd1", "sd2", "lcm"):
        pipes[k] = StableDiffusionPipeline.from_pretrained(str(tiny[k].diffusers_dir))
    pipes["inpaint"] = StableDiffusionInpaintPipeline.from_pretrained(
        str(tiny["inpaint"].diffusers_dir)
    )
    pipes["sd1-img2img"] = StableDiffusionImg2ImgPipeline(**pipes["sd1"].components)
    pipes["sd1-inpaint"] = StableDiffusionInpaintPipeline(**pipes["sd1"].components)
    for p in pipes.values():
        p.set_progress_bar_config(disable=True)
    return pipes


def _picture() -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / (SIZE - 1)
    img = np.stack([x, y, 1.0 - x * y], axis=2)
    img[8:20, 10:24] = (0.9, 0.2, 0.1)
    return (img * 255).round().astype(np.uint8)


def _mask() -> np.ndarray:
    m = np.zeros((SIZE, SIZE), np.uint8)
    m[6:22, 9:27] = 255
    return m


def _run_diffusers(monkeypatch, pipe, config, name, seed, steps, guidance, **kw):
    """One diffusers run with GenStudio's noise stream (see the module docstring)."""
    import diffusers
    import PIL.Image
    import torch

    rng = np.random.Generator(np.random.PCG64(seed))

    def numpy_randn(shape, generator=None, device=None, dtype=None, layout=None):
        arr = rng.standard_normal(tuple(shape), dtype=np.float32)
        return torch.from_numpy(arr).to(dtype or torch.float32)

    def argmax_latents(encoder_output, generator=None, sample_mode="sample"):
        return encoder_output.latent_dist.mode()

    for mod in NOISY:
        module = diffusers
        for part in mod.split("."):
            module = getattr(module, part)
        monkeypatch.setattr(module, "randn_tensor", numpy_randn)
        if hasattr(module, "retrieve_latents"):
            monkeypatch.setattr(module, "retrieve_latents", argmax_latents)

    cls_name, overrides = DIFFUSERS[name]
    pipe.scheduler = getattr(diffusers, cls_name).from_config(config, **overrides)
    args = {}
    image, mask = kw.pop("image", None), kw.pop("mask", None)
    if image is not None:
        args["image"] = PIL.Image.fromarray(image)
        args["strength"] = kw.pop("strength")
        if name == "lcm":  # LatentConsistencyModelImg2ImgPipeline's schedule (see docstring)

            def lcm_timesteps(num_inference_steps, strength, device):
                pipe.scheduler.set_timesteps(num_inference_steps, strength=strength)
                return pipe.scheduler.timesteps, len(pipe.scheduler.timesteps)

            monkeypatch.setattr(pipe, "get_timesteps", lcm_timesteps)
    else:  # the same initial latents, passed in
        args["latents"] = torch.from_numpy(
            rng.standard_normal((1, 4, SIZE // 2, SIZE // 2), dtype=np.float32)
        )
    if mask is not None:
        args["mask_image"] = PIL.Image.fromarray(mask, mode="L")
    with torch.no_grad():
        out = pipe(
            PROMPT,
            negative_prompt=NEGATIVE,
            num_inference_steps=steps,
            guidance_scale=guidance,
            height=SIZE,
            width=SIZE,
            output_type="np",
            **args,
        ).images
    monkeypatch.undo()
    return np.asarray(out, dtype=np.float32)


CASES = [
    pytest.param(mode, kind, name, id=f"{mode}-{kind}-{name}")
    for mode, kind in (
        ("txt2img", "sd1"),
        ("txt2img", "sd2"),
        ("img2img", "sd1"),
        ("inpaint9", "inpaint"),
        ("inpaint-blend", "sd1"),
    )
    for name in SCHEDULERS
] + [pytest.param("txt2img", "lcm", "lcm", id="txt2img-lcm_unet-lcm")]


@pytest.mark.parametrize(("mode", "kind", "name"), CASES)
def test_matches_diffusers(tiny, ours, refs, monkeypatch, mode, kind, name):
    pipe = ours[kind]
    config = json.loads((tiny[kind].onnx_dir / "scheduler" / "scheduler_config.json").read_text())
    steps, guidance, seed = 4, 7.5, 11
    kw: dict = {}
    ref_key = kind
    if mode == "img2img":
        steps, kw, ref_key = 5, {"image": _picture(), "strength": 0.6}, "sd1-img2img"
    elif mode == "inpaint9":
        kw = {"image": _picture(), "mask": _mask(), "strength": 1.0}
    elif mode == "inpaint-blend":
        kw, ref_key = {"image": _picture(), "mask": _mask(), "strength": 0.75}, "sd1-inpaint"
    if kind == "lcm":
        guidance = 8.0  # an LCM-distilled UNet takes it as timestep_cond, no CFG batch

    theirs = _run_diffusers(
        monkeypatch, refs[ref_key], config, name, seed, steps, guidance, **dict(kw)
    )
    mine = pipe.generate(
        PROMPT,
        negative_prompt=NEGATIVE,
        steps=steps,
        guidance_scale=guidance,
        scheduler=name,
        seed=seed,
        output="float",
        **kw,
    )
    assert mine.shape == theirs.shape == (1, SIZE, SIZE, 3)
    assert mine.dtype == np.float32
    err = float(np.abs(mine - theirs).max())
    assert err < TOL, f"max abs difference {err:.2e} against diffusers"
    # the comparison can fail: the images are not flat, and another seed moves them far more
    assert float(theirs.std()) > 0.01
    if name != "euler_a" and kind != "lcm":
        return  # one scheduler per mode is enough for that (and saves time)
    other = pipe.generate(
        PROMPT,
        negative_prompt=NEGATIVE,
        steps=steps,
        guidance_scale=guidance,
        scheduler=name,
        seed=seed + 1,
        output="float",
        **kw,
    )
    assert float(np.abs(other - theirs).max()) > 100 * TOL


# ------------------------------------------------------------------------------- determinism


def test_same_seed_same_image_other_seed_other(ours):
    pipe = ours["sd1"]
    a = pipe.generate(PROMPT, steps=3, scheduler="euler_a", seed=5, num_images=2)
    b = pipe.generate(PROMPT, steps=3, scheduler="euler_a", seed=5, num_images=2)
    c = pipe.generate(PROMPT, steps=3, scheduler="euler_a", seed=6, num_images=2)
    assert a.dtype == np.uint8 and a.shape == (2, SIZE, SIZE, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])  # two images of a batch differ


def test_progress_preview_and_cancel(ours):
    from genstudio.generators.images.sd.pipeline import preview_rgb

    pipe = ours["sd1"]
    seen = []
    pipe.generate(PROMPT, steps=3, scheduler="ddim", progress=lambda *a: seen.append(a))
    assert [s[:2] for s in seen] == [(1, 3), (2, 3), (3, 3)]
    assert seen[-1][2].shape == (1, 4, SIZE // 2, SIZE // 2)
    assert preview_rgb(seen[-1][2]).shape == (1, SIZE // 2, SIZE // 2, 3)

    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        pipe.generate(PROMPT, steps=5, scheduler="ddim", cancel=cancel)
    assert len(calls) == 3  # checked before each step: stopped before the third


def test_timings_split_the_call(ours):
    pipe = ours["sd1"]
    pipe.generate(PROMPT, steps=3, scheduler="euler")
    t = pipe.last_timings
    for key in ("tokenize", "text_encoder", "unet", "loop_other", "vae_decode", "total"):
        assert t[key] >= 0.0
    assert t["steps"] == 3
    parts = sum(t[k] for k in ("tokenize", "text_encoder", "vae_encode", "unet", "loop_other"))
    assert parts + t["vae_decode"] <= t["total"] * 1.001
    assert 0.0 <= t["outside_unet_share_per_step"] < 1.0


def test_bench_reports_overhead_share(tiny):
    from genstudio.generators.images.sd.pipeline import bench_sd_overhead

    r = bench_sd_overhead(tiny["sd1"].onnx_dir, steps=4, runs=3, providers=CPU, threads=1)
    assert r["runs"] == 3 and r["steps"] == 4
    assert 0.0 < r["unet_p50_s"] <= r["total_p50_s"] <= r["total_p95_s"]
    assert 0.0 <= r["outside_unet_share_per_step_p50"] < 1.0
    assert r["meets_target"] == (r["outside_unet_share_per_step_p50"] <= 0.05)
    print(
        f"\n  overhead share per step on the tiny model: {r['outside_unet_share_per_step_p50']:.2%}"
    )


# ------------------------------------------------------------------------------- tokenizer

TOKENIZER_PROMPTS = [
    "a photo of a cat",
    "A PHOTO   of\ta Cat!!",
    "castle, dragon; knight (masterpiece:1.2) [best] {quality}",
    "It's the knight's dragon - they're old, we'll see, I'd go",
    "Café déjà vu naïve Über straße",
    "pixel art 1234567 sprite 3.14",
    "emoji 🐉 and 日本語 mixed with Ελληνικά",
    "<|endoftext|> inside text <|startoftext|>",
    "!!! wow ! ?! ...",
    "",
    " ".join(["golden hour dragon castle"] * 40),  # longer than 77 tokens
]


@pytest.mark.parametrize("kind", ["sd1", "sd2"])
def test_tokenizer_matches_transformers(tiny, kind):
    transformers = pytest.importorskip("transformers")
    from genstudio.generators.images.sd.tokenizer import ClipTokenizer

    folder = tiny[kind].onnx_dir / "tokenizer"
    ref = transformers.CLIPTokenizer.from_pretrained(str(folder))
    ours = ClipTokenizer.from_folder(folder)
    assert (ours.pad_id == 0) == (kind == "sd2")  # SD 2 pads with "!", id 0
    for text in TOKENIZER_PROMPTS:
        want = ref(text, padding="max_length", max_length=77, truncation=True).input_ids
        got = ours.encode(text)
        assert got.ids.shape == (1, 77)
        assert got.ids[0].tolist() == want, text
        assert got.truncated == (len(ref(text, add_special_tokens=False).input_ids) > 75)


def test_tokenizer_from_vocab_and_from_tokenizer_json_agree(tiny, tmp_path):
    from genstudio.generators.images.sd.tokenizer import ClipTokenizer

    src = tiny["sd2"].onnx_dir / "tokenizer"
    bpe_only = tmp_path / "tok"
    shutil.copytree(src, bpe_only)
    (bpe_only / "tokenizer.json").unlink()
    a, b = ClipTokenizer.from_folder(src), ClipTokenizer.from_folder(bpe_only)
    for text in TOKENIZER_PROMPTS:
        assert np.array_equal(a.encode(text).ids, b.encode(text).ids), text


def test_long_prompt_is_truncated_and_reported(ours):
    pipe = ours["sd1"]
    prompt = ("dragon castle " * 800)[:10_000]
    img = pipe.generate(prompt, steps=1, scheduler="euler")
    assert img.shape == (1, SIZE, SIZE, 3)
    tok = pipe.last_prompt_tokens["prompt"]
    assert tok.truncated and tok.n_tokens > 75 and "dragon" in tok.dropped_text
    assert any("only the first 75 are used" in w for w in pipe.last_warnings)
    pipe.generate("a cat", steps=1, scheduler="euler")
    assert pipe.last_warnings == []


# ------------------------------------------------------------------------------- validation


def test_validate_describes_each_kind(tiny, tmp_path):
    from genstudio.generators.images.sd.folder import validate_sd_folder

    sd1 = validate_sd_folder(tiny["sd1"].onnx_dir)
    assert (sd1.variant, sd1.family, sd1.text_dim, sd1.latent_channels) == ("sd1", "sd1", 768, 4)
    assert (sd1.timestep_dtype, sd1.timestep_rank, sd1.unet_dtype) == ("float32", 1, "float32")
    assert sd1.pad_token == "<|endoftext|>" and not sd1.has_tokenizer_json
    assert sd1.scaling_factor == pytest.approx(0.18215) and sd1.vae_scale_factor == 2
    assert sd1.default_size == (SIZE, SIZE) and sd1.has_vae_encoder
    assert sd1.vae_encoder_output == "latent_parameters"
    assert set(sd1.onnx_files) == {
        "unet/model.onnx",
        "text_encoder/model.onnx",
        "vae_decoder/model.onnx",
        "vae_encoder/model.onnx",
    }
    sd2 = validate_sd_folder(tiny["sd2"].onnx_dir)
    assert (sd2.variant, sd2.text_dim, sd2.timestep_dtype) == ("sd2", 1024, "int64")
    assert sd2.pad_token == "!" and sd2.has_tokenizer_json
    assert sd2.scaling_factor == pytest.approx(0.2) and sd2.prediction_type == "v_prediction"
    inp = validate_sd_folder(tiny["inpaint"].onnx_dir)
    assert (inp.variant, inp.inpaint, inp.unet_in_channels) == ("inpaint", True, 9)
    lcm = validate_sd_folder(tiny["lcm"].onnx_dir)
    assert lcm.lcm and lcm.time_cond_dim == 32 and lcm.recommended["scheduler"] == "lcm"

    turbo_dir = tmp_path / "sd-2.1-export"
    shutil.copytree(tiny["sd2"].onnx_dir, turbo_dir)
    (turbo_dir / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(
            {
                "_class_name": "EulerDiscreteScheduler",
                "beta_schedule": "scaled_linear",
                "beta_start": 0.00085,
                "beta_end": 0.012,
                "steps_offset": 1,
                "timestep_spacing": "trailing",
            }
        )
    )
    turbo = validate_sd_folder(turbo_dir)
    assert turbo.variant == "sd-turbo" and turbo.turbo
    assert turbo.recommended == {"steps": 1, "guidance_scale": 0.0, "scheduler": "euler"}
    assert "SD-Turbo" in turbo.describe()


@pytest.fixture()
def broken(tiny, tmp_path):
    """A fresh copy of the sd1 export to break."""
    d = tmp_path / "model"
    shutil.copytree(tiny["sd1"].onnx_dir, d)
    return d


def _refused(path, *words, cls=ModelPackError):
    from genstudio.generators.images.sd.folder import validate_sd_folder

    with pytest.raises(cls) as info:
        validate_sd_folder(path)
    e = info.value
    assert e.hint, "every refusal carries a hint"
    text = e.user_message().lower()
    for w in words:
        assert w.lower() in text, (w, text)
    return e


def test_refuses_a_folder_that_is_not_an_sd_export(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    _refused(tmp_path, "not a stable diffusion onnx export", "genstudio models import")
    _refused(tmp_path / "nothing-here", "does not exist")
    (tmp_path / "one.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    _refused(tmp_path, "single-file checkpoint")


def test_refuses_pickles(tmp_path, broken):
    ckpt = tmp_path / "v1-5-pruned.ckpt"
    ckpt.write_bytes(b"\x80\x02}q\x00.")
    e = _refused(ckpt, "pickle", "refused", cls=UnsafeModelError)
    assert "hidden code" in e.hint
    (broken / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    _refused(broken, "pickle", "diffusion_pytorch_model.bin", cls=UnsafeModelError)


def test_refuses_a_pickle_disguised_as_onnx(broken):
    (broken / "unet" / "model.onnx").write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    _refused(broken, "pickle", cls=UnsafeModelError)


def test_refuses_missing_parts(broken):
    shutil.rmtree(broken / "tokenizer")
    _refused(broken, "tokenizer is missing", "vocab.json")


def test_refuses_missing_unet(broken):
    (broken / "unet" / "model.onnx").unlink()
    _refused(broken, "unet", "missing")


def test_refuses_a_diffusers_pytorch_folder(tiny):
    _refused(tiny["sd1"].diffusers_dir, "pytorch weights", "not an onnx export")


def test_refuses_a_corrupt_unet(broken):
    p = broken / "unet" / "model.onnx"
    p.write_bytes(p.read_bytes()[:5000] + b"garbage" * 10)
    _refused(broken, "unet/model.onnx is damaged", "again")


def test_refuses_wrong_unet_inputs(broken):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "not-a-unet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(broken / "unet" / "model.onnx"))
    _refused(broken, "inputs x", "sample, timestep, encoder_hidden_states", "missing")


def test_refuses_sdxl(broken):
    (broken / "text_encoder_2").mkdir()
    _refused(broken, "stable diffusion xl")


def test_refuses_external_data_outside_the_folder(broken, tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4,), np.float32), "w")
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    entry = w.external_data.add()
    entry.key, entry.value = "location", "../../secret.bin"
    graph = helper.make_graph(
        [helper.make_node("Add", ["sample", "w"], ["out_sample"])],
        "unet",
        [
            helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["b", 4, "h", "w"]),
            helper.make_tensor_value_info("timestep", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info(
                "encoder_hidden_states", TensorProto.FLOAT, ["b", 77, 768]
            ),
        ],
        [helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["b", 4, "h", "w"])],
        initializer=[w],
    )
    onnx.save(helper.make_model(graph), str(broken / "unet" / "model.onnx"))
    from genstudio.generators.images.sd.folder import validate_sd_folder

    with pytest.raises(UnsafeModelError, match="outside"):
        validate_sd_folder(broken)


# ------------------------------------------------------------------------------- bad params


def test_refuses_bad_generation_params(ours):
    pipe = ours["sd1"]
    with pytest.raises(InvalidParamsError, match="prompt is empty") as e:
        pipe.generate("   ")
    assert e.value.hint
    with pytest.raises(InvalidParamsError, match="Unknown scheduler") as e:
        pipe.generate(PROMPT, scheduler="plms")
    assert "euler_a" in e.value.hint
    with pytest.raises(InvalidParamsError, match="mask is 16x16 but the image is 32x32"):
        pipe.generate(PROMPT, image=_picture(), mask=np.ones((16, 16), np.uint8))
    with pytest.raises(InvalidParamsError, match="needs an image"):
        pipe.generate(PROMPT, mask=_mask())
    with pytest.raises(InvalidParamsError, match="multiple of 4"):
        pipe.generate(PROMPT, width=30)
    with pytest.raises(InvalidParamsError, match="characters long"):
        pipe.generate("x" * 200_000)
    with pytest.raises(InvalidParamsError, match="seed"):
        pipe.generate(PROMPT, seed=-1)
    with pytest.raises(InvalidParamsError, match="image is 32x32"):
        pipe.generate(PROMPT, image=_picture(), width=64)
    with pytest.raises(InvalidParamsError, match="inpainting model"):
        ours["inpaint"].generate(PROMPT)


# ------------------------------------------------------------------------------- import


def test_import_copies_atomically_and_describes(tiny, tmp_path):
    import hashlib

    from genstudio.generators.images.sd.folder import IMPORT_FILE, import_sd_folder

    models = tmp_path / "models"
    dest = import_sd_folder(tiny["sd2"].onnx_dir, models)
    assert dest == models / "onnx" and (dest / "unet" / "model.onnx").is_file()
    meta = json.loads((dest / IMPORT_FILE).read_text())
    assert meta["kind"] == "sd-onnx" and meta["variant"] == "sd2"
    assert meta["source"] == str(tiny["sd2"].onnx_dir.resolve())
    for rel, f in meta["files"].items():
        assert f["sha256"] == hashlib.sha256((dest / rel).read_bytes()).hexdigest()
    assert set(meta["files"]) >= {"unet/model.onnx", "text_encoder/model.onnx"}
    with pytest.raises(ModelPackError, match="already"):
        import_sd_folder(tiny["sd2"].onnx_dir, models)
    dest2 = import_sd_folder(tiny["inpaint"].onnx_dir, models, name="my inpainter!")
    assert dest2.name == "my-inpainter"
    assert json.loads((dest2 / IMPORT_FILE).read_text())["variant"] == "inpaint"
    assert sorted(p.name for p in models.iterdir()) == ["my-inpainter", "onnx"]  # no temp left


def test_import_refuses_an_invalid_folder_and_leaves_nothing(broken, tmp_path):
    from genstudio.generators.images.sd.folder import import_sd_folder

    (broken / "model.ckpt").write_bytes(b"\x80\x02.")
    models = tmp_path / "models"
    with pytest.raises(UnsafeModelError):
        import_sd_folder(broken, models)
    assert not models.exists() or not any(models.iterdir())


# ------------------------------------------------------------------------------- small parts


def test_guidance_embedding_matches_diffusers(refs):
    import torch

    from genstudio.generators.images.sd.pipeline import guidance_scale_embedding

    w = np.array([0.0, 1.5, 7.0], np.float32)
    for dim in (32, 33, 256):
        theirs = refs["sd1"].get_guidance_scale_embedding(torch.from_numpy(w), embedding_dim=dim)
        # sin/cos of float32 arguments up to 7000: one ulp of the argument is ~5e-4
        np.testing.assert_allclose(guidance_scale_embedding(w, dim), theirs.numpy(), atol=1e-3)
        assert np.array_equal(guidance_scale_embedding(w[:1], dim), theirs.numpy()[:1])


def test_timestep_follows_the_declared_dtype_and_rank(ours):
    pipe = ours["sd2"]
    assert pipe._timestep(946.4).dtype == np.int64 and pipe._timestep(946.6)[0] == 947
    scalar = dataclasses.replace(pipe.info, timestep_rank=0, timestep_dtype="float16")
    old, pipe.info = pipe.info, scalar
    try:
        t = pipe._timestep(946.4)
        assert t.shape == () and t.dtype == np.float16
    finally:
        pipe.info = old


class _RecordingBinding:
    def __init__(self, session):
        self.session, self.inputs, self.output = session, {}, None

    def bind_cpu_input(self, name, arr):
        self.inputs[name] = arr

    def bind_output(self, name, device):
        self.output = (name, device)

    def copy_outputs_to_cpu(self):
        return [self.result]


class _FakeCudaSession:
    """Wraps the real CPU UNet session behind the IO-binding API and records what it got.
    This checks GenStudio's plumbing only; a real CUDA run was not possible here (no GPU)."""

    def __init__(self, real, fp16):
        self.real, self.fp16, self.bindings = real, fp16, []

    def get_inputs(self):
        out = []
        for i in self.real.get_inputs():
            t = "tensor(float16)" if self.fp16 and i.type == "tensor(float)" else i.type
            out.append(type("In", (), {"name": i.name, "type": t})())
        return out

    def get_outputs(self):
        return self.real.get_outputs()

    def io_binding(self):
        b = _RecordingBinding(self)
        self.bindings.append(b)
        return b

    def run_with_iobinding(self, b):
        feeds = {
            k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in b.inputs.items()
        }
        b.result = self.real.run(None, feeds)[0]


@pytest.mark.parametrize("fp16", [False, True])
def test_cuda_path_uses_io_binding_and_declared_dtypes(ours, fp16):
    from genstudio.generators.images.sd.pipeline import _Part

    pipe = ours["sd1"]
    cpu = pipe.generate(PROMPT, steps=2, scheduler="ddim", output="float")
    real_part = pipe.unet
    fake = _FakeCudaSession(real_part.session, fp16)
    pipe.unet = _Part(fake, "CUDAExecutionProvider")
    try:
        cuda = pipe.generate(PROMPT, steps=2, scheduler="ddim", output="float")
    finally:
        pipe.unet = real_part
    assert len(fake.bindings) == 2  # one bound UNet run per step
    b = fake.bindings[0]
    assert b.output == ("out_sample", "cuda")
    assert b.inputs["sample"].dtype == (np.float16 if fp16 else np.float32)
    assert b.inputs["sample"].shape[0] == 2  # uncond + cond in one call
    assert np.abs(cuda - cpu).max() < (2e-2 if fp16 else 1e-6)


# ------------------------------------------------------------------------------- issue 11
# Defects 7 and 8 on a torch-free tiny export (tests/campaigns/malicious_models.build_sd).


class _Opener:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload(marker, protocol: int) -> bytes:
    import pickle  # noqa: TID251 - only to write the files that must be refused

    return pickle.dumps({"w": _Opener(str(marker))}, protocol=protocol)


@pytest.fixture()
def mini(tmp_path):
    pytest.importorskip("tokenizers")
    from tests.campaigns.malicious_models import build_sd

    return build_sd(tmp_path / "mini-sd")


def test_the_torch_free_export_validates_and_generates(mini):
    from genstudio.generators.images.sd.folder import validate_sd_folder
    from genstudio.generators.images.sd.pipeline import SDPipeline

    assert validate_sd_folder(mini).variant == "sd1"
    pipe = SDPipeline(mini, CPU, threads=1)
    assert pipe.generate("a cat", steps=1, width=64, height=64) is not None
    assert pipe.vae_encoder is not None


@pytest.mark.parametrize("rel", [".evil.ckpt", ".cache/evil.pt", "unet/.hidden/x.pth"])
def test_dot_file_pickles_are_refused_and_never_imported(mini, tmp_path, rel):
    from genstudio.generators.images.sd.folder import import_sd_folder

    p = mini / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(_payload(tmp_path / "ran", 2))
    e = _refused(mini, "pickle", rel, cls=UnsafeModelError)
    assert "hidden code" in e.hint
    models = tmp_path / "models"
    with pytest.raises(UnsafeModelError, match="pickle"):
        import_sd_folder(mini, models)
    assert not models.exists() or not any(models.rglob("*"))
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize(
    "rel", ["weights.dat", "text_encoder/model.onnx_data", ".cache/x.json", "unet/model.onnx"]
)
def test_pickles_are_refused_by_content_whatever_the_name(mini, tmp_path, protocol, rel):
    (mini / rel).parent.mkdir(parents=True, exist_ok=True)
    (mini / rel).write_bytes(_payload(tmp_path / "ran", protocol))
    _refused(mini, "pickle", rel, cls=UnsafeModelError)
    assert not (tmp_path / "ran").exists()


def test_a_single_pickle_file_named_safetensors_is_called_a_pickle(tmp_path):
    p = tmp_path / "model.safetensors"
    p.write_bytes(_payload(tmp_path / "ran", 0))
    _refused(p, "pickle", cls=UnsafeModelError)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symlinks")
@pytest.mark.parametrize(
    "rel", ["unet/model.onnx", "unet", "unet/weights.pb", "tokenizer/vocab.json"]
)
def test_links_out_of_the_folder_are_refused_at_validation_and_load(mini, tmp_path, rel):
    from genstudio.generators.images.sd.pipeline import SDPipeline
    from tests.campaigns.malicious_models import build_sd

    outside = build_sd(tmp_path / "outside")
    target = mini / rel
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    target.symlink_to(outside / rel)
    _refused(mini, "outside", cls=UnsafeModelError)
    with pytest.raises(UnsafeModelError, match="outside"):
        SDPipeline(mini, CPU, threads=1)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symlinks")
def test_a_part_changed_after_the_pipeline_was_built_is_refused_when_it_loads(mini, tmp_path):
    from genstudio.generators.images.sd.pipeline import SDPipeline
    from tests.campaigns.malicious_models import build_sd

    pipe = SDPipeline(mini, CPU, threads=1)  # the VAE encoder loads on first img2img
    outside = build_sd(tmp_path / "outside")
    (mini / "vae_encoder" / "model.onnx").unlink()
    (mini / "vae_encoder" / "model.onnx").symlink_to(outside / "vae_encoder" / "model.onnx")
    with pytest.raises(UnsafeModelError, match="outside"):
        _ = pipe.vae_encoder


def test_ort_memory_address_external_data_is_refused(mini):
    from tests.campaigns.malicious_models import _external

    weird = mini / "unet" / "*" / "_ORT_MEM_ADDR_" / "*"  # even with a file at that path
    weird.parent.mkdir(parents=True)
    weird.write_bytes(b"\0" * 16)
    _external(mini / "unet" / "model.onnx", "*/_ORT_MEM_ADDR_/*")
    _refused(mini, "_ORT_MEM_ADDR_", cls=UnsafeModelError)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_in_the_folder_is_refused_without_blocking(mini):
    os.mkfifo(mini / "tokenizer" / "merges.txt.fifo")
    _refused(mini, "not a regular file", cls=UnsafeModelError)
