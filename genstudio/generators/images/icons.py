"""The built-in text-to-image model at inference: numpy + ONNX Runtime, no torch.

A pack (``resources/models/images-icons``) holds three ONNX graphs - ``unet.onnx`` (latent
diffusion UNet, epsilon prediction), ``decoder.onnx`` and ``encoder.onnx`` (the autoencoder,
64x64 premultiplied RGBA <-> 16x16x8 latents) - plus ``model.json`` with the latent scale, the
noise schedule (Stable Diffusion's) and the text encoder's identity. Prompts are embedded by
:class:`~genstudio.generators.text_encoder.TextEncoder` (int8 MiniLM).

:meth:`IconModel.generate` is the whole loop:

* initial noise from the seed, in numpy (PCG64, float32 standard normal), image ``i`` of a batch
  from ``seed + i`` - the same image on every machine and execution provider;
* classifier-free guidance in one UNet call per step (conditional and unconditional halves of
  one batch): ``eps = eps_u + g * (eps_c - eps_u)``, where the unconditional half is the
  negative prompt when one is given, else the model's learned null vector;
* any scheduler of ``schedulers.py`` (default DPM++ 2M), seeded ancestral noise;
* img2img: the init image's latent noised to the start of the last ``strength`` of the
  schedule; inpainting: after every step the area outside the mask is replaced by the init
  latent noised to the current level, and the final pixels outside the mask are the init
  image's own (a 16x16 latent cell is repainted when any of its 4x4 pixels is in the mask);
* progress callback with the current estimate of the clean image (a live preview), and a
  cancel check between steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError, ModelPackError
from genstudio.core.paths import shipped_models_dir
from genstudio.generators.images.denoise import denoise, guided

PACK_ID = "images-icons"
SIZE = 64
MAX_BATCH = 16
#: chosen on prompts of *training* emoji (judge top-5: g=2 16%, 4 19%, 6 24%, 8 25%); the
#: usual Stable Diffusion default too, so one default serves both model kinds
DEFAULT_GUIDANCE = 7.5
#: the sampling the built-in model is made for, in the shape of an SD folder's recommendation
RECOMMENDED = {"steps": 20, "guidance_scale": DEFAULT_GUIDANCE, "scheduler": "dpmpp_2m"}
#: below this cosine similarity between a prompt and the nearest training label (MiniLM),
#: the prompt is far from what the model knows (calibrated in the model card)
FAMILIAR = 0.5


def default_pack_dir() -> Path:
    return shipped_models_dir() / PACK_ID


def to_model_space(rgba: np.ndarray) -> np.ndarray:
    """(N, 64, 64, 4) uint8 straight RGBA -> (N, 4, 64, 64) premultiplied float32 in [-1, 1]."""
    x = rgba.astype(np.float32) / 255.0
    x[..., :3] *= x[..., 3:4]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) * 2.0 - 1.0)


def from_model_space(x: np.ndarray) -> np.ndarray:
    """(N, 4, 64, 64) premultiplied [-1, 1] -> (N, 64, 64, 4) uint8 straight RGBA."""
    y = np.clip((x.transpose(0, 2, 3, 1) + 1.0) * 0.5, 0.0, 1.0)
    a = y[..., 3:4]
    rgb = np.where(a > 1e-3, y[..., :3] / np.maximum(a, 1e-3), 0.0)
    out = np.concatenate([np.clip(rgb, 0.0, 1.0), a], axis=-1)
    return (out * 255.0 + 0.5).astype(np.uint8)


@dataclass
class IconRequest:
    prompt: str
    negative: str = ""
    steps: int = 20
    guidance: float = DEFAULT_GUIDANCE
    scheduler: str = "dpmpp_2m"
    seed: int = 0
    count: int = 1
    init: np.ndarray | None = None  # (64, 64, 4) uint8 RGBA: img2img / inpaint source
    strength: float = 0.75
    mask: np.ndarray | None = None  # (64, 64) float in [0, 1]: 1 = repaint
    clean: bool = True  # text-to-image: remove loose fragments (cleanup.drop_fragments)


@dataclass
class IconResult:
    images: list[np.ndarray]  # (64, 64, 4) uint8 RGBA each
    prompt_truncated: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    fragments_removed: int = 0


class IconModel:
    def __init__(self, pack_dir: Path | None = None, *, providers: tuple[str, ...] | None = None):
        from genstudio.generators.text_encoder import TextEncoder
        from genstudio.runtime.packs import load_pack
        from genstudio.runtime.sessions import shared_cache

        root = Path(pack_dir) if pack_dir else default_pack_dir()
        if not (root / "model.json").exists():
            raise ModelPackError(
                f"The built-in image model pack is missing at {root}.",
                hint="Train and export it (README, Images): genstudio ml export images ...",
            )
        self.pack = load_pack(root)
        raw = self.pack.raw
        if raw.get("kind") != "image":
            raise ModelPackError(f"{root} is not an image model pack (kind {raw.get('kind')!r}).")
        self.latent_shape = tuple(int(v) for v in raw["latent_shape"])  # (C, H, W)
        self.latent_scale = float(raw["latent_scale"])
        self.scheduler_config = dict(raw["scheduler"])
        cache = shared_cache()
        self.unet = cache.get(self.pack, "unet.onnx")
        self.decoder = cache.get(self.pack, "decoder.onnx")
        self.encoder = cache.get(self.pack, "encoder.onnx")
        tok = root / str(raw.get("tokenizer", "tokenizer.json"))
        self.text = TextEncoder(tok)
        self._lock = threading.Lock()
        self._captions: tuple[np.ndarray, list[str]] | None = None

    # --- pieces -----------------------------------------------------------------------------
    def encode_image(self, rgba: np.ndarray) -> np.ndarray:
        """(N, 64, 64, 4) uint8 -> scaled latents (N, C, 16, 16)."""
        mean = self.encoder.run(None, {"image": to_model_space(rgba)})[0]
        return (mean * self.latent_scale).astype(np.float32)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Scaled latents (N, C, 16, 16) -> (N, 64, 64, 4) uint8 RGBA."""
        x = self.decoder.run(None, {"latent": (latents / self.latent_scale).astype(np.float32)})
        return from_model_space(x[0])

    def eps(self, x: np.ndarray, t: int, text: np.ndarray, use_text: np.ndarray) -> np.ndarray:
        feeds = {
            "sample": x.astype(np.float32),
            "timestep": np.full((len(x),), t, np.int64),
            "text": text.astype(np.float32),
            "use_text": use_text.astype(np.float32),
        }
        return self.unet.run(None, feeds)[0]

    # --- the loop -------------------------------------------------------------------------------
    def generate(
        self,
        req: IconRequest,
        *,
        progress: Callable[[int, int, np.ndarray | None], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> IconResult:
        from genstudio.generators.images.schedulers import make_scheduler

        n = int(req.count)
        if not 1 <= n <= MAX_BATCH:
            raise InvalidParamsError(f"Count must be 1-{MAX_BATCH} per batch, not {n}.")
        if not np.isfinite(req.guidance) or not 0.0 <= float(req.guidance) <= 30.0:
            raise InvalidParamsError("Guidance must be between 0 and 30.")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        enc = self.text.encode([req.prompt, req.negative])
        cond, neg = enc.vectors[0], enc.vectors[1]
        timings["text_s"] = time.perf_counter() - t0
        # one scheduler and one noise generator per image: image i of a batch is exactly the
        # image of seed + i made alone (multistep history and ancestral noise are per image)
        img2img = req.init is not None
        scheds = [make_scheduler(req.scheduler, self.scheduler_config) for _ in range(n)]
        for sc in scheds:
            sc.set_timesteps(int(req.steps), float(req.strength) if img2img else 1.0)
        sched = scheds[0]
        rngs = [np.random.Generator(np.random.PCG64([int(req.seed) + i, 1])) for i in range(n)]
        c, h, w = self.latent_shape
        noise = np.stack(
            [
                np.random.Generator(np.random.PCG64(int(req.seed) + i)).standard_normal(
                    (c, h, w), dtype=np.float32
                )
                for i in range(n)
            ]
        )
        x0 = mask_l = None
        if img2img:
            init = np.asarray(req.init)
            if init.shape != (SIZE, SIZE, 4) or init.dtype != np.uint8:
                raise InvalidParamsError(
                    f"The init image must be {SIZE}x{SIZE} RGBA, not {init.shape} {init.dtype}."
                )
            x0 = np.repeat(self.encode_image(init[None]), n, axis=0)
            x = sched.add_noise(x0, noise, 0)
            if req.mask is not None:
                m = np.asarray(req.mask, np.float32)
                if m.shape != (SIZE, SIZE):
                    raise InvalidParamsError(
                        f"The mask must be {SIZE}x{SIZE}, not {m.shape[1]}x{m.shape[0]}."
                    )
                f = SIZE // h
                mask_l = (m.reshape(h, f, w, f).max(axis=(1, 3)) > 0.5).astype(np.float32)
        elif req.mask is not None:
            raise InvalidParamsError("Inpainting needs an init image to paint into.")
        else:
            x = noise * np.float32(sched.init_noise_sigma)
        use_neg = bool(req.negative.strip())
        text = np.concatenate([np.repeat(cond[None], n, 0), np.repeat(neg[None], n, 0)])
        use = np.concatenate([np.ones((n, 1)), np.full((n, 1), 1.0 if use_neg else 0.0)])
        if not req.prompt.strip():
            use[:n] = 0.0
        t_unet = 0.0

        def unet(x2: np.ndarray, t: Any, cond: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            nonlocal t_unet
            t1 = time.perf_counter()
            with self._lock:
                e = self.eps(x2, int(t), *cond)
            t_unet += time.perf_counter() - t1
            return e

        x = denoise(
            x,
            scheds,
            guided(unet, req.guidance, n, cond_first=True),
            (text, use),
            rngs=rngs,
            inpaint=None if mask_l is None or x0 is None else (mask_l, x0, noise),
            progress=progress,
            cancel=cancel,
        )
        timings["unet_s"] = t_unet
        t2 = time.perf_counter()
        images = self.decode(x)
        timings["decode_s"] = time.perf_counter() - t2
        if req.mask is not None and req.init is not None:
            repaint = (np.asarray(req.mask, np.float32) > 0.5)[..., None]
            images = np.where(repaint, images, np.asarray(req.init)[None]).astype(np.uint8)
        removed = 0
        if req.clean and not img2img:
            from genstudio.generators.images.cleanup import drop_fragments

            cleaned = [drop_fragments(im) for im in images]
            images = np.stack([im for im, _ in cleaned])
            removed = sum(k for _, k in cleaned)
        timings["total_s"] = time.perf_counter() - t0
        return IconResult(list(images), any(enc.truncated[:1]), timings, removed)

    # --- what the model knows -----------------------------------------------------------------
    def nearest_caption(self, prompt: str) -> tuple[str, float] | None:
        """(the training label closest in meaning to ``prompt``, cosine similarity), or None
        for a pack without ``captions.npz`` (packs before 1.2) or an empty prompt."""
        if not prompt.strip():
            return None
        if self._captions is None:
            path = self.pack.root / "captions.npz"
            if not path.exists():
                return None
            with np.load(path, allow_pickle=False) as z:
                emb = z["emb"].astype(np.float32) / 127.0
                self._captions = (emb, [str(v) for v in z["labels"]])
        emb, labels = self._captions
        v = self.text.encode([prompt]).vectors[0].astype(np.float32)
        sims = emb @ (v / max(float(np.linalg.norm(v)), 1e-8))
        i = int(np.argmax(sims))
        return labels[i], float(sims[i])

    def familiarity_note(self, prompt: str) -> str | None:
        """A sentence for the user when ``prompt`` is far from everything the model was trained
        on (nearest-label similarity below :data:`FAMILIAR`), else None."""
        got = self.nearest_caption(prompt)
        if got is None or got[1] >= FAMILIAR:
            return None
        label, sim = got
        return (
            f"The built-in model knows nothing close to {prompt.strip()!r} (nearest thing it "
            f"was trained on: {label!r}, similarity {sim:.2f}), so expect a guess; name a "
            "common object, or fine-tune the model on your own images (Train mode)."
        )

    def preview(self, denoised: np.ndarray | None) -> np.ndarray | None:
        """RGBA of a step's clean-latent estimate (for the live preview)."""
        return None if denoised is None else self.decode(np.asarray(denoised, np.float32))


_models: dict[str, IconModel] = {}
_lock = threading.Lock()


def load_model(pack_dir: Path | None = None) -> IconModel:
    key = str((Path(pack_dir) if pack_dir else default_pack_dir()).resolve())
    with _lock:
        if key not in _models:
            _models[key] = IconModel(pack_dir)
        return _models[key]


def describe(model: IconModel) -> dict[str, Any]:
    return {"id": model.pack.id, "version": model.pack.version, "sha256": model.pack.sha256("unet")}
