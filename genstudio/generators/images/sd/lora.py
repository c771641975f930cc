"""LoRA files on Stable Diffusion ONNX models, merged with numpy in the studio (no torch).

A LoRA adds ``weight * (alpha / rank) * up @ down`` to chosen Linear and Conv weights of the
UNet and the text encoder. GenStudio's own ONNX conversions (:mod:`genstudio.ml.images.sd_onnx`)
write ``<part>/genstudio-weights.json``, which says which ONNX initializer holds each weight (as
it is, or transposed); :func:`overrides` computes the merged arrays, and the pipeline starts its
sessions with them in place of the originals (ONNX Runtime's ``add_initializer``): the model on
disk is never changed, and each (model, LoRA set, weights) is merged once per pipeline.

Key formats read (safetensors only; pickles are refused like every model file):

- **kohya / A1111** (``lora_unet_<module>.lora_down.weight``, ``.lora_up.weight``, ``.alpha``;
  ``lora_te_<module>``): module names with ``_`` for ``.``, resolved against the model's own
  module names;
- **diffusers / PEFT** (``unet.<module>.lora_A.weight``, ``.lora_B.weight``, optional
  ``.alpha``; ``text_encoder.<module>``), and diffusers' older ``.lora.down`` / ``.lora.up``.

A1111 prompt syntax ``<lora:name:0.8>`` is read by :func:`parse_prompt` (the tags are taken out
of the text the text encoder sees, as A1111 does); :func:`a1111_hash` is A1111's short LoRA hash
(SHA-256 of the tensor data after the safetensors header, 12 hex digits) for ``Lora hashes`` in
the PNG metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError, ModelPackError
from genstudio.runtime.packs import check_model_file

WEIGHT_MAP = "genstudio-weights.json"
PARTS = ("unet", "text_encoder")
MAX_WEIGHT = 10.0
_TAG = re.compile(r"<lora:([^:<>]+?)(?::\s*([-+]?\d*\.?\d+)\s*)?>", re.IGNORECASE)
_KOHYA_PREFIX = {"lora_unet_": "unet", "lora_te_": "text_encoder", "lora_te1_": "text_encoder"}
_PEFT_PREFIX = {"unet.": "unet", "text_encoder.": "text_encoder"}


@dataclass(frozen=True)
class LoraTag:
    name: str
    weight: float


def parse_prompt(prompt: str) -> tuple[str, list[LoraTag]]:
    """``prompt`` without its ``<lora:name:weight>`` tags (weight 1 when left out), and the
    tags in order."""
    tags: list[LoraTag] = []
    for m in _TAG.finditer(prompt):
        w = float(m.group(2)) if m.group(2) else 1.0
        if not -MAX_WEIGHT <= w <= MAX_WEIGHT:
            raise InvalidParamsError(
                f"The LoRA weight {w:g} of {m.group(1)!r} is out of range.",
                hint=f"Use a weight between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g} (usually 0.5-1).",
            )
        tags.append(LoraTag(m.group(1).strip(), w))
    clean = re.sub(r"\s{2,}", " ", _TAG.sub("", prompt)).strip(" ,")
    return clean, tags


def find_lora(name: str, folders: Iterable[Path]) -> Path:
    """``<folder>/<name>.safetensors`` in the first folder that has it."""
    if "/" in name or "\\" in name or name.startswith("."):
        raise InvalidParamsError(f"{name!r} is not a LoRA name.", hint="Use the file's name.")
    tried = []
    for folder in folders:
        p = Path(folder) / f"{name}.safetensors"
        tried.append(str(folder))
        if p.is_file():
            return p
    raise InvalidParamsError(
        f"There is no LoRA named {name!r}.",
        hint=f"Put {name}.safetensors in a LoRA folder ({', '.join(tried) or 'none set'}).",
    )


def a1111_hash(path: str | os.PathLike[str]) -> str:
    """A1111's LoRA hash: SHA-256 of the data after the safetensors header, first 12 digits."""
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        fh.seek(8 + n)
        h = hashlib.sha256()
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


@dataclass
class _Pair:
    down: np.ndarray | None = None
    up: np.ndarray | None = None
    alpha: float | None = None


def _module_and_leaf(key: str) -> tuple[str, str] | None:
    for leaf in (
        ".lora_down.weight",
        ".lora_up.weight",
        ".lora_A.weight",
        ".lora_B.weight",
        ".lora.down.weight",
        ".lora.up.weight",
        ".alpha",
    ):
        if key.endswith(leaf):
            return key[: -len(leaf)], leaf
    return None


def read_lora(path: Path, known: dict[str, set[str]]) -> dict[tuple[str, str], _Pair]:
    """``(part, module name)`` -> its down/up matrices and alpha; ``known`` holds each part's
    module names (for the kohya underscore names). Unknown modules are an error."""
    from safetensors.numpy import load_file

    check_model_file(path)
    try:
        tensors = load_file(str(path))
    except Exception as e:  # noqa: BLE001 - safetensors reports damage in several types
        raise ModelPackError(f"{path.name} cannot be read: {e}", hint="Download it again.") from e
    underscored = {part: {m.replace(".", "_"): m for m in names} for part, names in known.items()}
    out: dict[tuple[str, str], _Pair] = {}
    unknown: list[str] = []
    for key, arr in tensors.items():
        split = _module_and_leaf(key)
        if split is None:
            continue
        mod, leaf = split
        part = name = None
        for prefix, p in _KOHYA_PREFIX.items():
            if mod.startswith(prefix):
                raw = mod[len(prefix) :].removeprefix("text_model_")
                part, name = p, underscored.get(p, {}).get(raw)
                break
        else:
            for prefix, p in _PEFT_PREFIX.items():
                if mod.startswith(prefix):
                    part, name = p, mod[len(prefix) :].removeprefix("text_model.")
                    if name not in known.get(p, set()):
                        name = None
                    break
        if part is None or name is None:
            unknown.append(mod)
            continue
        pair = out.setdefault((part, name), _Pair())
        a = np.asarray(arr, dtype=np.float32)
        if leaf == ".alpha":
            pair.alpha = float(a.reshape(-1)[0])
        elif leaf in (".lora_down.weight", ".lora_A.weight", ".lora.down.weight"):
            pair.down = a
        else:
            pair.up = a
    if unknown:
        raise ModelPackError(
            f"{path.name} changes {len(set(unknown))} layers this model does not have "
            f"(e.g. {sorted(set(unknown))[0]}).",
            hint="The LoRA was made for another kind of model (SDXL, or SD 2.x vs 1.x).",
        )
    if not out:
        raise ModelPackError(f"{path.name} holds no LoRA weights.", hint="Choose a LoRA file.")
    for (part, name), pair in out.items():
        if pair.down is None or pair.up is None:
            raise ModelPackError(
                f"{path.name}: {part} {name} has half a LoRA (no up or no down matrix).",
                hint="The file is damaged; download it again.",
            )
    return out


def delta(pair: _Pair, shape: tuple[int, ...], weight: float) -> np.ndarray:
    """``weight * (alpha / rank) * up @ down`` in the layer's own shape (Linear or Conv)."""
    assert pair.down is not None and pair.up is not None
    rank = pair.down.shape[0]
    scale = weight * ((pair.alpha / rank) if pair.alpha else 1.0)
    down = pair.down.reshape(rank, -1)
    up = pair.up.reshape(pair.up.shape[0], rank)
    d = (up @ down) * np.float32(scale)
    if int(np.prod(d.shape)) != int(np.prod(shape)):
        raise ModelPackError(
            f"A LoRA layer of shape {tuple(d.shape)} does not fit the model's {shape}.",
            hint="The LoRA was made for another model (SD 1.x vs 2.x).",
        )
    return d.reshape(shape).astype(np.float32)


def _weight_map(model_dir: Path, part: str) -> dict[str, Any]:
    p = model_dir / part / WEIGHT_MAP
    if not p.is_file():
        raise ModelPackError(
            "LoRAs can only be applied to models GenStudio converted itself.",
            hint="Import the model from its .safetensors checkpoint or diffusers folder "
            "(genstudio models import FILE_OR_FOLDER), then apply the LoRA to that.",
        )
    return dict(json.loads(p.read_text("utf-8"))["weights"])


def _initializers(onnx_path: Path, names: set[str]) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(onnx_path), load_external_data=True)
    return {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer if i.name in names}


def overrides(
    model_dir: str | os.PathLike[str], loras: Sequence[tuple[str | os.PathLike[str], float]]
) -> dict[str, dict[str, np.ndarray]]:
    """Per part, the merged arrays of the initializers the LoRAs change (several LoRAs add up)."""
    root = Path(model_dir)
    if not loras:
        return {}
    maps = {part: _weight_map(root, part) for part in PARTS}
    known = {
        part: {name.removesuffix(".weight") for name in m if name.endswith(".weight")}
        for part, m in maps.items()
    }
    wanted = [read_lora(Path(path), known) for path, _w in loras]
    deltas: dict[tuple[str, str], np.ndarray] = {}
    shapes: dict[str, dict[str, np.ndarray]] = {}
    for part in PARTS:
        used = {name for pairs in wanted for (p, name) in pairs if p == part}
        if not used:
            continue
        inits = {maps[part][f"{n}.weight"]["init"] for n in used}
        shapes[part] = _initializers(root / part / "model.onnx", inits)
        for pairs, (_path, w) in zip(wanted, loras, strict=True):
            for (p, name), pair in pairs.items():
                if p != part:
                    continue
                entry = maps[part][f"{name}.weight"]
                base = shapes[part][entry["init"]]
                torch_shape = base.T.shape if entry["transposed"] else base.shape
                d = delta(pair, tuple(torch_shape), w)
                key = (part, entry["init"])
                add = d.T if entry["transposed"] else d
                deltas[key] = deltas[key] + add if key in deltas else add
    out: dict[str, dict[str, np.ndarray]] = {}
    for (part, init), d in deltas.items():
        out.setdefault(part, {})[init] = np.ascontiguousarray(shapes[part][init] + d, np.float32)
    return out
