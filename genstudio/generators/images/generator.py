"""``images.diffusion``: the Images mode's generator - text-to-image, img2img and inpainting with
the built-in icon model or a Stable Diffusion ONNX folder the user imported, then optional
pixel art and upscaling; every PNG carries the A1111 ``parameters`` chunk and GenStudio's own
JSON record (``metadata/``, one module per tool), so other tools and "reuse these settings"
read it back.

``model``: ``"builtin"`` (``icons.py``, 64x64 RGBA) or the path of an SD ONNX folder
(``sd/``: folder, tokenizer, pipeline; imported models live in the project's or the user's ``models/`` folder).
Post-processing, in this order: pixel art (grid, colours or a palette file, outline) then
upscale (x2/x4: nearest for pixel art, Lanczos otherwise). The record lists the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.base import GenerationResult, Generator, GenParams, Output, RunContext
from genstudio.generators.fields import param, seed_param

MAX_PROMPT_CHARS = 2000
MAX_COUNT = 16
BUILTIN = "builtin"


def _schedulers() -> tuple[str, ...]:
    from genstudio.generators.images.schedulers import SCHEDULERS

    return tuple(SCHEDULERS)


def _model(name: str) -> None:
    if name != BUILTIN and not Path(name).is_dir():
        raise InvalidParamsError(
            f"Unknown image model {name!r}.",
            hint="Use the built-in model, or import a Stable Diffusion ONNX folder "
            "(genstudio models import PATH).",
        )


_LONG = "Models read only the first few dozen words of a prompt; shorten it."


@dataclass(frozen=True)
class ImageParams(GenParams):
    prompt: str = param(
        "", "Prompt", max_len=MAX_PROMPT_CHARS, required=True, kind="text", group="Prompt",
        help='What the image should show, e.g. "red apple" or "green potion bottle".',
    )  # fmt: skip
    negative: str = param(
        "", "Negative prompt", max_len=MAX_PROMPT_CHARS, kind="text", group="Prompt",
        help="What the image should not show",
    )  # fmt: skip
    #: "builtin" or an SD ONNX folder
    model: str = param(
        BUILTIN, "Model", max_len=4096, check=_model, ui=False,
        help='"builtin" or a Stable Diffusion ONNX folder',
    )  # fmt: skip
    #: None for steps, guidance and scheduler: what the model is made for (``model_sampling``)
    steps: int | None = param(
        None, "Steps", lo=1, hi=150, group="Sampling", ui_default=20, help="Denoising steps"
    )  # fmt: skip
    guidance: float | None = param(
        None, "Guidance", lo=0.0, hi=30.0, group="Sampling", ui_default=7.5,
        help="How closely to follow the prompt (classifier-free guidance scale)",
    )  # fmt: skip
    scheduler: str | None = param(
        None, "Scheduler", choices=_schedulers, group="Sampling", ui_default="dpmpp_2m",
        help="The sampler: ddim, euler, euler_a, dpmpp_2m or lcm",
    )  # fmt: skip
    seed: int = seed_param(help="Image i of a batch uses seed + i.")
    count: int = param(1, "Count", lo=1, hi=MAX_COUNT, unit=" images", group="Batch", ui_default=4)
    #: SD models only (the built-in model draws 64x64)
    width: int = param(512, "Width", lo=64, hi=2048, multiple_of=8, unit=" px", group="Size",
                       help="Width in pixels, a multiple of 8 (Stable Diffusion models only; the built-in model always draws 64x64)")  # fmt: skip
    height: int = param(512, "Height", lo=64, hi=2048, multiple_of=8, unit=" px", group="Size",
                        help="Height in pixels, a multiple of 8 (Stable Diffusion models only; the built-in model always draws 64x64)")  # fmt: skip
    #: img2img / inpaint source image (path)
    init: str = param(
        "", "Init image", max_len=4096, kind="path", ui=False, cli_metavar="FILE",
        help="img2img / inpainting source image",
    )  # fmt: skip
    strength: float = param(
        0.75, "Strength", lo=0.01, hi=1.0, group="Image to image",
        help="How much of the init image is drawn again",
    )  # fmt: skip
    #: inpainting mask (path; white = repaint)
    mask: str = param(
        "", "Mask", max_len=4096, kind="path", ui=False, cli_metavar="FILE",
        help="Inpainting mask (white = repaint)",
    )  # fmt: skip
    pixel_art: bool = param(False, "Pixel art", cli=None, group="Pixel art")
    grid: int = param(32, "Pixel grid", lo=8, hi=256, cli=None, group="Pixel art")
    colors: int = param(16, "Colours", lo=2, hi=256, group="Pixel art",
                        help="Pixel art: palette size (a palette file overrides it)")  # fmt: skip
    #: .gpl/.hex/.pal file; overrides colors
    palette: str = param(
        "", "Palette file", max_len=4096, kind="path", ui=False, cli_metavar="FILE",
        group="Pixel art", help="Pixel art: .gpl/.hex/.pal palette file",
    )  # fmt: skip
    outline: bool = param(False, "Outline", group="Pixel art", help="Pixel art: dark outline")
    upscale: int = param(1, "Upscale", choices=(1, 2, 4), group="Size", help="Upscale x2 or x4")

    def check(self) -> None:
        if self.mask and not self.init:
            raise InvalidParamsError(
                "A mask needs an image to paint into.", hint="Choose an init image too."
            )


def recommended_sampling(model: str) -> dict[str, Any]:
    """What ``model`` is made for: steps, guidance_scale, scheduler (the built-in model: 20,
    its default guidance, DPM++ 2M; an SD folder: its recommendation, e.g. SD-Turbo 1 step
    without guidance; a folder that cannot be read: the built-in's, the run says why)."""
    from genstudio.core.errors import GenStudioError
    from genstudio.generators.images.icons import RECOMMENDED

    if model != BUILTIN:
        from genstudio.generators.images.sd.folder import validate_sd_folder

        try:
            return dict(validate_sd_folder(Path(model)).recommended)
        except GenStudioError:
            pass
    return dict(RECOMMENDED)


def model_sampling(p: ImageParams) -> ImageParams:
    """``p`` with steps, guidance and scheduler the model's own where they are None."""
    if None not in (p.steps, p.guidance, p.scheduler):
        return p
    rec = recommended_sampling(p.model)
    return replace(
        p,
        steps=rec["steps"] if p.steps is None else p.steps,
        guidance=rec["guidance_scale"] if p.guidance is None else p.guidance,
        scheduler=rec["scheduler"] if p.scheduler is None else p.scheduler,
    )


def load_inputs(p: ImageParams, size: tuple[int, int]):
    """The init image and mask at ``size`` (W, H), or None. A mask must have the init image's
    proportions (it is resized with it); any other mask is refused with both sizes."""
    from genstudio.generators.images import imageio

    if not p.init:
        return None, None
    init, (iw, ih) = imageio.load_init_image_and_size(p.init, size=size)
    if not p.mask:
        return init, None
    m = imageio.load_mask(p.mask, size=None)
    mh, mw = m.shape
    if abs(mw / mh - iw / ih) > 0.02 * (iw / ih):
        raise InvalidParamsError(
            f"The mask is {mw}x{mh} but the init image is {iw}x{ih}: they do not line up.",
            hint="Paint the mask over the init image (same size or the same proportions).",
        )
    return init, imageio.load_mask(p.mask, size=size, resize=True)


def postprocess(rgba: np.ndarray, p: ImageParams) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Pixel art and upscaling; returns the image and the chain applied (for the record)."""
    from genstudio.generators import palettes
    from genstudio.generators.images import imageio, pixelart

    chain: list[dict[str, Any]] = []
    if p.pixel_art:
        pal = palettes.read_palette(p.palette) if p.palette else None
        res = pixelart.pixelate(
            rgba, grid=p.grid, colors=None if pal is not None else p.colors, palette=pal,
            outline=p.outline,
        )  # fmt: skip
        rgba = res.image
        chain.append(
            {
                "step": "pixel_art",
                "grid": p.grid,
                "colors": int(len(res.palette)),
                "palette_file": p.palette or None,
                "outline": p.outline,
                "palette_share": res.metrics.palette_share,
                "binary_alpha_share": res.metrics.binary_alpha_share,
            }
        )
    if p.upscale > 1:
        method = "nearest" if p.pixel_art else "lanczos"
        rgba = imageio.upscale(rgba, p.upscale, method=method)
        chain.append({"step": "upscale", "factor": p.upscale, "method": method})
    return rgba, chain


def png_record(
    rgba: np.ndarray, p: ImageParams, seed: int, model: dict[str, Any], chain: list, extra: dict
) -> bytes:
    from genstudio.generators.images import metadata as md

    settings = md.ImageSettings(
        prompt=p.prompt,
        negative_prompt=p.negative,
        steps=p.steps,
        sampler=p.scheduler,
        cfg_scale=float(p.guidance if p.guidance is not None else 0.0),  # resolved by the run
        seed=seed,
        width=int(rgba.shape[1]),
        height=int(rgba.shape[0]),
        model_name=model.get("id"),
        model_hash=model.get("sha256"),
        denoising_strength=float(p.strength) if p.init else None,
        # A1111's way: the tags stay in the prompt, their files' short hashes listed here
        extra={"Lora hashes": ", ".join(f"{x['name']}: {x['hash']}" for x in model["loras"])}
        if model.get("loras")
        else {},
    )
    record = {
        "generator": ImageGenerator.name,
        "model": model,
        "params": {**p.to_dict(), "seed": seed, "count": 1},
        "postprocess": chain,
        **extra,
    }
    return md.png_with_metadata(rgba, settings, record)


class ImageGenerator(Generator):
    name = "images.diffusion"
    kind = "image"
    Params = ImageParams

    def __init__(self, pack_dir: Path | None = None) -> None:
        self.pack_dir = pack_dir

    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        p = params if isinstance(params, ImageParams) else ImageParams.from_dict(params.to_dict())
        p = model_sampling(p)  # None = the model's own steps, guidance, scheduler
        model = _BuiltinModel(self.pack_dir) if p.model == BUILTIN else _SDModel(p)
        init, mask = load_inputs(p, model.size)
        if init is not None and model.rgb_only:
            init = init[..., :3]
        info = model.info
        result = GenerationResult()
        for i in range(p.count):
            ctx.check_cancel()
            seed, base = p.seed + i, i / p.count

            def progress(step: int, total: int, denoised, base=base, i=i) -> None:
                preview = None
                if denoised is not None and (step == total or step % 5 == 0):
                    preview = _png(model.preview(denoised))
                ctx.progress(base + step / total / p.count, f"image {i + 1}: step {step}", preview)

            image, extra = model.make(p, seed, init, mask, progress, lambda: ctx.cancelled)
            rgba, chain = postprocess(image, p)
            data = png_record(rgba, p, seed, info, chain, extra)
            aid = ctx.emit(
                Output(
                    kind="image",
                    data=data,
                    ext="png",
                    params={**p.to_dict(), "seed": seed, "count": 1},
                    seed=seed,
                    model_id=info["id"],
                    model_sha256=info["sha256"],
                    extra={**extra, "postprocess": chain},
                    name_hint=_slug(p.prompt, seed),
                )  # fmt: skip
            )
            result.asset_ids.append(aid)
        return result


class _BuiltinModel:
    """The built-in icon model behind :meth:`ImageGenerator.run` (64x64 RGBA)."""

    rgb_only = False

    def __init__(self, pack_dir: Path | None) -> None:
        from genstudio.generators.images import icons

        self._icons = icons
        self.model = icons.load_model(pack_dir)
        self.size = (icons.SIZE, icons.SIZE)
        self.info = icons.describe(self.model)

    def preview(self, denoised: np.ndarray) -> np.ndarray:
        rgba = self.model.preview(denoised[:1])
        assert rgba is not None  # denoised is not None
        return rgba[0]

    def make(self, p: ImageParams, seed: int, init, mask, progress, cancel):
        assert (
            p.steps is not None and p.guidance is not None and p.scheduler is not None
        )  # resolved
        req = self._icons.IconRequest(
            prompt=p.prompt, negative=p.negative, steps=p.steps, guidance=p.guidance,
            scheduler=p.scheduler, seed=seed, count=1, init=init, strength=p.strength,
            mask=mask,
        )  # fmt: skip
        out = self.model.generate(req, progress=progress, cancel=cancel)
        extra: dict[str, Any] = {"prompt_truncated": out.prompt_truncated}
        if out.fragments_removed:
            extra["fragments_removed"] = out.fragments_removed
        if init is None:
            note = self.model.familiarity_note(p.prompt)
            if note:
                extra["notes"] = [note]
        return out.images[0], extra


class _SDModel:
    """A Stable Diffusion folder behind :meth:`ImageGenerator.run` (RGB at the asked size)."""

    rgb_only = True

    def __init__(self, p: ImageParams) -> None:
        from genstudio.generators.images.sd import lora

        # A1111's <lora:name:weight> tags: merged into the model, taken out of the text
        self.prompt, tags = lora.parse_prompt(p.prompt)
        files = [(lora.find_lora(t.name, lora_folders(p.model)), t.weight) for t in tags]
        self.pipe = _sd_pipeline(p.model, files)
        self.size = (p.width, p.height)
        self.info = _sd_model_info(Path(p.model), self.pipe)
        if files:
            self.info["loras"] = [
                {"name": t.name, "weight": t.weight, "hash": lora.a1111_hash(f), "file": str(f)}
                for t, (f, _w) in zip(tags, files, strict=True)
            ]

    def preview(self, denoised: np.ndarray) -> np.ndarray:
        from genstudio.generators.images.sd.pipeline import preview_rgb

        return _rgba(preview_rgb(denoised[:1])[0])

    def make(self, p: ImageParams, seed: int, init, mask, progress, cancel):
        pipe = self.pipe
        rgb = pipe.generate(
            self.prompt, negative_prompt=p.negative, steps=p.steps, guidance_scale=p.guidance,
            scheduler=p.scheduler, seed=seed, width=p.width, height=p.height, num_images=1,
            image=init, mask=mask, strength=p.strength if init is not None else None,
            progress=progress, cancel=cancel,
        )  # fmt: skip
        return _rgba(rgb[0]), {"warnings": list(pipe.last_warnings), "variant": pipe.info.variant}


_sd_pipes: dict[str, Any] = {}


def lora_folders(model: str) -> list[Path]:
    """Where ``<lora:name>`` is looked for: ``loras/`` beside the model (the project's or the
    user's models folder), then the user's ``models/loras``."""
    from genstudio.core.settings import user_models_dir

    out = [Path(model).parent / "loras", user_models_dir() / "loras"]
    return list(dict.fromkeys(out))


def _sd_pipeline(folder: str, loras: list[tuple[Path, float]] | None = None):
    """One SDPipeline per (folder, LoRA set and weights): sessions are expensive to start and
    a LoRA set is merged once."""
    from genstudio.generators.images.sd.pipeline import SDPipeline

    chosen = tuple((str(f), float(w)) for f, w in loras or ())
    key = str(Path(folder).resolve())
    cache_key = f"{key}|{chosen!r}"
    if cache_key not in _sd_pipes:
        _sd_pipes.clear()  # one SD model in memory at a time: they are large
        _sd_pipes[cache_key] = SDPipeline(key, loras=chosen)
    return _sd_pipes[cache_key]


def _sd_model_info(folder: Path, pipe) -> dict[str, Any]:
    """Id and UNet sha256 of an SD folder (from its import record when it has one)."""
    from genstudio.core.atomic import read_json

    rec_path = folder / "genstudio-import.json"
    sha = None
    if rec_path.is_file():
        rec = read_json(rec_path, what="model import record")
        # a converted checkpoint's own hash is what other tools show (A1111's "Model hash")
        sha = rec.get("model_sha256") or (rec.get("files", {}).get("unet/model.onnx") or {}).get(
            "sha256"
        )
    return {"id": folder.name, "sha256": sha, "variant": pipe.info.variant}


def _rgba(rgb: np.ndarray) -> np.ndarray:
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([rgb.astype(np.uint8), alpha], axis=-1)


def _slug(prompt: str, seed: int) -> str:
    """A file-name-safe stem: the prompt's first words + the seed."""
    import re

    prompt = re.sub(r"<lora:[^<>]*>", " ", prompt, flags=re.IGNORECASE)  # not in names
    words = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].strip("-")
    return f"{words or 'image'}_{seed}"


def _png(rgba: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return buf.getvalue()
