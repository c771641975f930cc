"""MusicGPT: a small decoder-only Transformer over REMI-like music tokens, with a KV cache.

* Pre-LayerNorm GPT blocks (Radford et al. 2019; nanoGPT's layout): causal self-attention
  (``scaled_dot_product_attention``) and a 4x GELU MLP, learned absolute positions, tied input
  and output embeddings.
* Training sees windows of a piece that always start with the piece's header (style, key,
  time signature, tempo) followed by whole bars, so the model also knows a window that starts in
  the middle of a piece; generation longer than ``max_len`` slides the same way.
* ``step`` is the cached inference step in torch: ``tokens (B, T)`` and a per-layer cache (keys
  stored transposed, (B, H, Dh, P); values (B, H, P, Dh)) -> the logits of the last position
  and the grown cache; the causal mask is built from the shapes, positions start at P. The
  shipped ONNX graph computes the same with ONNX Runtime's fused attention and both caches
  (B, H, P, Dh) (``onnx_graph.py``); :class:`StepExport` names its inputs and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MusicGPTConfig:
    vocab: int = 0
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 192
    max_len: int = 512
    dropout: float = 0.1

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


def build(cfg: MusicGPTConfig):
    """(MusicGPT instance, StepExport class); torch is imported here, lazily."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    h, dh = cfg.n_head, cfg.head_dim

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
            self.proj = nn.Linear(cfg.d_model, cfg.d_model)
            self.drop = nn.Dropout(cfg.dropout)

        def split(self, x):  # (B, T, 3D) -> 3 x (B, H, T, Dh)
            b, t, _ = x.shape
            q, k, v = x.view(b, t, 3, h, dh).permute(2, 0, 3, 1, 4)
            return q, k, v

        def forward(self, x):  # training: full causal attention
            q, k, v = self.split(self.qkv(x))
            p = cfg.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
            return self.drop(self.proj(y.transpose(1, 2).flatten(2)))

        def step(self, x, past_k, past_v, bias):  # inference with a cache
            # one reshape + one transpose give (B, 3H, T, Dh); the key cache is kept
            # transposed, (B, H, Dh, P), so q @ k needs no per-step copy; ``bias`` is the
            # causal mask, built once for all layers (MusicGPT.step)
            b, t, _ = x.shape
            qkv = self.qkv(x).view(b, t, 3 * h, dh).transpose(1, 2)
            q, k, v = qkv.split(h, dim=1)
            k = torch.cat([past_k, k.transpose(2, 3)], dim=3)
            v = torch.cat([past_v, v], dim=2)
            att = torch.softmax((q @ k) * (1.0 / dh**0.5) + bias, dim=-1)
            return self.proj((att @ v).transpose(1, 2).reshape(b, t, cfg.d_model)), k, v

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(cfg.d_model)
            self.attn = Attention()
            self.ln2 = nn.LayerNorm(cfg.d_model)
            self.mlp = nn.Sequential(
                nn.Linear(cfg.d_model, 4 * cfg.d_model),
                nn.GELU(),
                nn.Linear(4 * cfg.d_model, cfg.d_model),
                nn.Dropout(cfg.dropout),
            )

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

        def step(self, x, past_k, past_v, bias):
            a, k, v = self.attn.step(self.ln1(x), past_k, past_v, bias)
            x = x + a
            return x + self.mlp(self.ln2(x)), k, v

    class MusicGPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cfg = cfg
            self.tok = nn.Embedding(cfg.vocab, cfg.d_model)
            self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
            self.drop = nn.Dropout(cfg.dropout)
            self.blocks = nn.ModuleList(Block() for _ in range(cfg.n_layer))
            self.ln_f = nn.LayerNorm(cfg.d_model)
            self.apply(self._init)
            for name, p in self.named_parameters():  # GPT-2: scaled init of residual outputs
                if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                    nn.init.normal_(p, 0.0, 0.02 / (2 * cfg.n_layer) ** 0.5)

        @staticmethod
        def _init(m) -> None:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, 0.0, 0.02)

        def logits(self, x):
            return self.ln_f(x) @ self.tok.weight.T  # tied embeddings

        def forward(self, tokens):  # (B, T) -> (B, T, V)
            t = tokens.shape[1]
            pos = torch.arange(t, device=tokens.device)
            x = self.drop(self.tok(tokens) + self.pos(pos)[None])
            for blk in self.blocks:
                x = blk(x)
            return self.logits(x)

        def step(self, tokens, *past):  # see StepExport
            p, t = past[1].shape[2], tokens.shape[1]
            pos = torch.arange(t, device=tokens.device) + p
            x = self.tok(tokens) + self.pos(pos)[None]
            cols = torch.arange(p + t, device=tokens.device)[None, :]
            bias = (cols > pos[:, None]).float() * -1e9  # (T, P + T): 0 where allowed
            presents = []
            for i, blk in enumerate(self.blocks):
                x, k, v = blk.step(x, past[2 * i], past[2 * i + 1], bias)
                presents += [k, v]
            return (self.logits(x[:, -1]), *presents)

    class StepExport(nn.Module):
        """ONNX graph: ``tokens`` (B, T) int64 and per layer ``past_key_i`` (B, H, Dh, P) and
        ``past_value_i`` (B, H, P, Dh) -> ``logits`` (B, V) of the last position and
        ``present_key_i`` / ``present_value_i`` with P + T positions."""

        def __init__(self, net: MusicGPT) -> None:
            super().__init__()
            self.net = net

        def forward(self, tokens, *past):
            return self.net.step(tokens, *past)

    def io_names() -> tuple[list[str], list[str], dict[str, dict[int, str]]]:
        ins, outs, axes = ["tokens"], ["logits"], {"tokens": {0: "batch", 1: "new"}}
        axes["logits"] = {0: "batch"}
        for i in range(cfg.n_layer):
            for kind, dim in (("key", 3), ("value", 2)):
                ins.append(f"past_{kind}_{i}")
                outs.append(f"present_{kind}_{i}")
                axes[f"past_{kind}_{i}"] = {0: "batch", dim: "past"}
                axes[f"present_{kind}_{i}"] = {0: "batch", dim: "total"}
        return ins, outs, axes

    StepExport.io_names = staticmethod(io_names)

    return MusicGPT(), StepExport
