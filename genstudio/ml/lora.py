"""LoRA (Hu et al. 2021) for the built-in models: low-rank adapters on chosen Linear layers.

``apply(net, targets, rank, alpha)`` freezes every weight of ``net`` and wraps each
``nn.Linear`` whose name ends with one of ``targets`` so that it computes
``x W^T + b + (alpha / rank) * (x A^T) B^T`` with ``A`` (rank, in) small random and ``B``
(out, rank) zero: at step 0 the network computes exactly the base function. Only ``A`` and
``B`` train. ``merged_state_dict`` folds the adapters back into plain weights with the base's
parameter names (what the ONNX export takes); ``adapter_state_dict`` is the adapter alone (saved
as safetensors beside the pack, for users who stack or share adapters).
"""

from __future__ import annotations

import math
from typing import Any


def _lora_linear_class():
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
            super().__init__()
            self.in_features, self.out_features = base.in_features, base.out_features
            self.weight = nn.Parameter(base.weight.detach().clone(), requires_grad=False)
            self.bias = (
                nn.Parameter(base.bias.detach().clone(), requires_grad=False)
                if base.bias is not None
                else None
            )
            self.rank, self.scale = rank, alpha / rank
            self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
            self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

        def forward(self, x):
            y = nn.functional.linear(x, self.weight, self.bias)
            return y + (x @ self.lora_A.T @ self.lora_B.T) * self.scale

        def merged_weight(self):
            return self.weight + (self.lora_B @ self.lora_A) * self.scale

    return LoRALinear


def apply(net: Any, targets: tuple[str, ...], *, rank: int, alpha: float) -> int:
    """Wrap the target Linear layers; returns how many were wrapped. Freezes everything else."""
    from torch import nn

    cls = _lora_linear_class()
    for p in net.parameters():
        p.requires_grad_(False)
    wrapped = 0
    for name, module in list(net.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Linear) and any(full.endswith(t) for t in targets):
                setattr(module, child_name, cls(child, rank, alpha))
                wrapped += 1
    if not wrapped:
        raise ValueError(f"no Linear layer matches the LoRA targets {targets}")
    return wrapped


def _is_lora(module: Any) -> bool:
    return hasattr(module, "lora_A") and hasattr(module, "merged_weight")


def merged_state_dict(net: Any) -> dict[str, Any]:
    """The base's parameter names with the adapters folded into the weights."""
    import torch

    out: dict[str, Any] = {}
    with torch.no_grad():
        lora_names = {n for n, m in net.named_modules() if _is_lora(m)}
        for name, module in net.named_modules():
            if name in lora_names:
                out[f"{name}.weight"] = module.merged_weight().detach().clone()
                if module.bias is not None:
                    out[f"{name}.bias"] = module.bias.detach().clone()
        for k, v in net.state_dict().items():
            owner = k.rsplit(".", 1)[0]
            if owner in lora_names:
                continue
            out[k] = v.detach().clone()
    return out


def adapter_state_dict(net: Any) -> dict[str, Any]:
    return {
        k: v.detach().clone()
        for k, v in net.state_dict().items()
        if k.endswith(".lora_A") or k.endswith(".lora_B")
    }
