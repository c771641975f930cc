"""Stable Diffusion 1.x / 2.x from a user's ONNX export, in numpy + ONNX Runtime.

Users bring a folder in the layout Optimum writes (``optimum-cli export onnx``)::

    model_index.json
    text_encoder/model.onnx     CLIP text model: input_ids -> last_hidden_state
    unet/model.onnx             sample, timestep, encoder_hidden_states [, timestep_cond]
    vae_decoder/model.onnx      latent_sample -> sample
    vae_encoder/model.onnx      optional (img2img, inpainting): sample -> latent_parameters
    tokenizer/                  vocab.json + merges.txt (CLIP BPE) and/or tokenizer.json
    scheduler/scheduler_config.json
    (each part's config.json, optional: sample size, VAE scaling factor)

:func:`validate_sd_folder` is where such a folder enters the studio. It refuses, with a message
and a hint a non-programmer can act on, anything that is not such an export: a pickle anywhere
in it (dot files and dot folders included; by name - ``.ckpt``/``.bin``/``.pt`` - or by content
under any name), a zip checkpoint, a malformed safetensors file, a link leaving the folder or a
FIFO/device (checked before a byte is read), a single-file checkpoint, a diffusers PyTorch
folder, SDXL, a missing UNet or tokenizer, a damaged ONNX file, ONNX external data that points
out of the folder or is ONNX Runtime's ``_ORT_MEM_ADDR_`` marker, a UNet whose inputs are not
SD's. Each ONNX file is checked again (links, external data) when its session is created. It
reads the ONNX graphs' declared inputs and
outputs (``onnx.load(load_external_data=False)``, no weights are loaded into a runtime) to tell
SD 1.x (CLIP-L, 768-wide text) from SD 2.x (OpenCLIP-H, 1024), an inpainting UNet (9 input
channels: latents + mask + masked-image latents) and LCM-distilled UNets (``timestep_cond``),
the timestep's dtype and rank, fixed batch or image sizes, and fp16 graphs. SD-Turbo has SD 2.1's
layout; it is reported when its scheduler config (Euler, "trailing") or its name says so.

:func:`import_sd_folder` copies a validated folder into the user's models directory atomically
(copy to a temp folder, links copied as links, the copy validated again, then rename) with a
``genstudio-import.json`` describing it.

onnx is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_json, is_temp_name, read_file_bytes
from genstudio.core.errors import GenStudioError, ModelPackError, UnsafeModelError
from genstudio.generators.images.schedulers import make_scheduler
from genstudio.runtime.packs import (
    PICKLE_EXTENSIONS,
    PICKLE_HINT,
    check_model_file,
    check_onnx_external_data,
    walk_pack,
)

log = logging.getLogger(__name__)

IMPORT_FILE = "genstudio-import.json"
MAX_JSON_BYTES = 16 * 1024 * 1024  # configs and tokenizer files are a few MB at most
EXPORT_HINT = (
    "Import it first: `genstudio models import <file or folder>` (or drop it on the Images "
    "mode) converts a .safetensors checkpoint or a diffusers folder to ONNX; an ONNX export "
    "is the folder that holds model_index.json."
)

# ============================================================================ folder validation


@dataclass(frozen=True)
class TensorSpec:
    """One declared graph input or output: its name, numpy dtype and dims (int, or the
    symbolic name / None of a dynamic dim)."""

    name: str
    dtype: str
    dims: tuple[int | str | None, ...]

    def dim(self, i: int) -> int | None:
        d = self.dims[i] if -len(self.dims) <= i < len(self.dims) else None
        return d if isinstance(d, int) and d > 0 else None


@dataclass(frozen=True)
class SDFolderInfo:
    """What :func:`validate_sd_folder` found out about a Stable Diffusion ONNX folder."""

    root: Path
    name: str
    variant: str  # "sd1" | "sd2" | "sd-turbo" | "inpaint"
    family: str  # "sd1" (CLIP-L, 768) | "sd2" (OpenCLIP-H, 1024)
    inpaint: bool  # 9-channel UNet
    turbo: bool
    lcm: bool  # LCM-distilled UNet (timestep_cond) or an LCM scheduler config
    text_dim: int
    latent_channels: int
    unet_in_channels: int
    timestep_dtype: str  # numpy dtype name the UNet declares for its timestep
    timestep_rank: int  # 0: a scalar, 1: shape (1,)
    time_cond_dim: int | None  # width of timestep_cond (LCM-distilled UNets), else None
    unet_dtype: str  # dtype of the UNet's sample input ("float32" or "float16")
    unet_batch: int | None  # a fixed batch size baked into the export, else None
    fixed_size: tuple[int, int] | None  # (width, height) baked into the export, else None
    vae_scale_factor: int  # pixels per latent (8 for SD)
    scaling_factor: float  # VAE latent scaling (0.18215 for SD 1.x/2.x)
    default_size: tuple[int, int]  # (width, height) the model was trained at
    size_multiple: int  # width and height must be multiples of this
    prediction_type: str
    max_length: int  # tokens per prompt (77)
    pad_token: str
    has_vae_encoder: bool
    vae_encoder_output: str  # "latent_parameters" (mean + logvar) or "latent_sample"
    has_tokenizer_json: bool
    scheduler_config: dict[str, Any]
    model_index: dict[str, Any]
    onnx_files: tuple[str, ...]  # relative paths, external data included
    recommended: dict[str, Any]  # steps, guidance_scale, scheduler
    notes: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        kind = {
            "sd1": "Stable Diffusion 1.x",
            "sd2": "Stable Diffusion 2.x",
            "sd-turbo": "SD-Turbo (Stable Diffusion 2.1 layout)",
            "inpaint": f"Stable Diffusion {self.family[-1]}.x inpainting",
        }[self.variant]
        w, h = self.default_size
        return f"{kind}{' (LCM)' if self.lcm else ''}, {w}x{h}, {self.unet_dtype}"


def _err(message: str, hint: str, *, unsafe: bool = False) -> ModelPackError:
    return (UnsafeModelError if unsafe else ModelPackError)(message, hint=hint)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not os.path.lexists(path):
        raise _err(f"{what} is missing ({path}).", EXPORT_HINT)
    try:
        raw = read_file_bytes(path, what=what, error=ModelPackError, max_bytes=MAX_JSON_BYTES)
        data = json.loads(raw.decode("utf-8"))
    except ModelPackError as e:
        raise _err(e.message, e.hint or "Export or download the model again.") from e
    except RecursionError as e:
        raise _err(f"{what} is nested too deeply ({path.name}).", "Export the model again.") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _err(
            f"{what} cannot be read ({path.name}: {e}).",
            "The file is damaged; export or download the model again.",
        ) from e
    if not isinstance(data, dict):
        raise _err(f"{what} is not a JSON object ({path}).", "Export the model again.")
    return data


def _optional_json(path: Path, what: str) -> dict[str, Any]:
    return _read_json(path, what) if path.is_file() else {}


def _walk_files(root: Path, limit: int = 10_000) -> list[Path]:
    """Every file of the folder, dot files and dot folders included; refuses links out of it
    and anything but regular files and folders before a byte is read (see ``walk_pack``)."""
    try:
        return walk_pack(root, limit=limit)
    except UnsafeModelError as e:
        raise _err(
            f"{e.message}",
            "Copy the files into the model folder instead of linking to them (no device, pipe "
            "or socket). " + EXPORT_HINT,
            unsafe=True,
        ) from e
    except ModelPackError as e:
        raise _err(e.message, e.hint or "Choose the folder that holds model_index.json.") from e


def _check_contents(root: Path, files: Sequence[Path]) -> None:
    """Refuse a pickle hidden under any name (content, not extension), a zip checkpoint or a
    malformed safetensors file anywhere in the folder."""
    for f in files:
        try:
            check_model_file(f, root=root)
        except ModelPackError as e:
            rel = f.relative_to(root).as_posix()
            message = e.message
            message = (
                rel + message[len(f.name) :]
                if message.startswith(f"{f.name}:")
                else f"{rel}: {message}"
            )
            unsafe = isinstance(e, UnsafeModelError)
            hint = (
                (e.hint or "")
                + (" Use an ONNX export without such files. " if unsafe else " ")
                + EXPORT_HINT
            )
            raise _err(message, hint.strip(), unsafe=unsafe) from e


def _refuse_file(path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in PICKLE_EXTENSIONS:
        _check_contents(path.parent, [path])  # a pickle under another name says so
    if suffix in PICKLE_EXTENSIONS:
        raise _err(
            f"{path.name} is a PyTorch pickle checkpoint: refused, {PICKLE_HINT}.",
            "Loading pickle files can run hidden code. " + EXPORT_HINT,
            unsafe=True,
        )
    if suffix == ".safetensors":
        raise _err(
            f"{path.name} is a single-file checkpoint, not an ONNX export.",
            "GenStudio runs Stable Diffusion from ONNX folders. " + EXPORT_HINT,
        )
    if suffix == ".onnx":
        raise _err(
            f"{path.name} is one ONNX file; Stable Diffusion needs the whole exported folder.",
            "Choose the folder that holds model_index.json, text_encoder/, unet/, ...",
        )
    raise _err(f"{path} is a file, not a model folder.", EXPORT_HINT)


def _onnx_io(path: Path, root: Path) -> tuple[list[TensorSpec], list[TensorSpec], list[str]]:
    """Declared inputs and outputs of an ONNX file and its external-data files, after refusing
    pickles disguised as .onnx, damaged files and external data outside ``root``."""
    import onnx
    from onnx import helper

    rel = path.relative_to(root).as_posix()
    try:
        check_model_file(path)
    except UnsafeModelError as e:
        raise _err(
            f"{rel}: {e.message}",
            e.hint or "Loading pickle files can run hidden code. " + EXPORT_HINT,
            unsafe=True,
        ) from e
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf DecodeError and friends
        raise _err(
            f"{rel} is damaged: it is not a valid ONNX file "
            f"({str(e).strip()[:200] or type(e).__name__}).",
            "Export or download the model again; the copy may be incomplete.",
        ) from e
    graph = model.graph
    if not len(graph.input) or not len(graph.output):
        raise _err(f"{rel} has no inputs or outputs: it is not a model.", EXPORT_HINT)
    inits = {t.name for t in graph.initializer}

    def spec(vi: Any) -> TensorSpec:
        tt = vi.type.tensor_type
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
        except Exception:
            dtype = f"onnx:{tt.elem_type}"
        dims = tuple(
            int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or None)
            for d in tt.shape.dim
        )
        return TensorSpec(vi.name, dtype, dims)

    inputs = [spec(vi) for vi in graph.input if vi.name not in inits]
    outputs = [spec(vi) for vi in graph.output]
    del model, graph
    external = check_onnx_external_data(path, root)
    return inputs, outputs, [(path.parent / e).relative_to(root).as_posix() for e in external]


def _find(specs: Sequence[TensorSpec], *names: str) -> TensorSpec | None:
    for n in names:
        for s in specs:
            if s.name == n:
                return s
    return None


def _pad_token(tok_dir: Path) -> tuple[str, int]:
    cfg = _optional_json(tok_dir / "tokenizer_config.json", "The tokenizer config")
    special = _optional_json(tok_dir / "special_tokens_map.json", "The tokenizer's special tokens")
    pad: Any = cfg.get("pad_token") or special.get("pad_token") or "<|endoftext|>"
    if isinstance(pad, dict):
        pad = pad.get("content", "<|endoftext|>")
    max_len = cfg.get("model_max_length", 77)
    if not isinstance(max_len, int) or not 8 <= max_len <= 512:
        max_len = 77  # transformers writes 1e30 for "no limit"; CLIP's positions are 77
    return str(pad), max_len


def validate_sd_folder(path: str | os.PathLike[str]) -> SDFolderInfo:
    """Check a Stable Diffusion ONNX folder (see the module docstring) and describe it.

    Raises :class:`ModelPackError` (:class:`UnsafeModelError` for pickles and escaping external
    data) with a hint that says what to do, or :class:`InvalidParamsError` for a scheduler
    config the schedulers cannot run.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise _err(f"{root} does not exist.", "Choose the folder that holds model_index.json.")
    if not root.is_dir():
        _refuse_file(root)
    root = root.resolve()
    files = _walk_files(root)
    pickles = [f for f in files if f.suffix.lower() in PICKLE_EXTENSIONS]
    if pickles:
        pickled = ", ".join(p.relative_to(root).as_posix() for p in pickles[:5])
        raise _err(
            f"The folder holds PyTorch pickle files ({pickled}): refused, {PICKLE_HINT}.",
            "Loading pickle files can run hidden code. Use an ONNX export without them "
            "(delete those files if the ONNX files are all there). " + EXPORT_HINT,
            unsafe=True,
        )
    _check_contents(root, files)
    if (root / "text_encoder_2").is_dir() or (root / "tokenizer_2").is_dir():
        raise _err(
            "This looks like Stable Diffusion XL (it has a second text encoder).",
            "GenStudio runs Stable Diffusion 1.x and 2.x (SD-Turbo included); SDXL is not "
            "supported yet.",
        )
    index_path = root / "model_index.json"
    if not index_path.is_file():
        if (root / "unet").is_dir() or (root / "text_encoder").is_dir():
            raise _err(
                f"{root.name} has no model_index.json, so it is not a complete Stable Diffusion "
                "export.",
                "Copy the whole exported folder, model_index.json included. " + EXPORT_HINT,
            )
        singles = [f for f in files if f.parent == root]
        if any(f.suffix.lower() == ".safetensors" for f in singles):
            raise _err(
                f"{root.name} holds a single-file checkpoint, not a Stable Diffusion ONNX export.",
                EXPORT_HINT,
            )
        raise _err(f"{root.name} is not a Stable Diffusion ONNX export.", EXPORT_HINT)
    model_index = _read_json(index_path, "model_index.json")
    cls_name = str(model_index.get("_class_name", ""))
    if "XL" in cls_name or "StableDiffusion3" in cls_name or "Upscale" in cls_name:
        raise _err(
            f"This is a {cls_name} model; GenStudio runs Stable Diffusion 1.x and 2.x only.",
            "Choose an SD 1.x, SD 2.x or SD-Turbo export.",
        )
    if cls_name and not re.search(r"StableDiffusion|LatentConsistency", cls_name):
        raise _err(
            f"model_index.json describes a {cls_name}, not a Stable Diffusion pipeline.",
            "Choose an SD 1.x, SD 2.x or SD-Turbo export.",
        )

    def need_onnx(part: str, what: str) -> Path:
        p = root / part / "model.onnx"
        if p.is_file():
            return p
        torch_weights = [
            f.name
            for f in (root / part).glob("*")
            if f.suffix.lower() in (".safetensors", ".bin") and f.is_file()
        ]
        if torch_weights:
            raise _err(
                f"{part}/ holds PyTorch weights ({torch_weights[0]}), not {part}/model.onnx: "
                "this is a diffusers PyTorch folder, not an ONNX export.",
                EXPORT_HINT,
            )
        raise _err(f"The {what} is missing: {part}/model.onnx not found.", EXPORT_HINT)

    unet_path = need_onnx("unet", "UNet (the image model)")
    text_path = need_onnx("text_encoder", "text encoder")
    dec_path = need_onnx("vae_decoder", "VAE decoder")
    enc_path = root / "vae_encoder" / "model.onnx"

    tok_dir = root / "tokenizer"
    has_bpe = (tok_dir / "vocab.json").is_file() and (tok_dir / "merges.txt").is_file()
    has_json = (tok_dir / "tokenizer.json").is_file()
    if not (has_bpe or has_json):
        raise _err(
            "The tokenizer is missing: tokenizer/ needs vocab.json and merges.txt "
            "(or tokenizer.json).",
            "Copy the tokenizer folder from the original model into the export. " + EXPORT_HINT,
        )
    from genstudio.generators.images.sd.tokenizer import ClipTokenizer  # it uses this module

    pad_token, max_length = _pad_token(tok_dir)
    ClipTokenizer.from_folder(tok_dir, pad_token=pad_token, max_length=max_length)

    sched_cfg = _read_json(root / "scheduler" / "scheduler_config.json", "The scheduler config")
    unet_cfg = _optional_json(root / "unet" / "config.json", "The UNet config")
    vae_cfg = _optional_json(root / "vae_decoder" / "config.json", "The VAE config")
    text_cfg = _optional_json(root / "text_encoder" / "config.json", "The text encoder config")

    onnx_files: list[str] = []

    def io(p: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
        ins, outs, ext = _onnx_io(p, root)
        onnx_files.append(p.relative_to(root).as_posix())
        onnx_files.extend(e for e in ext if e not in onnx_files)
        return ins, outs

    u_in, u_out = io(unet_path)
    t_in, t_out = io(text_path)
    d_in, d_out = io(dec_path)
    e_out: list[TensorSpec] = []
    if enc_path.is_file():
        _, e_out = io(enc_path)

    # -- UNet inputs
    names = [s.name for s in u_in]
    if {"text_embeds", "time_ids"} & set(names):
        raise _err(
            "This UNet takes SDXL's extra inputs (text_embeds, time_ids): it is Stable "
            "Diffusion XL.",
            "GenStudio runs Stable Diffusion 1.x and 2.x; SDXL is not supported yet.",
        )
    required = ("sample", "timestep", "encoder_hidden_states")
    missing = [n for n in required if n not in names]
    unknown = [n for n in names if n not in (*required, "timestep_cond")]
    if missing or unknown:
        raise _err(
            f"unet/model.onnx has the inputs {', '.join(names)}; a Stable Diffusion UNet takes "
            f"{', '.join(required)}"
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + (f" (not understood: {', '.join(unknown)})" if unknown else "")
            + ".",
            "This is not a Stable Diffusion UNet export, or an exporter GenStudio does not know. "
            + EXPORT_HINT,
        )
    sample = _find(u_in, "sample")
    ts = _find(u_in, "timestep")
    ehs = _find(u_in, "encoder_hidden_states")
    tcond = _find(u_in, "timestep_cond")
    assert sample and ts and ehs
    if len(sample.dims) != 4 or len(ehs.dims) != 3 or len(ts.dims) > 1:
        raise _err(
            f"unet/model.onnx has unexpected input shapes (sample {list(sample.dims)}, timestep "
            f"{list(ts.dims)}, encoder_hidden_states {list(ehs.dims)}).",
            EXPORT_HINT,
        )
    if sample.dtype not in ("float32", "float16") or ts.dtype not in (
        "float32",
        "float16",
        "float64",
        "int64",
        "int32",
    ):
        raise _err(
            f"unet/model.onnx takes sample as {sample.dtype} and timestep as {ts.dtype}.",
            "Use an fp32 or fp16 export. " + EXPORT_HINT,
        )
    in_ch = sample.dim(1) or unet_cfg.get("in_channels")
    cross = ehs.dim(2) or unet_cfg.get("cross_attention_dim")
    out_ch = (u_out[0].dim(1) if u_out else None) or unet_cfg.get("out_channels") or 4
    if not isinstance(in_ch, int) or not isinstance(cross, int):
        raise _err(
            "Cannot tell the UNet's channels or text width from unet/model.onnx or its config.",
            "Copy unet/config.json from the original model into the export.",
        )
    if in_ch not in (4, 9) or out_ch != 4:
        raise _err(
            f"The UNet takes {in_ch} channels and returns {out_ch}; Stable Diffusion's take 4 "
            "(text to image) or 9 (inpainting) and return 4.",
            "Models such as InstructPix2Pix (8) or the x4 upscaler (7) are not supported.",
        )
    # -- text encoder
    ids = _find(t_in, "input_ids") or t_in[0]
    hidden = _find(t_out, "last_hidden_state") or t_out[0]
    text_dim = hidden.dim(2) or text_cfg.get("hidden_size")
    if not ids.dtype.startswith("int"):
        raise _err(
            f"text_encoder/model.onnx takes {ids.name} as {ids.dtype}, not token ids.", EXPORT_HINT
        )
    if text_dim != cross:
        raise _err(
            f"The text encoder gives {text_dim}-wide embeddings but the UNet expects {cross}: "
            "the parts come from different models.",
            "Export the whole model again into one folder.",
        )
    if text_dim == 768:
        family = "sd1"
    elif text_dim == 1024:
        family = "sd2"
    else:
        raise _err(
            f"The text encoder is {text_dim} wide; SD 1.x uses 768 (CLIP-L) and SD 2.x 1024.",
            "This is not a Stable Diffusion 1.x/2.x model (SDXL and SD3 are not supported).",
        )
    seq = ids.dim(1)
    if seq is not None and seq != max_length:
        max_length = seq  # the graph is the truth about how many tokens it takes
    # -- VAE
    lat_in = _find(d_in, "latent_sample") or d_in[0]
    if (lat_in.dim(1) or 4) != out_ch:
        raise _err(
            f"The VAE decoder takes {lat_in.dim(1)} latent channels but the UNet makes {out_ch}.",
            "The parts come from different models; export the whole model again.",
        )
    enc_kind = ""
    if e_out:
        first = _find(e_out, "latent_parameters", "latent_sample") or e_out[0]
        ch = first.dim(1)
        enc_kind = (
            "latent_parameters"
            if first.name == "latent_parameters" or ch == 2 * out_ch
            else "latent_sample"
        )
    blocks = vae_cfg.get("block_out_channels")
    vae_factor = 2 ** (len(blocks) - 1) if isinstance(blocks, list) and blocks else 8
    scaling = vae_cfg.get("scaling_factor")
    scaling = float(scaling) if isinstance(scaling, Real) and float(scaling) > 0 else 0.18215
    # -- scheduler, variant
    prediction = str(sched_cfg.get("prediction_type") or "epsilon")
    name_hint = f"{model_index.get('_name_or_path', '')} {root.name}".lower()
    turbo = family == "sd2" and (
        "turbo" in name_hint
        or (
            sched_cfg.get("_class_name") == "EulerDiscreteScheduler"
            and sched_cfg.get("timestep_spacing") == "trailing"
        )
    )
    lcm = tcond is not None or sched_cfg.get("_class_name") == "LCMScheduler"
    inpaint = in_ch == 9
    variant = "inpaint" if inpaint else ("sd-turbo" if turbo else family)
    lat_size = unet_cfg.get("sample_size")
    if isinstance(lat_size, list):
        lat_size = lat_size[0] if lat_size else None
    if isinstance(lat_size, int) and lat_size > 0:
        side = lat_size * vae_factor
    else:
        side = 768 if family == "sd2" and prediction == "v_prediction" else 512
    blocks_u = unet_cfg.get("block_out_channels")
    downs = len(blocks_u) - 1 if isinstance(blocks_u, list) and blocks_u else 3
    multiple = vae_factor * 2**downs
    fixed = None
    if sample.dim(2) and sample.dim(3):
        fixed = (int(sample.dim(3) or 0) * vae_factor, int(sample.dim(2) or 0) * vae_factor)
        side_w, side_h = fixed
    else:
        side_w = side_h = side
    if turbo:
        rec = {"steps": 1, "guidance_scale": 0.0, "scheduler": "euler"}
    elif lcm:
        rec = {"steps": 4, "guidance_scale": 1.5 if tcond is None else 8.0, "scheduler": "lcm"}
    else:
        rec = {"steps": 25, "guidance_scale": 7.5, "scheduler": "dpmpp_2m"}
    make_scheduler(str(rec["scheduler"]), sched_cfg)  # a config the schedulers refuse fails here
    notes = []
    if enc_kind == "latent_sample":
        notes.append(
            "The VAE encoder samples inside the graph (an older export): img2img results "
            "vary slightly between runs with the same seed."
        )
    if not e_out:
        notes.append("No vae_encoder: text to image only (no img2img or inpainting).")
    return SDFolderInfo(
        root=root,
        name=root.name,
        variant=variant,
        family=family,
        inpaint=inpaint,
        turbo=turbo,
        lcm=lcm,
        text_dim=int(text_dim),
        latent_channels=int(out_ch),
        unet_in_channels=int(in_ch),
        timestep_dtype=ts.dtype,
        timestep_rank=len(ts.dims),
        time_cond_dim=(tcond.dim(1) or unet_cfg.get("time_cond_proj_dim")) if tcond else None,
        unet_dtype=sample.dtype,
        unet_batch=sample.dim(0),
        fixed_size=fixed,
        vae_scale_factor=vae_factor,
        scaling_factor=scaling,
        default_size=(side_w, side_h),
        size_multiple=multiple,
        prediction_type=prediction,
        max_length=int(max_length),
        pad_token=pad_token,
        has_vae_encoder=bool(e_out),
        vae_encoder_output=enc_kind,
        has_tokenizer_json=has_json,
        scheduler_config=sched_cfg,
        model_index=model_index,
        onnx_files=tuple(onnx_files),
        recommended=rec,
        notes=tuple(notes),
    )


# ============================================================================ import


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_name(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:100]
    return slug or "stable-diffusion"


def import_sd_folder(
    src: str | os.PathLike[str],
    models_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    move: bool = False,
    source: str | None = None,
    record: dict[str, Any] | None = None,
) -> Path:
    """Validate ``src`` and copy it to ``<models_dir>/<name>/`` with a ``genstudio-import.json``
    (kind "sd-onnx", variant, source path, sha256 and size of every ONNX and external-data
    file, and ``record``'s entries, e.g. a converted checkpoint's hash). The copy goes to a
    hidden temp folder first and is renamed into place at the end, so the models folder never
    holds half an import. ``move`` renames ``src`` instead of copying it (a conversion's own
    hidden folder in the same models directory). Refuses (ModelPackError) an invalid folder,
    symbolic links inside it, or a name that is already taken."""
    info = validate_sd_folder(src)
    models = Path(models_dir).expanduser()
    target_name = _safe_name(name or info.name)
    target = models / target_name
    if target.exists():
        raise ModelPackError(
            f"A model named {target_name!r} is already in {models}.",
            hint="Remove it first, or import under another name.",
        )
    for dirpath, dirnames, filenames in os.walk(info.root):
        for entry in (*dirnames, *filenames):
            if (Path(dirpath) / entry).is_symlink():
                raise ModelPackError(
                    f"{(Path(dirpath) / entry).relative_to(info.root)} is a symbolic link; "
                    "GenStudio copies plain files only.",
                    hint="Replace links by the files they point to, then import again.",
                )
    try:
        models.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenStudioError(f"Cannot create {models}: {e.strerror or e}") from e
    tmp = models / f".{target_name}.{secrets.token_hex(4)}.tmp"
    try:
        if move:
            os.replace(info.root, tmp)
        else:
            shutil.copytree(  # links are copied as links (never followed), then refused below
                info.root,
                tmp,
                symlinks=True,
                ignore=lambda d, names: [x for x in names if is_temp_name(x)],
            )
        validate_sd_folder(tmp)  # the copy is what will load: check it, not just the source
        files = {
            rel: {"sha256": _sha256(tmp / rel), "size": (tmp / rel).stat().st_size}
            for rel in info.onnx_files
        }
        atomic_write_json(
            tmp / IMPORT_FILE,
            {
                "format": "genstudio-import",
                "schema": 1,
                "kind": "sd-onnx",
                "name": target_name,
                "variant": info.variant,
                "family": info.family,
                "inpaint": info.inpaint,
                "lcm": info.lcm,
                "description": info.describe(),
                "source": source or str(info.root),
                "imported": datetime.now(UTC).isoformat(timespec="seconds"),
                "default_size": list(info.default_size),
                "recommended": info.recommended,
                "files": files,
                **(record or {}),
            },
        )
        os.replace(tmp, target)
    except OSError as e:
        hint = "The disk may be full or the folder read-only." if e.errno in (28, 30, 13) else None
        raise GenStudioError(
            f"Could not copy the model into {models}: {e.strerror or e}", hint=hint
        ) from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    with contextlib.suppress(OSError):
        fd = os.open(models, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return target
