"""Importing Stable Diffusion the way artists have it: single-file checkpoints and diffusers
folders, converted to ONNX in the training child process.

Torch-free. :func:`classify_source` says what a path is before anything heavy runs:

- ``"onnx"``: an ONNX export in Optimum's layout - imported as it is
  (:func:`genstudio.generators.images.sd.folder.import_sd_folder`, no conversion);
- ``"diffusers"``: a diffusers folder with safetensors weights (``model_index.json``,
  ``unet/diffusion_pytorch_model[.fp16].safetensors`` ...);
- ``"single_file"``: one ``.safetensors`` checkpoint as A1111, ComfyUI and model sites keep
  them (SD 1.x, SD 2.x, SD-Turbo; inpainting UNets included).

Pickles are refused by name (``.ckpt``, ``.pt``, ``.pth``, ``.bin`` ...) and by content
whatever the name (:func:`genstudio.runtime.packs.check_model_file`), with a hint that says
how to convert them safely elsewhere; so are SDXL, FIFOs, devices and folders that are none
of the above.

The conversion itself is :class:`ImportSDGenerator` (``models.import_sd``): ``needs_process``,
so it runs in the training child process, where :mod:`genstudio.ml.images.sd_convert` imports
torch, diffusers and transformers. It reports progress, can be cancelled between parts, writes
into a hidden folder in the models directory and renames it into place only once the ONNX
folder validates.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from genstudio.core.errors import InvalidParamsError, ModelPackError, UnsafeModelError
from genstudio.generators.base import GenerationResult, Generator, GenParams, RunContext
from genstudio.generators.fields import param
from genstudio.runtime.packs import PICKLE_EXTENSIONS, check_model_file

SOURCES = ("onnx", "diffusers", "single_file")
PREDICTIONS = ("auto", "epsilon", "v_prediction")

#: how to turn a pickle into something GenStudio loads, without running it here
PICKLE_ADVICE = (
    "Pickle checkpoints (.ckpt, .pt, .bin) can run hidden code when they are opened, so "
    "GenStudio never opens them. Most model sites offer the same model as .safetensors: "
    "download that instead. If there is none, convert the file in a separate, throw-away "
    "environment you trust (for example a fresh virtual machine with diffusers: "
    "StableDiffusionPipeline.from_single_file(...).save_pretrained(out, "
    "safe_serialization=True)), and import the folder it writes."
)
SDXL_WORDS = (
    "This is Stable Diffusion XL; GenStudio runs Stable Diffusion 1.x and 2.x (SD-Turbo "
    "included). SDXL is not supported yet."
)


def _pickle_error(path: Path) -> UnsafeModelError:
    return UnsafeModelError(
        f"{path.name} is a PyTorch pickle checkpoint: refused.", hint=PICKLE_ADVICE
    )


def _safetensors_keys(path: Path) -> list[str]:
    """The tensor names of a safetensors file, from its JSON header only."""
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n).decode("utf-8"))
    return [k for k in header if k != "__metadata__"]


def _weights(part: Path) -> list[Path]:
    return sorted(p for p in part.glob("*.safetensors") if p.is_file()) if part.is_dir() else []


def classify_source(path: str | os.PathLike[str]) -> str:
    """``"onnx"``, ``"diffusers"`` or ``"single_file"`` for ``path``; otherwise a
    :class:`ModelPackError` (:class:`UnsafeModelError` for pickles) that says what to do."""
    p = Path(path).expanduser()
    if not p.exists() and not p.is_symlink():
        raise ModelPackError(
            f"{p} does not exist.",
            hint="Choose a .safetensors checkpoint, a diffusers folder or an ONNX export folder.",
        )
    if not p.is_dir():
        if p.suffix.lower() in PICKLE_EXTENSIONS:
            raise _pickle_error(p)
        try:
            check_model_file(p)  # FIFOs, devices, pickles under any name, bad headers
        except UnsafeModelError as e:
            raise UnsafeModelError(e.message, hint=PICKLE_ADVICE) from e
        if p.suffix.lower() != ".safetensors":
            raise ModelPackError(
                f"{p.name} is not a Stable Diffusion checkpoint GenStudio can read.",
                hint="Choose a .safetensors checkpoint, a diffusers folder or an ONNX export folder.",
            )
        keys = _safetensors_keys(p)
        if any(
            k.startswith(("conditioner.embedders.1.", "model.diffusion_model.label_emb."))
            for k in keys
        ):
            raise ModelPackError(
                SDXL_WORDS, hint="Choose an SD 1.x, SD 2.x or SD-Turbo checkpoint."
            )
        if not any(k.startswith("model.diffusion_model.") for k in keys):
            raise ModelPackError(
                f"{p.name} holds no Stable Diffusion UNet (no model.diffusion_model.* tensors): "
                "it may be a LoRA, an embedding or a VAE on its own.",
                hint="A LoRA is applied to a model, not imported as one: put it in the models "
                "folder's loras/ and write <lora:NAME:0.8> in the prompt. Choose a full "
                "checkpoint here.",
            )
        return "single_file"
    if (p / "text_encoder_2").is_dir() or (p / "tokenizer_2").is_dir():
        raise ModelPackError(SDXL_WORDS, hint="Choose an SD 1.x, SD 2.x or SD-Turbo model.")
    if not (p / "model_index.json").is_file():
        singles = [f for f in p.glob("*.safetensors") if f.is_file()]
        hint = (
            f"To import the checkpoint inside it, choose the file itself ({singles[0].name})."
            if singles
            else "Choose the folder that holds model_index.json."
        )
        raise ModelPackError(f"{p.name} is not a Stable Diffusion model folder.", hint=hint)
    if (p / "unet" / "model.onnx").is_file():
        return "onnx"
    pickled = [
        f for part in ("unet", "vae", "text_encoder") for f in (p / part).glob("*")
        if f.suffix.lower() in PICKLE_EXTENSIONS
    ]  # fmt: skip
    if all(_weights(p / part) for part in ("unet", "vae", "text_encoder")):
        for part in ("unet", "vae", "text_encoder"):
            for f in _weights(p / part):
                try:
                    check_model_file(f, root=p)
                except UnsafeModelError as e:
                    raise UnsafeModelError(e.message, hint=PICKLE_ADVICE) from e
        return "diffusers"
    if pickled:
        raise UnsafeModelError(
            f"{p.name} keeps its weights as PyTorch pickles ({pickled[0].parent.name}/"
            f"{pickled[0].name}): refused.",
            hint=PICKLE_ADVICE,
        )
    raise ModelPackError(
        f"{p.name} has a model_index.json but no UNet, VAE and text encoder weights "
        "(unet/*.safetensors or unet/model.onnx).",
        hint="Copy the whole model folder, every part included.",
    )


def a1111_hash(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a checkpoint file: A1111's "Model hash" is its first 10 hex digits."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ImportSDParams(GenParams):
    source: str = param("", "Checkpoint or folder", kind="path", cli=None, help="a .safetensors checkpoint or a diffusers folder")  # fmt: skip
    models_dir: str = param("", "Models folder", kind="path", cli=None, help="where the ONNX model is written")  # fmt: skip
    name: str = param("", "Name", max_len=100, cli=None, help="the model's folder name ('' = from the file name)")  # fmt: skip
    prediction: str = param(
        "auto", "Prediction", choices=PREDICTIONS,
        help="what the UNet predicts: auto reads the checkpoint (SD 2.x 768: v_prediction; "
        "SD 1.x, SD 2.x base and SD-Turbo: epsilon)",
    )  # fmt: skip
    tokenizer: str = param(
        "", "Tokenizer folder", kind="path",
        help="a CLIP tokenizer folder, for a checkpoint whose vocabulary is not CLIP's usual "
        "49,408 tokens ('' = CLIP's, shipped with GenStudio)",
    )  # fmt: skip

    def check(self) -> None:
        if not self.source:
            raise InvalidParamsError("Choose a checkpoint file or a model folder to import.")
        if not self.models_dir:
            raise InvalidParamsError("An import needs a models folder to write into.")


class ImportSDGenerator(Generator):
    name = "models.import_sd"
    kind = "model"
    Params = ImportSDParams
    needs_process = True
    cancel_grace = 10.0
    #: what the child process runs (imported there only: the studio never imports torch)
    converter = "genstudio.ml.images.sd_convert:run_job"

    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        from genstudio.generators.training import call_addon

        return GenerationResult(info=call_addon(self.converter, params, ctx))
