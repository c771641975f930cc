"""The Images panel's logic without Qt: settings <-> job params, reuse, models, labels.

Plain Python (plus the image back-end's scheduler names and metadata reader), so the panel stays
a thin layer of controls over :class:`ImagesSettings` and this part is testable without widgets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.images.schedulers import SCHEDULERS, TITLES
from genstudio.ui.modes.seeds import parse_seed, random_seed  # noqa: F401 (the panel uses state.*)

if TYPE_CHECKING:
    from genstudio.generators.images.metadata import ImageSettings

GENERATOR = "images.diffusion"
BUILTIN = "builtin"
BUILTIN_TITLE = "Built-in icons model"
BUILTIN_SIZE = 64
MAX_COUNT = 16
MAX_SEED = 2**32 - 1  # the image generator's seed range (numpy PCG64 seeds per image)
STEPS_RANGE = (1, 150)
GUIDANCE_RANGE = (0.0, 30.0)
STRENGTH_RANGE = (0.01, 1.0)
SIZE_RANGE = (64, 2048)
GRID_RANGE = (8, 256)
COLORS_RANGE = (2, 256)
UPSCALES = (1, 2, 4)
SCHEDULER_TITLES: dict[str, str] = {s: TITLES[s] for s in SCHEDULERS}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff)"
PALETTE_FILTER = "Palettes (*.gpl *.hex *.pal *.txt)"
#: the largest init image side that is shown and masked (bigger ones are displayed scaled)
MAX_EDIT_SIDE = 2048
MAX_RESULTS = 60
SD_MARKER = "model_index.json"
IMPORT_FILE = "genstudio-import.json"


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def scheduler_title(name: str) -> str:
    return SCHEDULER_TITLES.get(name, name)


def snap8(v: int) -> int:
    """A size the generator accepts: a multiple of 8 within :data:`SIZE_RANGE`."""
    v = round(int(v) / 8) * 8
    return max(SIZE_RANGE[0], min(SIZE_RANGE[1], v))


# --- settings ----------------------------------------------------------------------------------


@dataclass
class ImagesSettings:
    """What the panel's controls say; ``to_params`` is the job's params dict (ImageParams)."""

    prompt: str = ""
    negative: str = ""
    model: str = BUILTIN
    steps: int = 20
    guidance: float = 7.5
    scheduler: str = "dpmpp_2m"
    seed: int = 0
    count: int = 4
    width: int = 512
    height: int = 512
    init: str = ""
    strength: float = 0.75
    mask: str = ""
    pixel_art: bool = False
    grid: int = 32
    colors: int = 16
    palette: str = ""
    outline: bool = False
    upscale: int = 1

    @property
    def is_sd(self) -> bool:
        return self.model != BUILTIN

    def to_params(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt.strip(),
            "negative": self.negative.strip(),
            "model": self.model,
            "steps": int(self.steps),
            "guidance": float(self.guidance),
            "scheduler": self.scheduler,
            "seed": int(self.seed),
            "count": int(self.count),
            "width": int(self.width),
            "height": int(self.height),
            "init": self.init,
            "strength": float(self.strength),
            "mask": self.mask if self.init else "",
            "pixel_art": bool(self.pixel_art),
            "grid": int(self.grid),
            "colors": int(self.colors),
            "palette": self.palette if self.pixel_art else "",
            "outline": bool(self.outline),
            "upscale": int(self.upscale),
        }

    def check(self) -> None:
        """Refuse what the generator would refuse, before a job is queued (clear message)."""
        if not self.prompt.strip():
            raise InvalidParamsError(
                "Type a prompt: what should the image show?",
                hint='e.g. "red apple" or "green potion bottle".',
            )
        if self.seed > MAX_SEED:
            raise InvalidParamsError(f"The seed must be at most {MAX_SEED} for images.")
        if self.init and not Path(self.init).is_file():
            raise InvalidParamsError(
                f"The init image {self.init} is gone.",
                hint="Open it again, or clear the init image.",
            )
        if self.pixel_art and self.palette and not Path(self.palette).is_file():
            raise InvalidParamsError(
                f"The palette file {self.palette} is gone.", hint="Choose it again or clear it."
            )
        if self.is_sd and not Path(self.model).is_dir():
            raise InvalidParamsError(
                f"The model folder {self.model} is gone.",
                hint="Pick another model, or import the folder again.",
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any], seed: int | None = None) -> ImagesSettings:
        """Settings from an asset's params (its sidecar); bad or missing values keep defaults."""
        if not isinstance(params, Mapping):
            raise InvalidParamsError("These settings are not an image's parameters.")
        d = cls()

        def pick(name: str, typ: type | tuple[type, ...], ok=lambda v: True):
            v = params.get(name, getattr(d, name))
            types = typ if isinstance(typ, tuple) else (typ,)
            if isinstance(v, bool) and bool not in types:
                return getattr(d, name)
            return v if isinstance(v, typ) and ok(v) else getattr(d, name)

        def between(lo: float, hi: float):
            return lambda v: lo <= v <= hi

        s = seed if isinstance(seed, int) and not isinstance(seed, bool) else params.get("seed")
        if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= MAX_SEED:
            s = 0
        return cls(
            prompt=pick("prompt", str),
            negative=pick("negative", str),
            model=pick("model", str, lambda v: bool(v)),
            steps=pick("steps", int, between(*STEPS_RANGE)),
            guidance=float(pick("guidance", (int, float), between(*GUIDANCE_RANGE))),
            scheduler=pick("scheduler", str, lambda v: v in SCHEDULERS),
            seed=s,
            count=pick("count", int, between(1, MAX_COUNT)),
            width=pick("width", int, lambda v: SIZE_RANGE[0] <= v <= SIZE_RANGE[1] and v % 8 == 0),
            height=pick(
                "height", int, lambda v: SIZE_RANGE[0] <= v <= SIZE_RANGE[1] and v % 8 == 0
            ),
            init=pick("init", str),
            strength=float(pick("strength", (int, float), between(*STRENGTH_RANGE))),
            mask=pick("mask", str),
            pixel_art=pick("pixel_art", bool),
            grid=pick("grid", int, between(*GRID_RANGE)),
            colors=pick("colors", int, between(*COLORS_RANGE)),
            palette=pick("palette", str),
            outline=pick("outline", bool),
            upscale=pick("upscale", int, lambda v: v in UPSCALES),
        )


def apply_metadata(
    current: ImagesSettings, md: ImageSettings
) -> tuple[ImagesSettings, list[str], list[str]]:
    """Fill prompt, negative, steps, guidance, scheduler, seed and size from another tool's
    settings (A1111, ComfyUI, InvokeAI or GenStudio, as ``metadata.read_metadata`` gives them).

    Returns (new settings, names of the fields taken, notes for the user). A value GenStudio
    cannot use (a sampler it does not have, a seed or size out of its range) keeps the current
    one and says so in a note.
    """
    from genstudio.generators.images.metadata import genstudio_scheduler_name

    s = replace(current)
    took: list[str] = []
    notes: list[str] = []
    if md.prompt:
        s.prompt = md.prompt
        s.negative = md.negative_prompt  # the source's negative, even when it had none
        took.append("prompt")
        if md.negative_prompt:
            took.append("negative prompt")
    if md.steps is not None:
        steps = max(STEPS_RANGE[0], min(STEPS_RANGE[1], md.steps))
        if steps != md.steps:
            notes.append(f"{md.steps} steps is beyond GenStudio's range: using {steps}.")
        s.steps = steps
        took.append("steps")
    if md.cfg_scale is not None:
        g = max(GUIDANCE_RANGE[0], min(GUIDANCE_RANGE[1], float(md.cfg_scale)))
        s.guidance = round(g, 2)
        took.append("guidance")
    if md.sampler:
        ours = genstudio_scheduler_name(md.sampler)
        if ours in SCHEDULERS:
            s.scheduler = ours
            took.append("scheduler")
        else:
            notes.append(
                f"GenStudio has no {md.sampler!r} sampler: kept {scheduler_title(s.scheduler)}."
            )
    if md.seed is not None:
        if 0 <= md.seed <= MAX_SEED:
            s.seed = md.seed
            took.append("seed")
        else:
            notes.append(f"The seed {md.seed} is outside 0..{MAX_SEED}: kept {s.seed}.")
    if md.width and md.height:
        w, h = snap8(md.width), snap8(md.height)
        s.width, s.height = w, h
        took.append("size")
        if (w, h) != (md.width, md.height):
            notes.append(f"Size {md.width}x{md.height} became {w}x{h} (multiples of 8).")
        if not s.is_sd:
            notes.append("The size applies to Stable Diffusion models (the built-in is 64x64).")
    return s, took, notes


def job_title(s: ImagesSettings, model_title: str = "") -> str:
    n = s.count
    words = " ".join(s.prompt.split())
    if len(words) > 40:
        words = words[:39] + "\u2026"
    what = "Inpaint" if s.init and s.mask else "Img2img" if s.init else "Images"
    extra = f", {model_title}" if model_title and s.is_sd else ""
    return f"{what}: {words} ({n} image{'s' if n != 1 else ''}, seed {s.seed}{extra})"


def describe_result(params: Mapping[str, Any], width: int, height: int) -> str:
    """One line for the shown result: 'seed 12 \u2022 64x64 \u2022 Euler \u2022 pixel art'."""
    bits = []
    if params.get("seed") is not None:
        bits.append(f"seed {params.get('seed')}")
    bits.append(f"{width}x{height}")
    sched = params.get("scheduler")
    if isinstance(sched, str):
        bits.append(f"{scheduler_title(sched)}, {params.get('steps')} steps")
    if params.get("init"):
        bits.append("inpaint" if params.get("mask") else "img2img")
    if params.get("pixel_art"):
        bits.append("pixel art")
    if params.get("upscale") in (2, 4):
        bits.append(f"x{params.get('upscale')}")
    return " \u2022 ".join(bits)


# --- models ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker: ``id`` is the params' ``model`` value."""

    id: str
    title: str
    where: str = ""  # "project" / "user" / "" for the built-in
    description: str = ""
    default_size: tuple[int, int] | None = None
    #: (steps, guidance, scheduler) the model is made for (SD-Turbo: 1, 0.0, euler); picking
    #: the model sets them
    recommended: tuple[int, float, str] | None = None

    @property
    def is_sd(self) -> bool:
        return self.id != BUILTIN


def _recommended(doc: Any) -> tuple[int, float, str] | None:
    """(steps, guidance, scheduler) from an import record's ``recommended``; None if absent or
    out of the panel's ranges (a hand-edited file never sets a value the controls refuse)."""
    if not isinstance(doc, dict):
        return None
    steps, g, sched = doc.get("steps"), doc.get("guidance_scale"), doc.get("scheduler")
    if (
        isinstance(steps, int)
        and not isinstance(steps, bool)
        and STEPS_RANGE[0] <= steps <= STEPS_RANGE[1]
        and isinstance(g, (int, float))
        and not isinstance(g, bool)
        and GUIDANCE_RANGE[0] <= g <= GUIDANCE_RANGE[1]
        and sched in SCHEDULERS
    ):
        return steps, float(g), str(sched)
    return None


def _sd_choice(folder: Path, where: str) -> ModelChoice:
    desc, size, rec = "", None, None
    info = folder / IMPORT_FILE
    if info.is_file():
        try:
            doc = json.loads(info.read_text("utf-8"))
        except (OSError, ValueError):
            doc = {}
        if isinstance(doc, dict):
            desc = str(doc.get("description") or "")
            ds = doc.get("default_size")
            if (
                isinstance(ds, list)
                and len(ds) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in ds)
            ):
                size = (snap8(ds[0]), snap8(ds[1]))
            rec = _recommended(doc.get("recommended"))
    return ModelChoice(str(folder), folder.name, where, desc or str(folder), size, rec)


def find_sd_folders(root: Path) -> list[Path]:
    """Stable Diffusion ONNX folders (those with ``model_index.json``) directly in ``root``."""
    if not root.is_dir():
        return []
    if (root / SD_MARKER).is_file():
        return [root]
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    return [p for p in children if (p / SD_MARKER).is_file()]


def find_models(project_models: Path | None, user_models: Path | None) -> list[ModelChoice]:
    """The built-in model, then SD folders in the project's and the user's ``models/``."""
    from genstudio.generators.images.icons import RECOMMENDED

    builtin_rec = _recommended(RECOMMENDED)
    out = [
        ModelChoice(BUILTIN, BUILTIN_TITLE, "", "64x64 icons with transparency", None, builtin_rec)
    ]
    seen: set[Path] = set()
    for root, where in ((project_models, "project"), (user_models, "user")):
        if root is None:
            continue
        for folder in find_sd_folders(Path(root)):
            key = folder.resolve()
            if key not in seen:
                seen.add(key)
                out.append(_sd_choice(folder, where))
    return out


def user_models_dir() -> Path:
    from genstudio.core.settings import user_models_dir as umd

    return umd()


def builtin_pack_dir() -> Path:
    """The pack the registered ``images.diffusion`` generator loads the built-in model from."""
    from genstudio import generators
    from genstudio.generators.images import icons

    try:
        gen = generators.get(GENERATOR)
    except InvalidParamsError:
        return icons.default_pack_dir()
    pack = getattr(gen, "pack_dir", None)
    return Path(pack) if pack else icons.default_pack_dir()


def builtin_pack_problem() -> str | None:
    """Why the built-in model cannot run (its pack is missing), or None when it is there."""
    root = builtin_pack_dir()
    if (root / "model.json").is_file():
        return None
    return (
        f"The built-in image model is not installed (looked in {root}). Train and export it "
        "with 'genstudio ml train images' and 'genstudio ml export images', or import a Stable "
        "Diffusion ONNX folder and pick it as the model."
    )
