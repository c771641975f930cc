"""Shared training plumbing: seeding, atomic safetensors checkpoints, resumable runs, export."""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_bytes, atomic_write_json, read_json

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def pick_device(prefer: str = "auto") -> str:
    import torch

    if prefer in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def hardware(device: str | None = None) -> str:
    """ "CPU: x86_64, 2 cores" - where a model was trained, for its model card."""
    import platform

    device = device or pick_device()
    return f"{device.upper()}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def optimizer_step(net: Any, opt: Any, loss: Any, lr: float, clip: float = 1.0) -> None:
    """One update: set the learning rate, backpropagate, clip the gradient norm, step."""
    import torch

    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    opt.step()


def save_checkpoint(path: Path, state: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write tensors as safetensors and the rest as JSON metadata, atomically (never pickle)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    blob = save(tensors, metadata={"meta": json.dumps(meta)})
    atomic_write_bytes(path, blob)


def load_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors.torch import load_file

    from genstudio.runtime.packs import check_safetensors

    check_safetensors(Path(path))  # a malformed header is refused before the library reads it
    return load_file(str(path)), checkpoint_meta(path)


def checkpoint_meta(path: Path) -> dict[str, Any]:
    """A checkpoint's metadata (step, wall time ...) without loading its tensors."""
    from safetensors import safe_open

    from genstudio.runtime.packs import check_safetensors

    check_safetensors(Path(path))
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("meta", "{}"))


def flat_state(model: Any, optimizer: Any | None = None) -> dict[str, Any]:
    """Model + optimizer tensors in one flat dict (safetensors holds only tensors)."""
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    if optimizer is not None:
        for pid, st in optimizer.state_dict()["state"].items():
            for k, v in st.items():
                import torch

                t = v if isinstance(v, torch.Tensor) else torch.tensor(v)
                state[f"optim.{pid}.{k}"] = t
    return state


def restore_state(model: Any, optimizer: Any | None, tensors: dict[str, Any]) -> None:
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if optimizer is not None:
        sd = optimizer.state_dict()
        state: dict[int, dict[str, Any]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, pid, name = k.split(".", 2)
                state.setdefault(int(pid), {})[name] = v
        if state:
            sd["state"] = state
            optimizer.load_state_dict(sd)


@dataclass
class RunLog:
    """Append-only JSON-lines training log beside the checkpoints."""

    path: Path

    def write(self, **fields: Any) -> None:
        fields.setdefault("time", time.time())
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(fields) + "\n")
            f.flush()
            os.fsync(f.fileno())


def save_config(path: Path, cfg: Any) -> None:
    atomic_write_json(path, asdict(cfg))


def load_config(path: Path, cls: type) -> Any:
    return cls(**read_json(path, what="training config"))


def export_onnx(
    model: Any,
    args: tuple,
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]] | None = None,
    opset: int = 17,
) -> None:
    """Export with the TorchScript-based exporter into one self-contained file, atomically."""
    import io
    import warnings

    import torch

    buf = io.BytesIO()
    model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            buf,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            dynamo=False,
        )
    atomic_write_bytes(path, buf.getvalue())
