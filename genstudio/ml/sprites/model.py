"""SpriteNet: a conditional generator of whole character sheets, in material-code space.

Design (the "designer + animator" split of the sprites issue, identity consistent by construction):

* **Designer**: the requested attributes (one embedding per attribute key) and a latent ``z``
  go through an MLP to one *character code* per character. Everything about the look lives in
  that code, and it is computed once per sheet.
* **Animator**: a small convolutional decoder renders one 32x32 frame from the character code
  and a *pose* (direction x frame index, a learned embedding), with FiLM conditioning at every
  resolution. All frames of a sheet share the character code, so the character cannot change
  between frames.
* **Material-code space**: the decoder predicts, per pixel, logits over *material codes*
  (material x shade: skin, hair, top, bottom, shoes, steel, ... each in 4 shades of its ramp;
  0 = transparent; ``procedural.compose_codes``). The requested colours are applied afterwards
  by the palette ramps the attributes select (``procedural.color_lut``), exactly as pixel
  artists palette-swap a character. Taking the argmax gives real pixel art: hard edges, only
  ramp colours, binary alpha - no blur to clean up - and a user palette or recolour is a
  lookup-table change, not a new generation. (The first packs predicted a global 203-colour
  palette instead; they left the colour of small parts - trousers, shoes - to chance.)
* **Latent**: a conditional VAE (Kingma & Welling 2014; Sohn et al. 2015). The encoder sees a few
  frames of a real sheet and explains what the attributes do not (``z``); at generation time
  ``z ~ N(0, I)``. The encoder is also what fine-tuning on a user's unlabelled sprites will use.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SpriteNetConfig:
    attr_keys: list[str] = field(default_factory=list)
    attr_sizes: list[int] = field(default_factory=list)  # number of values per key
    n_classes: int = 72  # material codes (material * 4 + shade), 0 = transparent
    n_poses: int = 24  # directions x frames
    z_dim: int = 16
    emb_dim: int = 32
    code_dim: int = 256
    pose_dim: int = 64
    ch: tuple[int, int, int, int] = (128, 96, 64, 48)  # channels at 4, 8, 16, 32 px
    frame: int = 32


def build(cfg: SpriteNetConfig):
    """Build the torch modules (imported lazily: torch lives only in genstudio.ml)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class FiLMBlock(nn.Module):
        """conv3x3 -> GroupNorm -> FiLM(scale, shift from the condition) -> SiLU, twice."""

        def __init__(self, cin: int, cout: int, cond: int) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
            self.n1 = nn.GroupNorm(8, cout)
            self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
            self.n2 = nn.GroupNorm(8, cout)
            self.film = nn.Linear(cond, 4 * cout)
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

        def forward(self, x, c):  # x (N, cin, H, W), c (N, cond)
            s1, b1, s2, b2 = self.film(c)[:, :, None, None].chunk(4, dim=1)
            h = F.silu(self.n1(self.c1(x)) * (1 + s1) + b1)
            h = F.silu(self.n2(self.c2(h)) * (1 + s2) + b2)
            return h + self.skip(x)

    class Encoder(nn.Module):
        """A few frames of one sheet (as material-code one-hots) -> q(z | sheet)."""

        def __init__(self) -> None:
            super().__init__()
            k = cfg.n_classes
            self.net = nn.Sequential(
                nn.Conv2d(k, 64, 3, stride=2, padding=1),  # 16
                nn.SiLU(),
                nn.Conv2d(64, 96, 3, stride=2, padding=1),  # 8
                nn.SiLU(),
                nn.Conv2d(96, 128, 3, stride=2, padding=1),  # 4
                nn.SiLU(),
                nn.Flatten(),
                nn.Linear(128 * 16, 256),
                nn.SiLU(),
            )
            self.pose = nn.Embedding(cfg.n_poses, 256)
            self.out = nn.Linear(256, 2 * cfg.z_dim)

        def forward(self, onehot, pose):  # onehot (B, P, K, 32, 32), pose (B, P)
            b, p = pose.shape
            h = self.net(onehot.flatten(0, 1)) + self.pose(pose.flatten())  # (B*P, 256)
            h = h.view(b, p, -1).mean(dim=1)  # pool the frames of a sheet
            mu, logvar = self.out(h).chunk(2, dim=1)
            return mu, logvar.clamp(-8.0, 8.0)

    class SpriteNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cfg = cfg
            self.attr_emb = nn.ModuleList(nn.Embedding(n, cfg.emb_dim) for n in cfg.attr_sizes)
            n_in = cfg.emb_dim * len(cfg.attr_sizes) + cfg.z_dim
            self.designer = nn.Sequential(
                nn.Linear(n_in, cfg.code_dim),
                nn.SiLU(),
                nn.Linear(cfg.code_dim, cfg.code_dim),
                nn.SiLU(),
                nn.Linear(cfg.code_dim, cfg.code_dim),
            )
            self.pose_emb = nn.Embedding(cfg.n_poses, cfg.pose_dim)
            cond = cfg.code_dim + cfg.pose_dim
            c4, c8, c16, c32 = cfg.ch
            self.stem = nn.Linear(cond, c4 * 16)
            self.b4 = FiLMBlock(c4, c4, cond)
            self.b8 = FiLMBlock(c4, c8, cond)
            self.b16 = FiLMBlock(c8, c16, cond)
            self.b32 = FiLMBlock(c16, c32, cond)
            self.head = nn.Conv2d(c32, cfg.n_classes, 1)
            self.encoder = Encoder()

        def code(self, attrs, z):  # attrs (B, A) int64, z (B, Z) -> (B, code_dim)
            e = [emb(attrs[:, i]) for i, emb in enumerate(self.attr_emb)]
            return self.designer(torch.cat([*e, z], dim=1))

        def render(self, code, pose):  # code (N, code_dim), pose (N,) -> logits (N, K, 32, 32)
            c = torch.cat([code, self.pose_emb(pose)], dim=1)
            h = self.stem(c).view(c.shape[0], -1, 4, 4)
            h = self.b4(h, c)
            h = self.b8(F.interpolate(h, scale_factor=2.0, mode="nearest"), c)
            h = self.b16(F.interpolate(h, scale_factor=2.0, mode="nearest"), c)
            h = self.b32(F.interpolate(h, scale_factor=2.0, mode="nearest"), c)
            return self.head(h)

        def forward(self, attrs, z, pose):  # pose (B, P) -> logits (B, P, K, 32, 32)
            b, p = pose.shape
            code = self.code(attrs, z)
            code = code[:, None, :].expand(b, p, code.shape[1]).reshape(b * p, -1)
            logits = self.render(code, pose.reshape(-1))
            return logits.view(b, p, *logits.shape[1:])

    class SheetExport(nn.Module):
        """What ships in ONNX: attributes + z -> material codes of every frame of every sheet.

        ``logit_bias`` (K,) is added before the argmax: ``-log(class weight)`` undoes the bias a
        class-weighted loss puts into the decision (logit adjustment, Menon et al. 2021)."""

        def __init__(self, net: SpriteNet, logit_bias=None) -> None:
            super().__init__()
            self.net = net
            bias = torch.zeros(cfg.n_classes) if logit_bias is None else logit_bias
            self.register_buffer("logit_bias", torch.as_tensor(bias, dtype=torch.float32))

        def forward(self, attrs, z):  # (B, A) int64, (B, Z) float -> (B, n_poses, 32, 32) int64
            b = attrs.shape[0]
            poses = torch.arange(cfg.n_poses, device=attrs.device)[None, :].expand(b, cfg.n_poses)
            logits = self.net(attrs, z, poses) + self.logit_bias[None, None, :, None, None]
            return logits.argmax(dim=2)

    return SpriteNet(), SheetExport
