"""Single-file Stable Diffusion checkpoints and diffusers folders -> GenStudio's ONNX folders.

Runs in the training child process (``models.import_sd``,
:class:`genstudio.generators.images.sd.convert.ImportSDGenerator`); the studio never imports
this module. Two sources (:func:`genstudio.generators.images.sd.convert.classify_source`):

- **single file** (``.safetensors`` in the original LDM layout: ``model.diffusion_model.*``,
  ``first_stage_model.*``, ``cond_stage_model.*``). A single file carries no configuration, so
  the architecture is read from the tensors' names and shapes (levels, channels, blocks,
  attention levels, transformer depth, context width, linear or convolutional projections,
  inpainting's 9 input channels) into the LDM config diffusers' converters take; what shapes
  cannot say follows the SD conventions: SD 1.x (CLIP-L, 768-wide context) has 8 attention
  heads per block, SD 2.x (OpenCLIP-H, 1024) 64-wide heads; CLIP's heads are 64 wide; SD 2.x
  uses OpenCLIP's penultimate layer (the 24th block is dropped, as diffusers does). The
  tensors are renamed by diffusers' own converters (``diffusers.loaders.single_file_utils``).
  The tokenizer is CLIP's (built from the merge list GenStudio ships) unless the user gives
  one; the scheduler config is SD 1.5's, SD 2.1-v's (v-prediction) or SD-Turbo's (Euler,
  trailing), chosen by the architecture, the ``prediction`` setting and the file name.
- **diffusers folder** with safetensors weights: loaded with ``from_pretrained`` from the
  folder only (``local_files_only``, ``use_safetensors``; the hub is never asked), its own
  tokenizer and scheduler config kept.

The parts are exported by :mod:`genstudio.ml.images.sd_onnx` into a hidden folder inside the
models directory, validated by :func:`genstudio.generators.images.sd.folder.validate_sd_folder`
like any ONNX export, and renamed into place (``import_sd_folder(move=True)``), with the
checkpoint's SHA-256 (A1111's "Model hash") in ``genstudio-import.json``. A cancel or an error
removes the hidden folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import warnings
from pathlib import Path
from typing import Any

from genstudio.core.errors import GenStudioError, ModelPackError
from genstudio.generators.base import RunContext
from genstudio.generators.images import schedulers
from genstudio.generators.images.sd.convert import (
    ImportSDParams,
    a1111_hash,
    classify_source,
)
from genstudio.generators.images.sd.folder import _safe_name, import_sd_folder, validate_sd_folder
from genstudio.ml.images import sd_onnx

log = logging.getLogger(__name__)

U = "model.diffusion_model."
V = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."
OPENCLIP_PREFIX = "cond_stage_model.model."
CLIP_VOCAB_SIZE = 49408

#: SD-Turbo's scheduler (stabilityai/sd-turbo): Euler, trailing timesteps, epsilon
TURBO_CONFIG: dict[str, Any] = {
    "_class_name": "EulerDiscreteScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "trailing",
    "trained_betas": None,
    "use_karras_sigmas": False,
}


def _bad(message: str, hint: str | None = None) -> ModelPackError:
    return ModelPackError(message, hint=hint or "Choose an SD 1.x, SD 2.x or SD-Turbo checkpoint.")


# ------------------------------------------------------------------------- single file


def _count(sd: dict[str, Any], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.match(k))})


def ldm_config(sd: dict[str, Any]) -> dict[str, Any]:
    """The original LDM config (``v1-inference.yaml``'s shape) a single file implies."""
    try:
        conv_in = sd[U + "input_blocks.0.0.weight"]
        mc, in_ch = int(conv_in.shape[0]), int(conv_in.shape[1])
        out_ch = int(sd[U + "out.2.weight"].shape[0])
        levels: list[list[tuple[int, bool]]] = [[]]
        i = 1
        while any(k.startswith(f"{U}input_blocks.{i}.") for k in sd):
            if f"{U}input_blocks.{i}.0.op.weight" in sd:
                levels.append([])
            else:
                ch = int(sd[f"{U}input_blocks.{i}.0.out_layers.3.weight"].shape[0])
                levels[-1].append((ch, f"{U}input_blocks.{i}.1.proj_in.weight" in sd))
            i += 1
        n_res = {len(lvl) for lvl in levels}
        if len(n_res) != 1 or 0 in n_res:
            raise _bad("The UNet's levels hold different numbers of blocks: not an SD UNet.")
        attn = [k for k in sd if k.startswith(U + "input_blocks.") and ".attn2.to_k.weight" in k]
        if not attn:
            raise _bad("The UNet has no cross-attention: it is not a text-to-image SD UNet.")
        first = attn[0].split(".transformer_blocks.")[0]
        context = int(sd[attn[0]].shape[1])
        depth = _count(sd, re.escape(first) + r"\.transformer_blocks\.(\d+)\.")
        linear = sd[first + ".proj_in.weight"].ndim == 2
        unet: dict[str, Any] = {
            "image_size": 64,
            "in_channels": in_ch,
            "out_channels": out_ch,
            "model_channels": mc,
            "attention_resolutions": [2**li for li, lvl in enumerate(levels) if lvl[0][1]],
            "num_res_blocks": n_res.pop(),
            "channel_mult": [lvl[0][0] // mc for lvl in levels],
            "transformer_depth": depth,
            "context_dim": context,
            "use_linear_in_transformer": linear,
        }
        if context == 1024:
            unet["num_head_channels"] = 64  # SD 2.x: 64-wide heads
            if not linear:
                unet["num_heads"] = [mc * m // 64 for m in unet["channel_mult"]]
        else:
            unet["num_heads"] = 8  # SD 1.x: 8 heads in every block
        ch = int(sd[V + "encoder.conv_in.weight"].shape[0])
        n_vae = _count(sd, re.escape(V) + r"encoder\.down\.(\d+)\.")
        dd = {
            "double_z": True,
            "z_channels": int(sd[V + "decoder.conv_in.weight"].shape[1]),
            "resolution": 256,
            "in_channels": int(sd[V + "encoder.conv_in.weight"].shape[1]),
            "out_ch": int(sd[V + "decoder.conv_out.weight"].shape[0]),
            "ch": ch,
            "ch_mult": [
                int(sd[f"{V}encoder.down.{i}.block.0.conv2.weight"].shape[0]) // ch
                for i in range(n_vae)
            ],
            "num_res_blocks": _count(sd, re.escape(V) + r"encoder\.down\.0\.block\.(\d+)\."),
            "attn_resolutions": [],
            "dropout": 0.0,
        }
    except KeyError as e:
        raise _bad(
            f"The checkpoint lacks {e.args[0]}: it is incomplete or not Stable Diffusion.",
            "Download the full checkpoint again (a pruned file is fine; a LoRA or a VAE alone "
            "is not a model).",
        ) from None
    return {
        "model": {
            "params": {
                "scale_factor": 0.18215,
                "unet_config": {"params": unet},
                "first_stage_config": {"params": {"ddconfig": dd}},
            }
        }
    }


def _text_config(sd: dict[str, Any], v2: bool, vocab: dict[str, int]) -> Any:
    from transformers import CLIPTextConfig

    if v2:
        tok = sd[OPENCLIP_PREFIX + "token_embedding.weight"]
        pos = sd[OPENCLIP_PREFIX + "positional_embedding"]
        layers = _count(sd, re.escape(OPENCLIP_PREFIX) + r"transformer\.resblocks\.(\d+)\.")
        fc1 = sd[OPENCLIP_PREFIX + "transformer.resblocks.0.mlp.c_fc.weight"]
        layers = 23 if layers == 24 else layers  # SD 2.x: OpenCLIP-H's penultimate layer
    else:
        pre = CLIP_PREFIX + ("text_model." if CLIP_PREFIX + "text_model.embeddings.token_embedding.weight" in sd else "")  # fmt: skip
        tok = sd[pre + "embeddings.token_embedding.weight"]
        pos = sd[pre + "embeddings.position_embedding.weight"]
        layers = _count(sd, re.escape(pre) + r"encoder\.layers\.(\d+)\.")
        fc1 = sd[pre + "encoder.layers.0.mlp.fc1.weight"]
    width = int(tok.shape[1])
    if int(tok.shape[0]) != len(vocab):
        raise _bad(
            f"The checkpoint's text encoder knows {int(tok.shape[0]):,} tokens, the tokenizer "
            f"{len(vocab):,}: they do not belong together.",
            "Import it with the tokenizer folder that came with this model: "
            "genstudio models import FILE --tokenizer FOLDER.",
        )
    return CLIPTextConfig(
        vocab_size=int(tok.shape[0]),
        hidden_size=width,
        intermediate_size=int(fc1.shape[0]),
        num_hidden_layers=layers,
        num_attention_heads=max(1, width // 64),
        max_position_embeddings=int(pos.shape[0]),
        hidden_act="gelu" if v2 else "quick_gelu",
        projection_dim=width,
        bos_token_id=vocab[sd_onnx.BOS],
        eos_token_id=vocab[sd_onnx.EOS],
        pad_token_id=vocab.get("!", 0) if v2 else vocab[sd_onnx.EOS],
        attn_implementation="eager",
    )


def _load_into(model: Any, state: dict[str, Any], what: str) -> None:
    own = model.state_dict()
    if not any(k in own for k in state):  # transformers 5: the text model without "text_model."
        state = {k.removeprefix("text_model."): v for k, v in state.items()}
    kept = {k: v for k, v in state.items() if k in own}
    missing = [k for k in own if k not in kept and not k.endswith("position_ids")]
    wrong = [k for k, v in kept.items() if tuple(v.shape) != tuple(own[k].shape)]
    if missing or wrong:
        bad = (missing or wrong)[0]
        raise _bad(
            f"The checkpoint's {what} does not fit its architecture ({len(missing)} tensors "
            f"missing, {len(wrong)} of the wrong shape, e.g. {bad}).",
            "The file may be damaged or a kind of model GenStudio cannot read (SD 1.x, SD 2.x "
            "and SD-Turbo are supported).",
        )
    model.load_state_dict(kept, strict=False)


def load_single_file(path: Path, *, vocab: dict[str, int]) -> dict[str, Any]:
    """The text encoder, UNet and VAE of a single-file checkpoint (float32, eval mode)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders import single_file_utils as sfu
    from safetensors.torch import load_file
    from transformers import CLIPTextModel

    try:
        sd = load_file(str(path))
    except Exception as e:  # noqa: BLE001 - safetensors reports damage in several types
        raise _bad(f"{path.name} cannot be read as safetensors: {e}", "Download it again.") from e
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    if not any(k.startswith(U) for k in sd):
        raise _bad(f"{path.name} holds no Stable Diffusion UNet.")
    v2 = OPENCLIP_PREFIX + "token_embedding.weight" in sd
    if not v2 and not any(k.startswith(CLIP_PREFIX) for k in sd):
        raise _bad(
            f"{path.name} has no text encoder inside (no cond_stage_model.* tensors).",
            "Choose a complete checkpoint (UNet, VAE and text encoder in one file).",
        )
    original = ldm_config(sd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unet_cfg = sfu.create_unet_diffusers_config_from_ldm(original, sd, image_size=512)
        vae_cfg = sfu.create_vae_diffusers_config_from_ldm(original, sd, image_size=512)
        unet = UNet2DConditionModel(**unet_cfg)
        _load_into(unet, sfu.convert_ldm_unet_checkpoint(sd, unet_cfg), "UNet")
        vae = AutoencoderKL(**vae_cfg)
        _load_into(vae, sfu.convert_ldm_vae_checkpoint(sd, vae_cfg), "VAE")
        text = CLIPTextModel(_text_config(sd, v2, vocab))
        if v2:
            state = sfu.convert_open_clip_checkpoint(text, sd, prefix=OPENCLIP_PREFIX)
        else:
            state = sfu.convert_ldm_clip_checkpoint(sd)
        _load_into(text, state, "text encoder")
    del sd
    for m in (unet, vae, text):
        m.eval()
    return {"text_encoder": text, "unet": unet, "vae": vae, "v2": v2}


# ------------------------------------------------------------------------------ diffusers


def load_diffusers_folder(folder: Path) -> dict[str, Any]:
    """The parts of a diffusers folder, from the folder only (float32, eval mode)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    def variant(part: str) -> str | None:
        files = [p.name for p in (folder / part).glob("*.safetensors")]
        plain = any(".fp16." not in f for f in files)
        return None if plain else "fp16"

    kw = {"local_files_only": True, "use_safetensors": True}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unet = UNet2DConditionModel.from_pretrained(
                str(folder / "unet"), variant=variant("unet"), torch_dtype=torch.float32, **kw
            )
            vae = AutoencoderKL.from_pretrained(
                str(folder / "vae"), variant=variant("vae"), torch_dtype=torch.float32, **kw
            )
            text = CLIPTextModel.from_pretrained(
                str(folder / "text_encoder"),
                variant=variant("text_encoder"),
                dtype=torch.float32,
                attn_implementation="eager",
                **kw,
            )
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise _bad(
            f"{folder.name} could not be loaded as a diffusers model: {e}",
            "Copy the whole folder again (each part's config.json and weights).",
        ) from e
    for m in (unet, vae, text):
        m.eval()
    return {"text_encoder": text, "unet": unet, "vae": vae, "v2": text.config.hidden_size == 1024}


# ------------------------------------------------------------------------------------ job


def _scheduler_config(v2: bool, prediction: str, name: str) -> dict[str, Any]:
    turbo = "turbo" in name.lower()
    if turbo and prediction in ("auto", "epsilon"):
        return dict(TURBO_CONFIG)
    if prediction == "auto":
        prediction = "v_prediction" if v2 else "epsilon"
    base = dict(schedulers.SD2_V_CONFIG if v2 else schedulers.SD15_CONFIG)
    base["prediction_type"] = prediction
    return base


def _tokenizer(params: ImportSDParams, out: Path, *, v2: bool) -> dict[str, int]:
    """Write ``out`` (the export's tokenizer folder); the vocabulary it holds."""
    if params.tokenizer:
        src = Path(params.tokenizer).expanduser()
        if not (src / "vocab.json").is_file() and not (src / "tokenizer.json").is_file():
            raise ModelPackError(
                f"{src} is not a tokenizer folder (no vocab.json or tokenizer.json).",
                hint="Choose the model's tokenizer/ folder.",
            )
        out.mkdir(parents=True, exist_ok=True)
        for name in (
            "vocab.json",
            "merges.txt",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
        ):
            if (src / name).is_file() and not (src / name).is_symlink():
                shutil.copyfile(src / name, out / name)
        if (out / "vocab.json").is_file():
            return dict(json.loads((out / "vocab.json").read_text(encoding="utf-8")))
        return dict(json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"])  # fmt: skip
    vocab, merges = sd_onnx.clip_vocab()
    sd_onnx.write_tokenizer(out, vocab, merges, pad_token="!" if v2 else sd_onnx.EOS)
    return vocab


def _model_index(unet: Any, scheduler: dict[str, Any]) -> dict[str, Any]:
    import diffusers

    inpaint = unet.config.in_channels == 9
    return {
        "_class_name": "StableDiffusionInpaintPipeline" if inpaint else "StableDiffusionPipeline",
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", scheduler.get("_class_name", "PNDMScheduler")],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }


def convert(params: ImportSDParams, ctx: RunContext, *, external_over: int = sd_onnx.EXTERNAL_OVER) -> dict[str, Any]:  # fmt: skip
    """Convert ``params.source`` into ``params.models_dir``; the import's description."""
    import torch

    with torch.no_grad():  # a context, not set_grad_enabled: the caller's mode stays as it was
        return _convert(params, ctx, external_over)


def _convert(params: ImportSDParams, ctx: RunContext, external_over: int) -> dict[str, Any]:

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _quiet_libraries()
    src = Path(params.source).expanduser().absolute()
    kind = classify_source(src)
    if kind == "onnx":
        dest = import_sd_folder(src, params.models_dir, name=params.name or None)
        return {
            "model": str(dest),
            "source_kind": kind,
            "converted": False,
            "summary": f"model {dest.name} imported",
        }
    models = Path(params.models_dir).expanduser()
    name = _safe_name(params.name or (src.stem if kind == "single_file" else src.name))
    if (models / name).exists():
        raise ModelPackError(
            f"A model named {name!r} is already in {models}.",
            hint="Remove it first, or import under another name.",
        )
    try:
        models.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenStudioError(f"Cannot create {models}: {e.strerror or e}") from e
    work = models / f".{name}.{secrets.token_hex(4)}.converting.tmp"
    stages = {"text_encoder": 0.25, "unet": 0.35, "vae_encoder": 0.75, "vae_decoder": 0.85}
    words = {
        "text_encoder": "text encoder",
        "unet": "UNet (the largest part)",
        "vae_encoder": "VAE encoder",
        "vae_decoder": "VAE decoder",
    }

    def step(part: str) -> None:
        ctx.check_cancel()
        ctx.progress(stages[part], f"exporting the {words[part]} to ONNX")

    try:
        ctx.check_cancel()
        ctx.progress(0.01, f"reading {src.name}")
        work.mkdir()
        record: dict[str, Any] = {"source_kind": kind}
        if kind == "single_file":
            ctx.progress(0.02, "hashing the checkpoint (A1111 model hash)")
            sha = a1111_hash(src)
            record.update(model_sha256=sha, model_hash=sha[:10])
            ctx.check_cancel()
            probe_v2 = _is_v2_file(src)
            vocab = _tokenizer(params, work / "tokenizer", v2=probe_v2)
            ctx.progress(0.08, "converting the checkpoint's tensors")
            parts = load_single_file(src, vocab=vocab)
            sched = _scheduler_config(parts["v2"], params.prediction, src.name)
            if sched.get("prediction_type") == "v_prediction":  # SD 2.x 768-v draws at 768
                factor = 2 ** (len(parts["vae"].config.block_out_channels) - 1)
                parts["unet"].register_to_config(sample_size=768 // factor)
        else:
            parts = load_diffusers_folder(src)
            shutil.copytree(src / "tokenizer", work / "tokenizer", symlinks=True)
            raw = json.loads((src / "scheduler" / "scheduler_config.json").read_text("utf-8"))
            if params.prediction != "auto":
                raw["prediction_type"] = params.prediction
            sched = raw
        ctx.check_cancel()
        sd_onnx.export_parts(
            parts["text_encoder"],
            parts["unet"],
            parts["vae"],
            work,
            latent=16,
            external_over=external_over,
            step=step,
        )
        sd_onnx.write_configs(
            work,
            model_index=_model_index(parts["unet"], sched),
            text=parts["text_encoder"],
            unet=parts["unet"],
            vae=parts["vae"],
            scheduler=sched,
        )
        del parts
        ctx.check_cancel()
        ctx.progress(0.95, "checking the ONNX model")
        info = validate_sd_folder(work)
        dest = import_sd_folder(work, models, name=name, move=True, source=str(src), record=record)
    except OSError as e:
        hint = "The disk may be full or the folder read-only." if e.errno in (28, 30, 13) else None
        raise GenStudioError(f"The import could not write its files: {e.strerror or e}", hint=hint) from e  # fmt: skip
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    ctx.progress(1.0, f"imported {info.variant}")
    return {
        "model": str(dest),
        "source_kind": kind,
        "converted": True,
        "variant": info.variant,
        "description": info.describe(),
        "summary": f"model {dest.name} imported ({info.describe()})",
        **record,
    }


def _quiet_libraries() -> None:
    """diffusers' and transformers' advice (accelerate, progress bars) is not for our users."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()


def _is_v2_file(path: Path) -> bool:
    from genstudio.generators.images.sd.convert import _safetensors_keys

    return OPENCLIP_PREFIX + "token_embedding.weight" in _safetensors_keys(path)


def run_job(params: Any, ctx: RunContext) -> dict[str, Any]:
    """The ``models.import_sd`` job (child process entry point)."""
    assert isinstance(params, ImportSDParams)
    return convert(params, ctx)
