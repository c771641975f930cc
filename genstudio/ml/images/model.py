"""The built-in text-to-image model: a small KL autoencoder + a latent diffusion UNet, and the
judge classifier of the eval. torch is imported inside :func:`build_*` only.

Autoencoder (``IconAE``)
    64x64 premultiplied RGBA in [-1, 1] <-> a 16x16x8 latent (f = 4, 8x fewer numbers).
    Pixel-unshuffle first (64x64x4 -> 32x32x16, free) so every convolution runs at 32x32 or
    16x16 - the 2-core training budget - and pixel-shuffle last. A KL term (weight ``kl``,
    as in Stable Diffusion's VAE) keeps the latent smooth; the diffusion model works on the
    posterior mean times ``latent_scale`` (1 / std of the training latents).

Diffusion UNet (``IconUNet``)
    epsilon prediction on 16x16x8 latents under Stable Diffusion's schedule (scaled-linear betas
    0.00085..0.012, 1000 steps), so the numpy schedulers of ``generators.images.schedulers``
    (DDIM, Euler, Euler a, DPM++ 2M, LCM) drive it exactly as they drive SD. Levels 16/8/4 with
    (c, 2c, 2c) channels, residual blocks with scale-shift conditioning (time + text), and
    self-attention at 8x8 and 4x4. Text: the MiniLM sentence vector (384, unit length) times
    ``text_scale`` -> MLP, added to the time embedding; ``use_text`` = 0 selects a learned null
    vector instead (classifier-free guidance; captions are dropped with probability ``p_uncond``
    in training). ``text_scale`` = sqrt(384) gives the text entries unit size like the time
    features' (at 1.0 - the first runs - Adam moved the text path ~20x slower than the time path
    and the UNet barely used the caption). ``text_tokens`` > 0 adds cross-attention after each
    self-attention, over that many tokens projected from the (scaled) sentence vector: a
    conditioning that can differ from place to place, which a per-channel scale-shift cannot.
    Their output projections start at zero, so a run can start from a checkpoint without them
    (``TrainConfig.init``) and compute the same function at step 0.

Judge (``IconJudge``)
    a small CNN over the icon composited on mid-grey -> emoji subgroup; its penultimate layer is
    the feature space of the eval's Frechet distance, diversity and nearest-neighbour numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AEConfig:
    ch: int = 48
    latent: int = 8
    kl: float = 1e-6


@dataclass
class UNetConfig:
    latent: int = 8
    ch: int = 64
    text_dim: int = 384
    emb: int = 256
    heads: int = 4
    text_scale: float = 1.0
    text_tokens: int = 0


@dataclass
class JudgeConfig:
    n_classes: int = 96
    ch: int = 32
    feat: int = 128


def build_ae(cfg: AEConfig):
    import torch
    from torch import nn
    from torch.nn import functional as F

    def norm(c: int):
        return nn.GroupNorm(min(8, c // 4), c)

    class Res(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.n1, self.c1 = norm(c), nn.Conv2d(c, c, 3, padding=1)
            self.n2, self.c2 = norm(c), nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            h = self.c1(F.silu(self.n1(x)))
            return x + self.c2(F.silu(self.n2(h)))

    c = cfg.ch

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.PixelUnshuffle(2),  # 64x64x4 -> 32x32x16
                nn.Conv2d(16, c, 3, padding=1),
                Res(c),
                nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),  # -> 16x16
                Res(2 * c),
                Res(2 * c),
                norm(2 * c),
                nn.SiLU(),
                nn.Conv2d(2 * c, 2 * cfg.latent, 3, padding=1),
            )

        def forward(self, x):
            mean, logvar = self.net(x).chunk(2, dim=1)
            return mean, logvar.clamp(-20.0, 10.0)

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(cfg.latent, 2 * c, 3, padding=1),
                Res(2 * c),
                Res(2 * c),
                nn.Upsample(scale_factor=2.0, mode="nearest"),  # -> 32x32
                nn.Conv2d(2 * c, c, 3, padding=1),
                Res(c),
                Res(c),
                norm(c),
                nn.SiLU(),
                nn.Conv2d(c, 16, 3, padding=1),
                nn.PixelShuffle(2),  # -> 64x64x4
            )

        def forward(self, z):
            return self.net(z)

    class IconAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cfg = cfg
            self.encoder, self.decoder = Encoder(), Decoder()

        def forward(self, x, sample: bool = True):
            mean, logvar = self.encoder(x)
            z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
            return self.decoder(z), mean, logvar

    return IconAE()


def _same(h):
    return h


def build_unet(cfg: UNetConfig):
    import math

    import torch
    from torch import nn
    from torch.nn import functional as F

    def norm(c: int):
        return nn.GroupNorm(8, c)

    class Res(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.n1, self.c1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
            self.film = nn.Linear(cfg.emb, 2 * cout)
            self.n2, self.c2 = norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

        def forward(self, x, e):
            h = self.c1(F.silu(self.n1(x)))
            scale, shift = self.film(e)[:, :, None, None].chunk(2, dim=1)
            h = self.n2(h) * (1 + scale) + shift
            return self.skip(x) + self.c2(F.silu(h))

    class Attn(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.n = norm(c)
            self.qkv = nn.Conv2d(c, 3 * c, 1)
            self.out = nn.Conv2d(c, c, 1)
            self.h = cfg.heads

        def forward(self, x):
            b, c, hh, ww = x.shape
            q, k, v = self.qkv(self.n(x)).reshape(b, 3, self.h, c // self.h, hh * ww).unbind(1)
            att = torch.softmax(q.transpose(-1, -2) @ k * (c // self.h) ** -0.5, dim=-1)
            y = (v @ att.transpose(-1, -2)).reshape(b, c, hh, ww)
            return x + self.out(y)

    class XAttn(nn.Module):
        """Cross-attention of the feature map (queries) to the text tokens (keys, values)."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.n = norm(c)
            self.q = nn.Conv2d(c, c, 1)
            self.kv = nn.Linear(c, 2 * c)
            self.out = nn.Conv2d(c, c, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            self.h = cfg.heads

        def forward(self, x, tok):
            b, c, hh, ww = x.shape
            dh = c // self.h
            q = self.q(self.n(x)).reshape(b, self.h, dh, hh * ww)
            k, v = self.kv(tok).reshape(b, -1, 2, self.h, dh).permute(2, 0, 3, 4, 1).unbind(0)
            att = torch.softmax(q.transpose(-1, -2) @ k * dh**-0.5, dim=-1)  # (b, h, hw, T)
            y = (v @ att.transpose(-1, -2)).reshape(b, c, hh, ww)
            return x + self.out(y)

    c1, c2 = cfg.ch, 2 * cfg.ch

    class IconUNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cfg = cfg
            self.t_mlp = nn.Sequential(
                nn.Linear(cfg.ch, cfg.emb), nn.SiLU(), nn.Linear(cfg.emb, cfg.emb)
            )
            self.txt = nn.Sequential(
                nn.Linear(cfg.text_dim, cfg.emb), nn.SiLU(), nn.Linear(cfg.emb, cfg.emb)
            )
            self.null = nn.Parameter(torch.zeros(cfg.text_dim))
            self.inp = nn.Conv2d(cfg.latent, c1, 3, padding=1)
            self.d1 = Res(c1, c1)  # 16
            self.down1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
            self.d2 = Res(c1, c2)  # 8
            self.a2 = Attn(c2)
            self.down2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)
            self.m1 = Res(c2, c2)  # 4
            self.ma = Attn(c2)
            self.m2 = Res(c2, c2)
            self.u2 = Res(2 * c2, c2)  # 8
            self.ua2 = Attn(c2)
            self.u2b = Res(c2 + c1, c2)
            self.u1 = Res(c2 + c1, c1)  # 16
            self.u1b = Res(c1 + c1, c1)
            self.out = nn.Sequential(norm(c1), nn.SiLU(), nn.Conv2d(c1, cfg.latent, 3, padding=1))
            nn.init.zeros_(self.out[-1].weight)
            nn.init.zeros_(self.out[-1].bias)
            if cfg.text_tokens:
                self.tok = nn.Linear(cfg.text_dim, cfg.text_tokens * c2)
                self.xa2, self.xma, self.xua2 = XAttn(c2), XAttn(c2), XAttn(c2)

        def time_embedding(self, t):
            half = cfg.ch // 2
            freqs = torch.exp(
                -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half
            )
            a = t.float()[:, None] * freqs[None]
            return torch.cat([a.sin(), a.cos()], dim=1)

        def forward(self, x, t, text, use_text):
            """x (B,8,16,16), t (B,) timesteps 0..999, text (B,384), use_text (B,1) in {0,1}."""
            txt = (use_text * text + (1 - use_text) * self.null[None]) * cfg.text_scale
            e = F.silu(self.t_mlp(self.time_embedding(t)) + self.txt(txt))
            if cfg.text_tokens:
                tok = self.tok(txt).reshape(txt.shape[0], cfg.text_tokens, c2)
                xa2, xma, xua2 = (lambda h, m=m: m(h, tok) for m in (self.xa2, self.xma, self.xua2))
            else:
                xa2 = xma = xua2 = _same
            h0 = self.inp(x)
            h1 = self.d1(h0, e)
            hd = self.down1(h1)
            h2 = xa2(self.a2(self.d2(hd, e)))
            h = self.down2(h2)
            h = self.m2(xma(self.ma(self.m1(h, e))), e)
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = xua2(self.ua2(self.u2(torch.cat([h, h2], 1), e)))
            h = self.u2b(torch.cat([h, hd], 1), e)
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = self.u1(torch.cat([h, h1], 1), e)
            h = self.u1b(torch.cat([h, h0], 1), e)
            return self.out(h)

    return IconUNet()


def build_judge(cfg: JudgeConfig):
    from torch import nn

    c = cfg.ch

    def block(cin: int, cout: int):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )

    class IconJudge(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cfg = cfg
            self.body = nn.Sequential(
                nn.Conv2d(3, c, 3, stride=2, padding=1),  # 64 -> 32
                nn.BatchNorm2d(c),
                nn.ReLU(),
                block(c, 2 * c),  # -> 16
                block(2 * c, 4 * c),  # -> 8
                block(4 * c, 4 * c),  # -> 4
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(4 * c, cfg.feat),
                nn.ReLU(),
            )
            self.drop = nn.Dropout(0.3)
            self.head = nn.Linear(cfg.feat, cfg.n_classes)

        def features(self, x):
            return self.body(x)

        def forward(self, x):
            return self.head(self.drop(self.body(x)))

    return IconJudge()


@dataclass
class ClipJudgeConfig:
    ch: int = 32
    feat: int = 256
    text_dim: int = 384
    size: int = 32  # the icon is averaged down to this size first (the 2-core budget)


def build_clip_judge(cfg: ClipJudgeConfig):
    """The prompt judge: a CNN (the icon on mid-grey, as :class:`IconJudge` sees it) whose
    unit-length output lives in the MiniLM sentence space, trained contrastively against the
    captions (CLIP's recipe on this data). It scores a drawing against any prompt - the
    question "is this a sword?" - where the category judge only names an emoji subgroup."""
    import math

    import torch
    from torch import nn
    from torch.nn import functional as F

    c = cfg.ch

    def block(cin: int, cout: int):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )

    class ClipJudge(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cfg = cfg
            self.body = nn.Sequential(
                nn.AvgPool2d(64 // cfg.size) if cfg.size < 64 else nn.Identity(),
                nn.Conv2d(3, c, 3, padding=1),
                nn.BatchNorm2d(c),
                nn.ReLU(),
                block(c, 2 * c),  # /2
                block(2 * c, 4 * c),  # /4
                block(4 * c, 4 * c),  # /8
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(4 * c, cfg.feat),
                nn.ReLU(),
            )
            self.proj = nn.Linear(cfg.feat, cfg.text_dim)
            self.txt = nn.Linear(cfg.text_dim, cfg.text_dim)  # adapts the frozen text vectors
            with torch.no_grad():
                self.txt.weight.copy_(torch.eye(cfg.text_dim))
                self.txt.bias.zero_()
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

        def embed_image(self, x):
            return F.normalize(self.proj(self.body(x)), dim=-1)

        def embed_text(self, t):
            return F.normalize(self.txt(t), dim=-1)

        def forward(self, x, t):
            return (
                self.logit_scale.exp().clamp(max=100) * self.embed_image(x) @ self.embed_text(t).T
            )

    return ClipJudge()
