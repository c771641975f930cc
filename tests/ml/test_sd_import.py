"""Importing Stable Diffusion as artists have it: single-file .safetensors checkpoints and
diffusers folders, converted to ONNX (genstudio.ml.images.sd_convert), then run by GenStudio's
numpy + ONNX Runtime pipeline and compared with diffusers' PyTorch pipeline on the same weights.

The single files are written by ``tiny_sd.save_single_file`` (diffusers -> original LDM names).
That inverse mapping is itself checked first with an independent reader: diffusers' own
``StableDiffusionPipeline.from_single_file`` must read every tensor back bit-exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from genstudio.core.errors import Cancelled, ModelPackError, UnsafeModelError
from genstudio.generators.base import RunContext
from genstudio.generators.images.schedulers import SCHEDULERS
from genstudio.generators.images.sd.convert import ImportSDParams, classify_source
from tests.generators.test_sd_onnx import NEGATIVE, PROMPT, SIZE, _payload, _run_diffusers

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation:DeprecationWarning", "ignore::FutureWarning"
)
pytest.importorskip("torch")
pytest.importorskip("diffusers")

TOL = 1e-3  # the bound; seen: 0 to 2e-5
KINDS = ("sd1", "sd2")
SOURCES = ("single_file", "diffusers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from genstudio.ml.images.tiny_sd import build_tiny_sd, save_single_file

    root = tmp_path_factory.mktemp("sd_import")
    out = {}
    for kind in KINDS:
        # a single file carries no VAE scale: the tiny SD 2 uses SD's own 0.18215 here
        t = build_tiny_sd(root / kind, kind=kind, vae_scale=0.18215)
        out[kind] = (t, save_single_file(t, root / f"tiny-{kind}.safetensors"))
    return out


def _convert(src, models, **kw):
    from genstudio.ml.images.sd_convert import convert

    seen: list[tuple[float, str]] = []
    ctx = RunContext(progress=lambda f, m, _p: seen.append((f, m)))
    info = convert(ImportSDParams(source=str(src), models_dir=str(models), **kw), ctx)
    return info, seen


@pytest.fixture(scope="module")
def imported(tiny, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    out = {}
    for kind, (t, single) in tiny.items():
        tok = str(t.onnx_dir / "tokenizer")  # the tiny vocabulary is not CLIP's 49,408 tokens
        out[(kind, "single_file")] = _convert(single, models, tokenizer=tok)
        out[(kind, "diffusers")] = _convert(t.diffusers_dir, models, name=f"{kind}-folder")
    return out


@pytest.fixture(scope="module")
def refs(tiny):
    import torch
    from diffusers import StableDiffusionPipeline

    torch.set_num_threads(1)
    pipes = {}
    for kind, (t, _single) in tiny.items():
        pipes[kind] = StableDiffusionPipeline.from_pretrained(str(t.diffusers_dir))
        pipes[kind].set_progress_bar_config(disable=True)
    return pipes


@pytest.mark.parametrize("kind", KINDS)
def test_the_single_file_is_read_back_exactly_by_diffusers(tiny, refs, kind):
    from diffusers import StableDiffusionPipeline

    t, single = tiny[kind]
    theirs = StableDiffusionPipeline.from_single_file(
        str(single), config=str(t.diffusers_dir), local_files_only=True, safety_checker=None
    )
    for part in ("unet", "vae", "text_encoder"):
        a, b = getattr(refs[kind], part).state_dict(), getattr(theirs, part).state_dict()
        assert set(a) == set(b), part
        assert all(bool((a[k] == b[k]).all()) for k in a), part


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("kind", KINDS)
def test_the_import_describes_itself(imported, kind, source, tiny):
    info, seen = imported[(kind, source)]
    assert info["converted"] is True and info["source_kind"] == source
    assert info["variant"] == kind
    rec = json.loads((_model(info) / "genstudio-import.json").read_text())
    assert rec["kind"] == "sd-onnx" and rec["source_kind"] == source
    if source == "single_file":
        import hashlib

        sha = hashlib.sha256(tiny[kind][1].read_bytes()).hexdigest()
        assert rec["model_sha256"] == sha and rec["model_hash"] == sha[:10]
    fractions = [f for f, _m in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("UNet" in m for _f, m in seen)
    # nothing hidden is left behind in the models folder
    assert not [p for p in _model(info).parent.iterdir() if p.name.startswith(".")]


def _model(info):
    from pathlib import Path

    return Path(info["model"])


@pytest.mark.parametrize("name", SCHEDULERS)
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("kind", KINDS)
def test_imported_models_match_diffusers(imported, refs, monkeypatch, kind, source, name):
    from genstudio.generators.images.sd.pipeline import SDPipeline

    info, _ = imported[(kind, source)]
    folder = _model(info)
    config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    steps, guidance, seed = 4, 7.5, 11
    theirs = _run_diffusers(monkeypatch, refs[kind], config, name, seed, steps, guidance)
    pipe = SDPipeline(folder, ["CPUExecutionProvider"], threads=1)
    mine = pipe.generate(
        PROMPT,
        negative_prompt=NEGATIVE,
        steps=steps,
        guidance_scale=guidance,
        scheduler=name,
        seed=seed,
        width=SIZE,
        height=SIZE,
        output="float",
    )
    err = float(np.abs(mine - theirs).max())
    assert err < TOL, f"max abs difference {err:.2e} against diffusers"
    assert float(theirs.std()) > 0.01  # not flat: the comparison can fail


def test_sd2_single_file_gets_v_prediction_and_768(imported):
    info, _ = imported[("sd2", "single_file")]
    folder = _model(info)
    sched = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert sched["prediction_type"] == "v_prediction"
    assert json.loads((folder / "unet" / "config.json").read_text())["sample_size"] * 2 == 768
    info1, _ = imported[("sd1", "single_file")]
    sched1 = json.loads((_model(info1) / "scheduler" / "scheduler_config.json").read_text())
    assert sched1.get("prediction_type", "epsilon") == "epsilon"


def test_turbo_by_name_and_prediction_override(tiny, tmp_path):
    t, single = tiny["sd2"]
    turbo = tmp_path / "my-sd-turbo.safetensors"
    turbo.write_bytes(single.read_bytes())
    tok = str(t.onnx_dir / "tokenizer")
    info, _ = _convert(turbo, tmp_path / "m", tokenizer=tok)
    sched = json.loads((_model(info) / "scheduler" / "scheduler_config.json").read_text())
    assert sched["_class_name"] == "EulerDiscreteScheduler"
    assert sched["timestep_spacing"] == "trailing" and sched["prediction_type"] == "epsilon"
    info, _ = _convert(single, tmp_path / "m", tokenizer=tok, prediction="epsilon", name="eps")
    sched = json.loads((_model(info) / "scheduler" / "scheduler_config.json").read_text())
    assert sched["prediction_type"] == "epsilon"


def test_large_parts_keep_their_weights_beside_the_graph(tiny, tmp_path):
    from genstudio.generators.images.sd.pipeline import SDPipeline
    from genstudio.ml.images.sd_convert import convert

    t, single = tiny["sd1"]
    params = ImportSDParams(
        source=str(single), models_dir=str(tmp_path), tokenizer=str(t.onnx_dir / "tokenizer")
    )
    import torch

    info = convert(params, RunContext(), external_over=0)  # as a 3.4 GB UNet would
    assert torch.is_grad_enabled()  # the caller's autograd mode is left as it was
    folder = _model(info)
    assert (folder / "unet" / "model.onnx_data").stat().st_size > (
        folder / "unet" / "model.onnx"
    ).stat().st_size
    rec = json.loads((folder / "genstudio-import.json").read_text())
    assert "unet/model.onnx_data" in rec["files"]
    a = SDPipeline(folder, ["CPUExecutionProvider"], threads=1)
    b = SDPipeline(t.onnx_dir, ["CPUExecutionProvider"], threads=1)
    kw = {"steps": 2, "seed": 5, "width": SIZE, "height": SIZE, "output": "float"}
    assert float(np.abs(a.generate(PROMPT, **kw) - b.generate(PROMPT, **kw)).max()) < TOL


def test_clip_vocabulary_is_clips():
    from genstudio.ml.images.sd_onnx import clip_vocab

    vocab, merges = clip_vocab()
    assert len(vocab) == 49408 and len(merges) == 48894
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407


def test_clip_tokenizer_encodes_as_clip(tmp_path):
    from genstudio.generators.images.sd.tokenizer import ClipTokenizer
    from genstudio.ml.images.sd_onnx import clip_vocab, write_tokenizer

    vocab, merges = clip_vocab()
    write_tokenizer(tmp_path, vocab, merges)
    ids = ClipTokenizer.from_folder(tmp_path).encode("a photo of a cat").ids[0]
    # CLIP ViT-L/14's ids for this prompt (as openai/clip and transformers give them)
    assert list(ids[:7]) == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_a_checkpoint_with_an_unknown_vocabulary_asks_for_its_tokenizer(tiny, tmp_path):
    _t, single = tiny["sd1"]
    with pytest.raises(ModelPackError, match="tokenizer") as e:
        _convert(single, tmp_path)
    assert "--tokenizer" in (e.value.hint or "")
    assert not list(tmp_path.iterdir())  # nothing half-made is left


def test_cancel_leaves_nothing(tiny, tmp_path):
    from genstudio.ml.images.sd_convert import convert

    t, single = tiny["sd1"]
    cancel = threading.Event()

    def progress(f, m, _p):
        if "UNet" in m:
            cancel.set()

    params = ImportSDParams(
        source=str(single), models_dir=str(tmp_path), tokenizer=str(t.onnx_dir / "tokenizer")
    )
    with pytest.raises(Cancelled):
        convert(params, RunContext(progress=progress, cancel_event=cancel))
    assert not list(tmp_path.iterdir())


def test_a_taken_name_is_refused(imported, tiny):
    info, _ = imported[("sd1", "diffusers")]
    with pytest.raises(ModelPackError, match="already"):
        _convert(tiny["sd1"][0].diffusers_dir, _model(info).parent, name="sd1-folder")


# ---------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("name", ["model.ckpt", "model.pt", "weights.bin", "model.safetensors"])
def test_pickle_checkpoints_are_refused_with_advice(tmp_path, name):
    p = tmp_path / name
    marker = tmp_path / "ran"
    p.write_bytes(_payload(marker, 4))  # loading it would create ``marker``
    with pytest.raises(UnsafeModelError) as e:
        classify_source(p)
    assert "pickle" in e.value.message.lower()
    assert "safetensors" in (e.value.hint or "") and "never opens" in (e.value.hint or "")
    assert not marker.exists()


def test_a_diffusers_folder_with_pickled_weights_is_refused(tiny, tmp_path):
    import shutil

    t, _ = tiny["sd1"]
    folder = tmp_path / "pickled"
    shutil.copytree(t.diffusers_dir, folder)
    for f in (folder / "unet").glob("*.safetensors"):
        f.unlink()
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(_payload(tmp_path / "x", 2))
    with pytest.raises(UnsafeModelError, match="pickles"):
        classify_source(folder)


def test_sdxl_lora_and_strangers_are_refused_by_name(tmp_path):
    import torch
    from safetensors.torch import save_file

    xl = tmp_path / "xl.safetensors"
    save_file(
        {
            "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1),
            "conditioner.embedders.1.model.ln_final.weight": torch.zeros(1),
        },
        str(xl),
    )
    with pytest.raises(ModelPackError, match="XL"):
        classify_source(xl)
    lora = tmp_path / "style.safetensors"
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(1)}, str(lora))  # fmt: skip
    with pytest.raises(ModelPackError, match="LoRA"):
        classify_source(lora)
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(ModelPackError, match="not a Stable Diffusion"):
        classify_source(other)
    with pytest.raises(ModelPackError, match="does not exist"):
        classify_source(tmp_path / "missing.safetensors")


def test_cli_imports_a_checkpoint_through_the_training_child(tiny, tmp_path):
    """End to end as a user types it: the conversion runs in the training child process."""
    t, single = tiny["sd1"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "genstudio",
            "models",
            "import",
            str(single),
            "--models-dir",
            str(tmp_path),
            "--name",
            "mine",
            "--tokenizer",
            str(t.onnx_dir / "tokenizer"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert "imported sd1 model" in out.stdout and "model hash (A1111)" in out.stdout
    assert "UNet" in out.stdout  # progress was shown
    assert "Traceback" not in out.stderr and "accelerate" not in out.stdout + out.stderr
    assert (tmp_path / "mine" / "unet" / "model.onnx").is_file()
    bad = tmp_path / "old.ckpt"
    marker = tmp_path / "ran"
    bad.write_bytes(_payload(marker, 5))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "genstudio",
            "models",
            "import",
            str(bad),
            "--models-dir",
            str(tmp_path),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "pickle" in (out.stdout + out.stderr).lower()
    assert not marker.exists()


def test_without_the_training_add_on_the_import_says_what_to_install(monkeypatch, tmp_path):
    """A studio bundle carries no torch: the conversion job must say so, not fail strangely."""
    from genstudio.core.errors import GenStudioError
    from genstudio.generators.images.sd.convert import ImportSDGenerator

    monkeypatch.setattr(ImportSDGenerator, "converter", "genstudio.ml.images.not_there:run_job")
    params = ImportSDParams(source=str(tmp_path / "x.safetensors"), models_dir=str(tmp_path))
    with pytest.raises(GenStudioError, match="training add-on") as e:
        ImportSDGenerator().run(params, RunContext())
    assert "pip install" in (e.value.hint or "")
