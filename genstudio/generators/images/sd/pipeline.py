"""Stable Diffusion 1.x / 2.x at inference: numpy + ONNX Runtime (imported inside functions only).

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
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from genstudio.core.errors import Cancelled, InvalidParamsError, ModelPackError, UnsafeModelError
from genstudio.core.stats import percentile
from genstudio.generators.fields import MAX_SEED
from genstudio.generators.images.denoise import denoise as denoise_loop
from genstudio.generators.images.denoise import guided
from genstudio.generators.images.schedulers import SCHEDULERS, draw_noise, make_scheduler
from genstudio.generators.images.sd.folder import _err, validate_sd_folder
from genstudio.generators.images.sd.tokenizer import ClipTokenizer, TokenizedPrompt
from genstudio.runtime.packs import check_session_file

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 100_000  # longer text is refused before tokenizing; 77 tokens are used anyway
MAX_IMAGES = 16
MAX_SIDE = 2048
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
    if isinstance(value, bool) or not isinstance(value, Integral) or not lo <= int(value) <= hi:
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
        loras: Sequence[tuple[str | os.PathLike[str], float]] = (),
    ) -> None:
        self.info = validate_sd_folder(folder)
        from genstudio.generators.images.sd import lora

        # LoRAs merged into the UNet's and text encoder's weights, once (the file is unchanged)
        self.loras = tuple((str(p), float(w)) for p, w in loras)
        self._overrides = lora.overrides(self.info.root, self.loras)
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
        sess, provider, message = create_session(
            path,
            prefer=self._prefer,
            threads=self._threads,
            initializers=self._overrides.get(part),
        )
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

    # -- generation: check inputs, encode the prompts, prepare latents, denoise, decode ------

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
        self.last_timings = self._timings = dict.fromkeys(
            ("tokenize", "text_encoder", "vae_encode", "unet", "loop_other", "vae_decode"), 0.0
        )
        self.last_warnings = []
        req = self.check_inputs(
            prompt,
            negative_prompt=negative_prompt,
            steps=steps,
            guidance_scale=guidance_scale,
            scheduler=scheduler,
            seed=seed,
            width=width,
            height=height,
            num_images=num_images,
            image=image,
            mask=mask,
            strength=strength,
            output=output,
        )
        cond = self.encode_prompts(req)
        start = self.prepare_latents(req)
        latents = self.denoise(req, start, cond, progress=progress, cancel=cancel)
        self._check_cancel(cancel)
        t0 = time.perf_counter()
        images = self.decode_latents(latents)
        timings = self._timings
        timings["vae_decode"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        for w in self.last_warnings:
            log.warning("%s", w)
        if req.output == "float":
            return images
        return (images * np.float32(255.0)).round().astype(np.uint8)

    __call__ = generate

    def check_inputs(
        self,
        prompt: str,
        *,
        negative_prompt: str,
        steps: int | None,
        guidance_scale: float | None,
        scheduler: str | None,
        seed: int,
        width: int | None,
        height: int | None,
        num_images: int,
        image: Any,
        mask: Any,
        strength: float | None,
        output: str,
    ) -> SDRequest:
        """Everything checked before any model runs; the model's recommendation filled in."""
        info = self.info
        rec = info.recommended
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
        sched = make_scheduler(
            rec["scheduler"] if scheduler is None else scheduler, info.scheduler_config
        )
        if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed <= MAX_SEED:
            raise InvalidParamsError(
                f"The seed must be a whole number from 0 to {MAX_SEED:,}, not {seed!r}."
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
        return SDRequest(
            prompt=prompt,
            negative_prompt=negative_prompt,
            guidance=float(g),
            scheduler=sched,
            seed=int(seed),
            n=n,
            width=int(width),
            height=int(height),
            image=img,
            mask=m,
            strength=float(strength),
            output=output,
            cfg=float(g) > 1.0 and info.time_cond_dim is None,
        )

    def encode_prompts(self, req: SDRequest) -> dict[str, np.ndarray]:
        """The UNet's conditioning for the batch: text embeddings (negative half first when
        guidance runs) and, for LCM UNets, the guidance embedding."""
        timings = self._timings
        t0 = time.perf_counter()
        self.last_prompt_tokens = {"prompt": self.tokenizer.encode(req.prompt)}
        if req.cfg:
            self.last_prompt_tokens["negative_prompt"] = self.tokenizer.encode(req.negative_prompt)
        t1 = time.perf_counter()
        cond = self.embed_tokens(self.last_prompt_tokens["prompt"])
        n = req.n
        if req.cfg:
            uncond = self.embed_tokens(self.last_prompt_tokens["negative_prompt"])
        timings["tokenize"] = t1 - t0
        timings["text_encoder"] = time.perf_counter() - t1
        for what, tok in self.last_prompt_tokens.items():
            if tok.truncated:
                self.last_warnings.append(
                    f"The {what.replace('_', ' ')} is {tok.n_tokens} tokens long; only the first "
                    f"{self.info.max_length - 2} are used. Dropped: {tok.dropped_text[:200]!r}"
                )
        out = {
            "encoder_hidden_states": (
                np.concatenate([uncond] * n + [cond] * n) if req.cfg else np.concatenate([cond] * n)
            )
        }
        tcond_dim = self.info.time_cond_dim
        if tcond_dim:
            out["timestep_cond"] = guidance_scale_embedding(
                np.full(n, req.guidance - 1.0), int(tcond_dim)
            )
        return out

    def prepare_latents(self, req: SDRequest) -> SDLatents:
        """The start latents from the seed's noise (and the image for img2img / inpainting),
        the noise stream for ancestral steps, and what inpainting needs."""
        info = self.info
        n, img, m, sched = req.n, req.image, req.mask, req.scheduler
        f = info.vae_scale_factor
        shape = (n, info.latent_channels, req.height // f, req.width // f)
        rng = np.random.Generator(np.random.PCG64(req.seed))
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
            self._timings["vae_encode"] = time.perf_counter() - t0
        noise = draw_noise(rng, shape)
        if img is None or (m is not None and req.strength == 1.0):
            latents = noise * np.float32(sched.init_noise_sigma)
        else:
            latents = sched.add_noise(image_latents, noise, 0)
        channels = blend = None
        if info.inpaint and mask_lat is not None and masked_lat is not None:
            channels = np.concatenate([mask_lat, masked_lat], axis=1)
            if req.cfg:
                channels = np.concatenate([channels, channels])
        elif mask_lat is not None and image_latents is not None:
            blend = (mask_lat, image_latents, noise)
        return SDLatents(latents, rng, channels, blend)

    def denoise(
        self,
        req: SDRequest,
        start: SDLatents,
        cond: dict[str, np.ndarray],
        *,
        progress: Callable[[int, int, np.ndarray | None], Any] | None = None,
        cancel: Callable[[], Any] | None = None,
    ) -> np.ndarray:
        """The shared loop (:func:`~genstudio.generators.images.denoise.denoise`) around this
        UNet: an inpainting UNet gets the mask and masked-image latents as extra channels."""
        timings = self._timings
        unet_time = 0.0

        def unet(x: np.ndarray, t: Any, cond: dict[str, np.ndarray]) -> np.ndarray:
            nonlocal unet_time
            if start.channels is not None:
                x = np.concatenate([x, start.channels], axis=1)
            feeds = {"sample": x, "timestep": self._timestep(t), **cond}
            tu = time.perf_counter()
            out = self._unet(feeds)
            unet_time += time.perf_counter() - tu
            return out

        eps = guided(unet, req.guidance, req.n, cond_first=False) if req.cfg else unet
        t_loop = time.perf_counter()
        latents = denoise_loop(
            start.latents,
            [req.scheduler],
            eps,
            cond,
            rngs=[start.rng],
            inpaint=start.blend,
            progress=progress,
            cancel=cancel,
        )
        loop = time.perf_counter() - t_loop
        timings["unet"] = unet_time
        timings["loop_other"] = max(loop - unet_time, 0.0)
        timings["steps"] = float(len(req.scheduler.timesteps))
        timings["outside_unet_share_per_step"] = timings["loop_other"] / loop if loop > 0 else 0.0
        return latents

    @staticmethod
    def _check_cancel(cancel: Callable[[], Any] | None) -> None:
        if cancel is not None and cancel():
            raise Cancelled()


@dataclass
class SDRequest:
    """A generation's inputs once checked (:meth:`SDPipeline.check_inputs`)."""

    prompt: str
    negative_prompt: str
    guidance: float
    scheduler: Any  # a scheduler of .schedulers, its timesteps set
    seed: int
    n: int
    width: int
    height: int
    image: np.ndarray | None  # (H, W, 3) float32 in [0, 1]
    mask: np.ndarray | None  # (H, W) float32 0/1, 1 = repaint
    strength: float
    output: str
    cfg: bool  # classifier-free guidance in the loop (not for LCM UNets, nor g <= 1)


@dataclass
class SDLatents:
    """The loop's start (:meth:`SDPipeline.prepare_latents`)."""

    latents: np.ndarray
    rng: np.random.Generator
    channels: np.ndarray | None  # inpainting UNet: mask + masked-image latents (CFG-doubled)
    blend: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # normal UNet inpainting


def _first_input(part: _Part) -> str:
    return next(iter(part.inputs))


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
    kwargs: dict[str, Any] = {"steps": steps, "scheduler": sched, "guidance_scale": guidance_scale}
    pipe.generate(prompt, seed=0, **kwargs)  # warm-up: first runs allocate
    rows = []
    for r in range(max(1, int(runs))):
        pipe.generate(prompt, seed=r + 1, **kwargs)
        rows.append(dict(pipe.last_timings))

    def pct(key: str, q: float, per_step: bool = False) -> float:
        return percentile([row[key] / (row["steps"] if per_step else 1.0) for row in rows], q)

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
