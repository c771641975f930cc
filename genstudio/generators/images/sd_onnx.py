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

:class:`SDPipeline` runs txt2img, img2img and inpainting the way diffusers' StableDiffusion
pipelines do (checked step for step against them on tiny random models by
``tests/generators/test_sd_onnx.py``), with GenStudio's numpy schedulers
(:mod:`.schedulers`). Design points:

- Noise is GenStudio's: one ``np.random.Generator(PCG64(seed))`` gives the initial latents and
  then every ancestral step's noise, in that order, so a seed makes the same image on CPU and GPU
  and in every onnxruntime version. The VAE encoder's posterior is used at its mean (diffusers'
  ``sample_mode="argmax"``): deterministic, and it keeps the noise stream independent of
  whether an image was given.
- Classifier-free guidance runs the unconditional and the conditional batch in one UNet call
  (negative first, as diffusers), unless the UNet is LCM-distilled (guidance is an input then).
- Inpainting: a 9-channel UNet gets its native inputs; a normal UNet gets latent blending
  after every step (the kept area re-noised to the next step's level), as diffusers does.
- Inputs are cast to the dtype each graph declares (fp16 exports work on any provider);
  outputs come back float32 for the float64 scheduler arithmetic.
- On CUDA the UNet runs through IO binding (inputs copied once, output allocated by ORT on the
  device). There is no GPU where this was written: that path is small and only its plumbing is
  tested, with a fake session.
- :attr:`SDPipeline.last_timings` splits a call into tokenizer, text encoder, VAE, UNet and the
  glue around the UNet inside the loop (scheduler, guidance, blending, casts), so
  :func:`bench_sd_overhead` can show what numpy costs next to the UNet.

:func:`import_sd_folder` copies a validated folder into the user's models directory atomically
(copy to a temp folder, links copied as links, the copy validated again, then rename) with a
``genstudio-import.json`` describing it.

onnx, onnxruntime and tokenizers are imported inside functions only.
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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_json, is_temp_name, read_file_bytes
from genstudio.core.errors import (
    Cancelled,
    GenStudioError,
    InvalidParamsError,
    ModelPackError,
    UnsafeModelError,
)
from genstudio.generators.images.schedulers import SCHEDULERS, draw_noise, make_scheduler
from genstudio.runtime.packs import (
    PICKLE_EXTENSIONS,
    PICKLE_HINT,
    check_model_file,
    check_onnx_external_data,
    check_session_file,
    walk_pack,
)

log = logging.getLogger(__name__)

IMPORT_FILE = "genstudio-import.json"
MAX_PROMPT_CHARS = 100_000  # longer text is refused before tokenizing; 77 tokens are used anyway
MAX_IMAGES = 16
MAX_SIDE = 2048
MAX_JSON_BYTES = 16 * 1024 * 1024  # configs and tokenizer files are a few MB at most
EXPORT_HINT = (
    "Export the model to ONNX first, e.g. `optimum-cli export onnx --model <model> <out folder>`, "
    "and choose the folder that holds model_index.json."
)
_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"
_ORT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}
# Latent -> RGB approximation for SD 1.x/2.x latents (a least-squares fit that UIs share for
# cheap previews; not exact, good enough to watch an image form).
_PREVIEW_RGB = np.array(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ],
    dtype=np.float32,
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
        names = ", ".join(p.relative_to(root).as_posix() for p in pickles[:5])
        raise _err(
            f"The folder holds PyTorch pickle files ({names}): refused, {PICKLE_HINT}.",
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
    scaling = float(scaling) if isinstance(scaling, Real) and scaling > 0 else 0.18215
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
        fixed = (int(sample.dim(3)) * vae_factor, int(sample.dim(2)) * vae_factor)
        side_w, side_h = fixed
    else:
        side_w = side_h = side
    if turbo:
        rec = {"steps": 1, "guidance_scale": 0.0, "scheduler": "euler"}
    elif lcm:
        rec = {"steps": 4, "guidance_scale": 1.5 if tcond is None else 8.0, "scheduler": "lcm"}
    else:
        rec = {"steps": 25, "guidance_scale": 7.5, "scheduler": "dpmpp_2m"}
    make_scheduler(rec["scheduler"], sched_cfg)  # a config the schedulers refuse fails here
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


# ============================================================================ tokenizer


@dataclass(frozen=True)
class TokenizedPrompt:
    ids: np.ndarray  # (1, max_length) int64: bos, tokens, eos, padding
    n_tokens: int  # tokens of the text itself (without bos/eos)
    truncated: bool  # the text had more tokens than fit; the rest was dropped
    dropped_text: str  # what was dropped (decoded), for the warning


class ClipTokenizer:
    """CLIP's byte-level BPE tokenizer on the ``tokenizers`` library, as transformers'
    ``CLIPTokenizer`` builds it: NFC, whitespace runs -> one space, lowercase; CLIP's split
    pattern; byte-level symbols; ``</w>`` ends each word. Prompts become ``bos + tokens + eos``
    padded to ``max_length`` (77) with the model's pad token (SD 1.x: ``<|endoftext|>``, SD 2.x:
    ``!``); longer prompts keep their first ``max_length - 2`` tokens and say so."""

    BOS = "<|startoftext|>"
    EOS = "<|endoftext|>"
    MAX_MERGES = 49152 - 256 - 2  # the merges CLIP's own tokenizer reads

    def __init__(self, tokenizer: Any, *, pad_token: str, max_length: int = 77) -> None:
        self._tok = tokenizer
        self.max_length = int(max_length)
        ids = [tokenizer.token_to_id(t) for t in (self.BOS, self.EOS, pad_token)]
        if any(i is None for i in ids):
            raise _err(
                f"The tokenizer's vocabulary lacks {self.BOS}, {self.EOS} or the pad token "
                f"{pad_token!r}: it is not CLIP's.",
                "Copy the tokenizer folder from the original model into the export.",
            )
        self.bos_id, self.eos_id, self.pad_id = (int(i) for i in ids)

    @classmethod
    def from_folder(
        cls, folder: str | os.PathLike[str], *, pad_token: str | None = None, max_length: int = 77
    ) -> ClipTokenizer:
        from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
        from tokenizers.models import BPE

        folder = Path(folder)
        if pad_token is None:
            pad_token, max_length = _pad_token(folder)
        try:
            if (folder / "tokenizer.json").is_file():
                tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
                tok.no_padding()
                tok.no_truncation()
            else:
                vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
                lines = (folder / "merges.txt").read_text(encoding="utf-8").strip().split("\n")
                merges = [
                    tuple(line.split()) for line in lines[1 : cls.MAX_MERGES + 1] if line.strip()
                ]
                if not isinstance(vocab, dict) or any(len(m) != 2 for m in merges):
                    raise ValueError("vocab.json or merges.txt is not CLIP's format")
                tok = Tokenizer(
                    BPE(
                        vocab=vocab,
                        merges=merges,
                        dropout=None,
                        continuing_subword_prefix="",
                        end_of_word_suffix="</w>",
                        fuse_unk=False,
                        unk_token=cls.EOS,
                    )
                )
                tok.normalizer = normalizers.Sequence(
                    [
                        normalizers.NFC(),
                        normalizers.Replace(Regex(r"\s+"), " "),
                        normalizers.Lowercase(),
                    ]
                )
                tok.pre_tokenizer = pre_tokenizers.Sequence(
                    [
                        pre_tokenizers.Split(
                            Regex(
                                r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d"
                                r"|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
                            ),
                            behavior="removed",
                            invert=True,
                        ),
                        pre_tokenizers.ByteLevel(add_prefix_space=False),
                    ]
                )
                tok.decoder = decoders.ByteLevel()
                # transformers registers bos, eos, unk and pad as special tokens: they are
                # matched in the raw text before anything else (SD 2's pad is "!").
                specials = dict.fromkeys([cls.BOS, cls.EOS, pad_token])
                tok.add_special_tokens(
                    [AddedToken(t, special=True, normalized=False) for t in specials]
                )
        except GenStudioError:
            raise
        except Exception as e:
            raise _err(
                f"The tokenizer files in {folder.name}/ cannot be read ({str(e)[:200]}).",
                "Copy the tokenizer folder from the original model into the export.",
            ) from e
        return cls(tok, pad_token=pad_token, max_length=max_length)

    def encode(self, text: str) -> TokenizedPrompt:
        ids = self._tok.encode(text, add_special_tokens=False).ids
        room = self.max_length - 2
        kept, dropped = ids[:room], ids[room:]
        row = [self.bos_id, *kept, self.eos_id]
        row += [self.pad_id] * (self.max_length - len(row))
        dropped_text = ""
        if dropped:
            dropped_text = self._tok.decode(dropped).replace("</w>", " ").strip()
        return TokenizedPrompt(
            ids=np.asarray([row], dtype=np.int64),
            n_tokens=len(ids),
            truncated=bool(dropped),
            dropped_text=dropped_text,
        )


# ============================================================================ pipeline


def guidance_scale_embedding(w: np.ndarray, dim: int) -> np.ndarray:
    """The guidance-scale embedding LCM-distilled UNets take as ``timestep_cond`` (diffusers'
    ``get_guidance_scale_embedding``, from VDM): sinusoids of ``1000 w``; (B,) -> (B, dim)."""
    w = np.asarray(w, dtype=np.float32) * np.float32(1000.0)
    half = dim // 2
    scale = np.log(np.float32(10000.0)) / np.float32(half - 1)  # float32 steps, as diffusers
    freqs = np.exp(np.arange(half, dtype=np.float32) * -scale)
    emb = w[:, None] * freqs[None, :]
    emb = np.concatenate([np.sin(emb), np.cos(emb)], axis=1)
    if dim % 2:
        emb = np.pad(emb, ((0, 0), (0, 1)))
    return emb.astype(np.float32)


def preview_rgb(latents: np.ndarray) -> np.ndarray:
    """A cheap RGB preview (N, h, w, 3) uint8 of SD latents (N, 4, h, w), no VAE needed."""
    x = np.asarray(latents, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 4:
        raise InvalidParamsError(f"Expected latents of shape (N, 4, h, w), got {x.shape}.")
    rgb = np.einsum("nchw,cr->nhwr", x, _PREVIEW_RGB)
    return np.clip((rgb + 1.0) * 127.5, 0, 255).round().astype(np.uint8)


def _to_image_array(image: Any, what: str = "image") -> np.ndarray:
    """An RGB image as float32 (H, W, 3) in [0, 1] from uint8 (0-255) or float (0-1) arrays
    (or anything np.asarray understands, e.g. a PIL image); alpha is dropped."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InvalidParamsError(
            f"The {what} must be an RGB picture (height x width x 3), not shape {arr.shape}.",
            hint="Give an RGB or RGBA image.",
        )
    arr = arr[:, :, :3]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
            raise InvalidParamsError(
                f"A float {what} must hold values from 0 to 1.", hint="Or give a uint8 image."
            )
        return arr.astype(np.float32)
    raise InvalidParamsError(f"The {what} has an unsupported pixel type {arr.dtype}.")


def _to_mask(mask: Any) -> np.ndarray:
    """A mask as float32 (H, W) of 0/1 (1 = repaint), binarised at 0.5 as diffusers does."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.ndim != 2:
        raise InvalidParamsError(
            f"The mask must be one grey channel (height x width), not shape {m.shape}.",
            hint="White (or 1) marks the area to repaint, black (0) the area to keep.",
        )
    if m.dtype == np.bool_:
        return m.astype(np.float32)
    if m.dtype == np.uint8:
        m = m.astype(np.float32) / np.float32(255.0)
    elif np.issubdtype(m.dtype, np.floating) or np.issubdtype(m.dtype, np.integer):
        m = m.astype(np.float32)
    else:
        raise InvalidParamsError(f"The mask has an unsupported pixel type {m.dtype}.")
    if not np.all(np.isfinite(m)):
        raise InvalidParamsError("The mask holds NaN or infinite values.")
    return (m >= 0.5).astype(np.float32)


class _Part:
    """One ONNX session with the dtypes its inputs declare."""

    def __init__(self, session: Any, provider: str) -> None:
        self.session = session
        self.provider = provider
        self.inputs = {i.name: _ORT_TYPES.get(i.type, np.float32) for i in session.get_inputs()}
        self.output_names = [o.name for o in session.get_outputs()]

    def feeds(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            k: np.ascontiguousarray(np.asarray(v).astype(self.inputs[k], copy=False))
            for k, v in values.items()
            if k in self.inputs
        }

    def run(self, values: Mapping[str, np.ndarray], output: str | None = None) -> np.ndarray:
        name = output if output in self.output_names else self.output_names[0]
        out = self.session.run([name], self.feeds(values))[0]
        return np.asarray(out, dtype=np.float32)

    def run_bound(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Run through IO binding on CUDA: inputs copied to the device once, the output
        allocated there by ORT and copied back (UNet only; not testable without a GPU)."""
        binding = self.session.io_binding()
        for name, arr in self.feeds(values).items():
            binding.bind_cpu_input(name, arr)
        binding.bind_output(self.output_names[0], "cuda")
        self.session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)


def _check_int(value: Any, name: str, lo: int, hi: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or not lo <= value <= hi:
        raise InvalidParamsError(
            f"{name} must be a whole number from {lo} to {hi}, not {value!r}.", hint=hint
        )
    return int(value)


class SDPipeline:
    """Stable Diffusion 1.x/2.x (SD-Turbo, inpainting and LCM UNets included) from an ONNX
    folder: txt2img, img2img and inpainting with GenStudio's numpy schedulers.

    ``providers``: ONNX Runtime providers to try in order (CUDA is used only once a session
    really started on it; CPU is the last resort); None follows the user's settings.
    Sessions are made once; :meth:`generate` may be called many times (not concurrently).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        providers: Sequence[str] | None = None,
        *,
        threads: int | None = None,
    ) -> None:
        self.info = validate_sd_folder(folder)
        self.tokenizer = ClipTokenizer.from_folder(
            self.info.root / "tokenizer",
            pad_token=self.info.pad_token,
            max_length=self.info.max_length,
        )
        if providers is None or threads is None:
            from genstudio.core.settings import load_settings

            s = load_settings()
            if providers is None:
                providers = (_CPU,) if s.provider == "cpu" else (_CUDA, _CPU)
            if threads is None:
                threads = s.threads or None
        self._prefer = tuple(providers) or (_CPU,)
        self._threads = threads
        self.warnings: list[str] = []  # provider fallbacks
        self.text_encoder = self._load("text_encoder")
        self.unet = self._load("unet")
        self.vae_decoder = self._load("vae_decoder")
        self._vae_encoder: _Part | None = None  # loaded on first img2img/inpaint
        self.provider = self.unet.provider
        self.last_timings: dict[str, float] = {}
        self.last_warnings: list[str] = []  # of the latest call (e.g. a truncated prompt)
        self.last_prompt_tokens: dict[str, TokenizedPrompt] = {}

    def _load(self, part: str) -> _Part:
        from genstudio.runtime.sessions import create_session

        path = self.info.root / part / "model.onnx"
        try:  # again at load time: the folder may have changed since it was validated
            check_session_file(self.info.root, path)
        except ModelPackError as e:
            raise _err(
                f"{part}/model.onnx: {e.message}",
                e.hint or "Export the model again.",
                unsafe=isinstance(e, UnsafeModelError),
            ) from e
        sess, provider, message = create_session(path, prefer=self._prefer, threads=self._threads)
        if message and message not in self.warnings:
            self.warnings.append(message)
        return _Part(sess, provider)

    @property
    def vae_encoder(self) -> _Part:
        if self._vae_encoder is None:
            if not self.info.has_vae_encoder:
                raise self._no_vae_encoder()
            self._vae_encoder = self._load("vae_encoder")
        return self._vae_encoder

    @staticmethod
    def _no_vae_encoder() -> InvalidParamsError:
        return InvalidParamsError(
            "This model folder has no VAE encoder, so it cannot start from an image.",
            hint="Use an export with vae_encoder/model.onnx for img2img and inpainting.",
        )

    # -- parts ------------------------------------------------------------------------------

    def encode_prompt(self, text: str) -> tuple[np.ndarray, TokenizedPrompt]:
        """(1, 77, D) float32 text embeddings (last_hidden_state) and the tokens."""
        tokens = self.tokenizer.encode(text)
        return self.embed_tokens(tokens), tokens

    def embed_tokens(self, tokens: TokenizedPrompt) -> np.ndarray:
        enc = self.text_encoder
        return enc.run({_first_input(enc): tokens.ids}, "last_hidden_state")

    def encode_image(self, image: np.ndarray) -> np.ndarray:
        """(1, 3, H, W) in [-1, 1] -> (1, C, h, w) scaled latents (the posterior mean)."""
        enc = self.vae_encoder
        out = enc.run({_first_input(enc): image}, "latent_parameters")
        if self.info.vae_encoder_output == "latent_parameters":
            out = out[:, : self.info.latent_channels]  # mean; the rest is the log-variance
        return out * np.float32(self.info.scaling_factor)

    def decode_latents(self, latents: np.ndarray) -> np.ndarray:
        """(N, C, h, w) latents -> (N, H, W, 3) float32 RGB in [0, 1], one image at a time."""
        dec = self.vae_decoder
        name = _first_input(dec)
        images = []
        for n in range(latents.shape[0]):
            x = dec.run({name: latents[n : n + 1] / np.float32(self.info.scaling_factor)})
            images.append(np.clip(x / np.float32(2.0) + np.float32(0.5), 0.0, 1.0))
        return np.concatenate(images).transpose(0, 2, 3, 1)

    def _timestep(self, t: Any) -> np.ndarray:
        dtype = np.dtype(self.info.timestep_dtype)
        value = np.float64(t)
        if dtype.kind in "iu":
            value = np.round(value)  # fractional (Euler "linspace") timesteps on an int UNet
        arr = np.asarray(value, dtype=dtype)
        return arr.reshape((1,) * self.info.timestep_rank)

    def _unet(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        fixed = self.info.unet_batch
        total = feeds["sample"].shape[0]
        run = self.unet.run_bound if self.unet.provider == _CUDA else self.unet.run
        if fixed is None or fixed == total:
            return run(feeds)
        if total % fixed:
            raise InvalidParamsError(
                f"This export runs the UNet on exactly {fixed} latents at a time; {total} do "
                "not divide into that.",
                hint=f"Ask for a number of images that makes a multiple of {fixed}.",
            )
        batched = ("sample", "encoder_hidden_states", "timestep_cond")
        outs = []
        for i in range(0, total, fixed):
            part = {k: (v[i : i + fixed] if k in batched else v) for k, v in feeds.items()}
            outs.append(run(part))
        return np.concatenate(outs)

    # -- generation -------------------------------------------------------------------------

    def generate(
        self,
        prompt: str,
        *,
        negative_prompt: str = "",
        steps: int | None = None,
        guidance_scale: float | None = None,
        scheduler: str | None = None,
        seed: int = 0,
        width: int | None = None,
        height: int | None = None,
        num_images: int = 1,
        image: Any = None,
        mask: Any = None,
        strength: float | None = None,
        progress: Callable[[int, int, np.ndarray | None], Any] | None = None,
        cancel: Callable[[], Any] | None = None,
        output: str = "uint8",
    ) -> np.ndarray:
        """Generate ``num_images`` images: (N, H, W, 3) RGB uint8 (``output="float"``: float32
        in [0, 1], as diffusers' ``output_type="np"``).

        txt2img without ``image``; img2img with ``image`` (``strength``, default 0.8, is how
        much of it is repainted); inpainting with ``image`` and ``mask`` (white/1 = repaint;
        ``strength`` default 1.0). Steps, guidance and scheduler default to the model's
        recommendation (:attr:`SDFolderInfo.recommended`). ``progress(step, total, denoised)``
        is called after each step with the step's estimate of the clean latents (see
        :func:`preview_rgb`); ``cancel()`` is called before each step and the VAE: a true
        result (or raising :class:`Cancelled`) stops the run.
        """
        t_start = time.perf_counter()
        info = self.info
        rec = info.recommended
        timings = dict.fromkeys(
            ("tokenize", "text_encoder", "vae_encode", "unet", "loop_other", "vae_decode"), 0.0
        )
        self.last_warnings = []
        # -- check everything before any model runs
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidParamsError(
                "The prompt is empty.",
                hint="Describe the picture you want, e.g. 'a red fox in snow'.",
            )
        if not isinstance(negative_prompt, str):
            raise InvalidParamsError("The negative prompt must be text.")
        for what, text in (("prompt", prompt), ("negative prompt", negative_prompt)):
            if len(text) > MAX_PROMPT_CHARS:
                raise InvalidParamsError(
                    f"The {what} is {len(text):,} characters long; at most {MAX_PROMPT_CHARS:,} "
                    "are accepted.",
                    hint=f"Only the first {info.max_length - 2} tokens (a few hundred "
                    "characters) are used anyway.",
                )
        steps = _check_int(
            rec["steps"] if steps is None else steps,
            "Steps",
            1,
            1000,
            "20-30 suit most schedulers; 1-8 suit LCM and Turbo.",
        )
        g = rec["guidance_scale"] if guidance_scale is None else guidance_scale
        if isinstance(g, bool) or not isinstance(g, Real) or not 0.0 <= float(g) <= 50.0:
            raise InvalidParamsError(
                f"Guidance scale must be a number from 0 to 50, not {g!r}.",
                hint="7-8 suits most models; 0-1 turns guidance off (SD-Turbo, LCM).",
            )
        g = float(g)
        sched = make_scheduler(
            rec["scheduler"] if scheduler is None else scheduler, info.scheduler_config
        )
        if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed < 2**64:
            raise InvalidParamsError(
                f"The seed must be a whole number from 0 to 2^64 - 1, not {seed!r}."
            )
        n = _check_int(num_images, "The number of images", 1, MAX_IMAGES, "Make several batches.")
        if output not in ("uint8", "float"):
            raise InvalidParamsError(f"output must be 'uint8' or 'float', not {output!r}.")
        if mask is not None and image is None:
            raise InvalidParamsError(
                "A mask needs an image to paint into.",
                hint="Give the image together with the mask.",
            )
        if info.inpaint and (image is None or mask is None):
            raise InvalidParamsError(
                "This is an inpainting model: it needs an image and a mask.",
                hint="Give a picture and a mask (white = repaint), or use a normal model.",
            )
        img = _to_image_array(image) if image is not None else None
        m = _to_mask(mask) if mask is not None else None
        if img is not None:
            h_img, w_img = img.shape[:2]
            if (width is not None and width != w_img) or (height is not None and height != h_img):
                raise InvalidParamsError(
                    f"The image is {w_img}x{h_img} but {width}x{height} was asked for.",
                    hint="Resize the image first, or leave the size out to use the image's.",
                )
            width, height = w_img, h_img
            if m is not None and m.shape != (h_img, w_img):
                raise InvalidParamsError(
                    f"The mask is {m.shape[1]}x{m.shape[0]} but the image is {w_img}x{h_img}.",
                    hint="Make the mask exactly as large as the image.",
                )
        width = info.default_size[0] if width is None else width
        height = info.default_size[1] if height is None else height
        mult = info.size_multiple
        for what, v in (("Width", width), ("Height", height)):
            if (
                isinstance(v, bool)
                or not isinstance(v, Integral)
                or not mult <= v <= MAX_SIDE
                or v % mult
            ):
                raise InvalidParamsError(
                    f"{what} must be a multiple of {mult} from {mult} to {MAX_SIDE}, not {v!r}.",
                    hint="This model was trained at {}x{}.".format(*info.default_size),
                )
        if info.fixed_size is not None and (width, height) != info.fixed_size:
            fw, fh = info.fixed_size
            raise InvalidParamsError(
                f"This export only makes {fw}x{fh} images, not {width}x{height}.",
                hint="Use that size, or export the model with dynamic image sizes.",
            )
        if strength is None:
            strength = 1.0 if m is not None else 0.8
        if img is not None:
            sched.set_timesteps(steps, strength)
        else:
            sched.set_timesteps(steps)
        if img is not None and not info.has_vae_encoder:
            raise self._no_vae_encoder()

        # -- prompts
        tcond_dim = info.time_cond_dim
        cfg = g > 1.0 and tcond_dim is None
        t0 = time.perf_counter()
        self.last_prompt_tokens = {"prompt": self.tokenizer.encode(prompt)}
        if cfg:
            self.last_prompt_tokens["negative_prompt"] = self.tokenizer.encode(negative_prompt)
        t1 = time.perf_counter()
        cond = self.embed_tokens(self.last_prompt_tokens["prompt"])
        if cfg:
            uncond = self.embed_tokens(self.last_prompt_tokens["negative_prompt"])
        timings["tokenize"] = t1 - t0
        timings["text_encoder"] = time.perf_counter() - t1
        for what, tok in self.last_prompt_tokens.items():
            if tok.truncated:
                self.last_warnings.append(
                    f"The {what.replace('_', ' ')} is {tok.n_tokens} tokens long; only the first "
                    f"{info.max_length - 2} are used. Dropped: {tok.dropped_text[:200]!r}"
                )
        ehs = np.concatenate([uncond] * n + [cond] * n) if cfg else np.concatenate([cond] * n)
        extra: dict[str, np.ndarray] = {}
        if tcond_dim:
            extra["timestep_cond"] = guidance_scale_embedding(np.full(n, g - 1.0), int(tcond_dim))

        # -- start latents
        f = info.vae_scale_factor
        shape = (n, info.latent_channels, height // f, width // f)
        rng = np.random.Generator(np.random.PCG64(int(seed)))
        image_latents = mask_lat = masked_lat = None
        if img is not None:
            t0 = time.perf_counter()
            pixels = (img * np.float32(2.0) - np.float32(1.0)).transpose(2, 0, 1)[None]
            image_latents = np.concatenate([self.encode_image(pixels)] * n)
            if m is not None:
                mask_lat = np.ascontiguousarray(m[::f, ::f])[None, None]  # nearest, as diffusers
                mask_lat = np.repeat(mask_lat, n, axis=0)
                if info.inpaint:
                    masked = pixels * (m < 0.5).astype(np.float32)[None, None]
                    masked_lat = np.concatenate([self.encode_image(masked)] * n)
            timings["vae_encode"] = time.perf_counter() - t0
        noise = draw_noise(rng, shape)
        if img is None or (m is not None and strength == 1.0):
            latents = noise * np.float32(sched.init_noise_sigma)
        else:
            latents = sched.add_noise(image_latents, noise, 0)
        if info.inpaint and mask_lat is not None and masked_lat is not None:
            cat_mask = np.concatenate([mask_lat] * 2) if cfg else mask_lat
            cat_masked = np.concatenate([masked_lat] * 2) if cfg else masked_lat
        blend = m is not None and not info.inpaint

        # -- denoising loop
        total = len(sched.timesteps)
        unet_time = 0.0
        t_loop = time.perf_counter()
        for i, t in enumerate(sched.timesteps):
            self._check_cancel(cancel)
            x_in = sched.scale_model_input(latents, i)
            if cfg:
                x_in = np.concatenate([x_in, x_in])
            if info.inpaint:
                x_in = np.concatenate([x_in, cat_mask, cat_masked], axis=1)
            feeds = {"sample": x_in, "timestep": self._timestep(t), "encoder_hidden_states": ehs}
            feeds.update(extra)
            tu = time.perf_counter()
            out = self._unet(feeds)
            unet_time += time.perf_counter() - tu
            if cfg:
                eps_u, eps_c = out[:n], out[n:]
                out = eps_u + np.float32(g) * (eps_c - eps_u)
            latents = sched.step(out, i, latents, rng)
            if blend:
                proper = image_latents
                if i < total - 1:
                    proper = sched.add_noise(image_latents, noise, i + 1)
                latents = (1.0 - mask_lat) * proper + mask_lat * latents
            if progress is not None:
                progress(i + 1, total, sched.denoised)
        loop = time.perf_counter() - t_loop
        timings["unet"] = unet_time
        timings["loop_other"] = max(loop - unet_time, 0.0)

        # -- decode
        self._check_cancel(cancel)
        t0 = time.perf_counter()
        images = self.decode_latents(latents)
        timings["vae_decode"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        timings["steps"] = float(total)
        timings["outside_unet_share_per_step"] = timings["loop_other"] / loop if loop > 0 else 0.0
        self.last_timings = timings
        for w in self.last_warnings:
            log.warning("%s", w)
        if output == "float":
            return images
        return (images * np.float32(255.0)).round().astype(np.uint8)

    __call__ = generate

    @staticmethod
    def _check_cancel(cancel: Callable[[], Any] | None) -> None:
        if cancel is not None and cancel():
            raise Cancelled()


def _first_input(part: _Part) -> str:
    return next(iter(part.inputs))


# ============================================================================ import, bench


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
    src: str | os.PathLike[str], models_dir: str | os.PathLike[str], *, name: str | None = None
) -> Path:
    """Validate ``src`` and copy it to ``<models_dir>/<name>/`` with a ``genstudio-import.json``
    (kind "sd-onnx", variant, source path, sha256 and size of every ONNX and external-data
    file). The copy goes to a hidden temp folder first and is renamed into place at the end, so
    the models folder never holds half an import. Refuses (ModelPackError) an invalid folder,
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
                "source": str(info.root),
                "imported": datetime.now(UTC).isoformat(timespec="seconds"),
                "default_size": list(info.default_size),
                "recommended": info.recommended,
                "files": files,
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


def bench_sd_overhead(
    folder: str | os.PathLike[str],
    steps: int = 10,
    runs: int = 5,
    *,
    scheduler: str | None = None,
    guidance_scale: float = 7.5,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    prompt: str = "a castle on a hill at sunset, detailed oil painting",
) -> dict[str, Any]:
    """Time ``runs`` txt2img calls (after one warm-up) and report p50/p95 of the whole call and
    of the UNet, per-step times, and the share of each step spent outside the UNet (scheduler,
    guidance, casts: GenStudio's numpy glue); the target is at most 5%."""
    pipe = SDPipeline(folder, providers, threads=threads)
    sched = scheduler or pipe.info.recommended["scheduler"]
    if sched not in SCHEDULERS:
        make_scheduler(sched)  # the unknown-scheduler error
    kwargs = {"steps": steps, "scheduler": sched, "guidance_scale": guidance_scale}
    pipe.generate(prompt, seed=0, **kwargs)  # warm-up: first runs allocate
    rows = []
    for r in range(max(1, int(runs))):
        pipe.generate(prompt, seed=r + 1, **kwargs)
        rows.append(dict(pipe.last_timings))

    def pct(key: str, q: float, per_step: bool = False) -> float:
        vals = np.array([row[key] / (row["steps"] if per_step else 1.0) for row in rows])
        return float(np.percentile(vals, q))

    for row in rows:
        row["step"] = row["unet"] + row["loop_other"]
        row["fixed"] = row["tokenize"] + row["text_encoder"] + row["vae_encode"] + row["vae_decode"]
    share50 = pct("outside_unet_share_per_step", 50)
    return {
        "model": pipe.info.name,
        "provider": pipe.provider,
        "scheduler": sched,
        "steps": steps,
        "runs": len(rows),
        "size": list(pipe.info.default_size),
        "total_p50_s": pct("total", 50),
        "total_p95_s": pct("total", 95),
        "unet_p50_s": pct("unet", 50),
        "unet_p95_s": pct("unet", 95),
        "step_p50_s": pct("step", 50, per_step=True),
        "unet_step_p50_s": pct("unet", 50, per_step=True),
        "outside_unet_step_p50_s": pct("loop_other", 50, per_step=True),
        "outside_unet_share_per_step_p50": share50,
        "outside_unet_share_per_step_p95": pct("outside_unet_share_per_step", 95),
        "fixed_costs_p50_s": pct("fixed", 50),  # tokenizer + text encoder + VAE, once a call
        "tokenize_p50_s": pct("tokenize", 50),
        "text_encoder_p50_s": pct("text_encoder", 50),
        "vae_decode_p50_s": pct("vae_decode", 50),
        "target_share": 0.05,
        "meets_target": share50 <= 0.05,
    }
