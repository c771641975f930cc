"""The Images panel's logic without Qt: settings <-> job params, reuse, models, labels.

Plain Python (plus the image back-end's scheduler names and metadata reader), so the panel stays
a thin layer of controls over :class:`ImagesSettings` and this part is testable without widgets.
Every number a control or a check needs (ranges, choices, the seed range) comes from
``ImageParams``' field spec (``genstudio.generators.fields``); what is written here is the mode's
own: the model picker (built-in or an SD folder, and what each is made for) and its size rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import fields
from genstudio.generators.images import export as image_export
from genstudio.generators.images.generator import (
    BUILTIN,
    ImageGenerator,
    ImageParams,
    recommended_sampling,
)
from genstudio.generators.images.schedulers import TITLES
from genstudio.ui.modes.seeds import MAX_SEED, parse_seed, random_seed  # noqa: F401 (the panel uses state.*)
from genstudio.ui.modes.settings import settings_class

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.generators.images.metadata import ImageSettings

GENERATOR = ImageGenerator.name
BUILTIN_TITLE = "Built-in icons model"
BUILTIN_SIZE = 64
_spec = fields.field_info
#: the schedulers the generator takes (the spec's choices), with the names the combo shows
SCHEDULER_TITLES: dict[str, str] = {
    s: TITLES.get(s, s) for s in _spec(ImageParams, "scheduler").spec.allowed() or ()
}
#: the studio's batch: a few images to pick from (ImageParams' own default is one)
DEFAULT_COUNT = _spec(ImageParams, "count").ui_default()
#: the sampling fields ImageParams leaves to the model (None) and their keys in a model's
#: recommendation (``recommended_sampling``, an import record's ``recommended``)
SAMPLING = (("steps", "steps"), ("guidance", "guidance_scale"), ("scheduler", "scheduler"))
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


#: what a dropped model can be: a checkpoint file (pickles too, to be refused with advice)
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
IMPORT_GENERATOR = "models.import_sd"


def is_model_path(path: str | Path) -> bool:
    """A Stable Diffusion checkpoint file or model folder (diffusers or ONNX) by its look."""
    p = Path(path)
    try:
        if p.is_dir():
            return (p / "model_index.json").is_file()
    except OSError:
        return False
    return p.suffix.lower() in MODEL_SUFFIXES


def available_loras(model: str) -> list[tuple[str, Path]]:
    """(name, file) of every LoRA ``<lora:name>`` can find for ``model``, first folder first."""
    from genstudio.generators.images.generator import lora_folders

    seen: dict[str, Path] = {}
    for folder in lora_folders(model):
        try:
            files = sorted(folder.glob("*.safetensors"))
        except OSError:
            continue
        for f in files:
            if f.is_file() and not f.name.startswith("."):
                seen.setdefault(f.stem, f)
    return list(seen.items())


def with_lora_tag(prompt: str, name: str, weight: float = 0.8) -> str:
    """``prompt`` with A1111's ``<lora:name:weight>`` tag for ``name`` (replacing one that is
    there already)."""
    import re

    tag = f"<lora:{name}:{weight:g}>"
    pattern = re.compile(rf"<lora:{re.escape(name)}(?::[^>]*)?>", re.IGNORECASE)
    if pattern.search(prompt):
        return pattern.sub(tag, prompt, count=1)
    return f"{prompt.rstrip()} {tag}".strip()


def import_params(src: str | Path, models_dir: str | Path) -> dict[str, Any]:
    """The ``models.import_sd`` job's params for ``src``; the model's folder name is the file
    name (or the folder's), as the CLI gives it."""
    from genstudio.generators.images.sd.folder import _safe_name

    p = Path(src).absolute()
    name = _safe_name(p.stem if p.is_file() else p.name)
    return {"source": str(p), "models_dir": str(models_dir), "name": name}


def scheduler_title(name: str) -> str:
    return SCHEDULER_TITLES.get(name, name)


def upscale_title(factor: int) -> str:
    return f"\u00d7{factor}" if factor > 1 else "\u00d71 (off)"


def snap8(v: int) -> int:
    """A size the generator accepts: the nearest multiple of 8 within the width's range."""
    s = _spec(ImageParams, "width").spec
    step = s.multiple_of or 1
    lo, hi = int(s.lo or step), int(s.hi or v)
    v = round(int(v) / step) * step
    return max(lo, min(hi, v))


def clamp(name: str, v: float) -> float:
    """``v`` within the range of ImageParams field ``name``."""
    s = _spec(ImageParams, name).spec
    if s.lo is not None:
        v = max(s.lo, v)
    if s.hi is not None:
        v = min(s.hi, v)
    return v


def _usable(name: str, value: Any) -> bool:
    """Whether ``value`` is a valid, given (not None) value of ImageParams field ``name``."""
    if value is None:
        return False
    try:
        fields.coerce(_spec(ImageParams, name), value)
    except InvalidParamsError:
        return False
    return True


# --- settings ----------------------------------------------------------------------------------


@dataclass
class ImagesSettings(settings_class("ImagesSettings", ImageParams)):
    """What the panel's controls say: every ImageParams field (studio defaults from the spec);
    ``to_params`` is the job's params dict.

    ``model`` is the picker's choice (``BUILTIN`` or an SD folder, which may be gone: reuse says
    so); steps, guidance and scheduler are numbers here (a record's None, "the model's own",
    becomes what the model is made for); ``mask`` is filled by the panel when a job is queued."""

    @property
    def is_sd(self) -> bool:
        return self.model != BUILTIN

    def control_values(self) -> dict[str, Any]:
        """Every ImageParams field as these settings hold it (what the controls show)."""
        return super().to_params()

    def to_params(self) -> dict[str, Any]:
        p = self.control_values()
        p["prompt"] = self.prompt.strip()
        p["negative"] = self.negative.strip()
        p["mask"] = self.mask if self.init else ""
        p["palette"] = self.palette if self.pixel_art else ""
        return p

    def with_model_sampling(self) -> ImagesSettings:
        """These settings with steps, guidance and scheduler the model's own where None."""
        todo = [name for name, _key in SAMPLING if getattr(self, name) is None]
        if not todo:
            return self
        rec = recommended_sampling(self.model)
        return self.replace(**{name: rec[key] for name, key in SAMPLING if name in todo})

    def check(self) -> None:
        """Refuse what the generator would refuse, before a job is queued (clear message)."""
        if not self.prompt.strip():
            raise InvalidParamsError(
                "Type a prompt: what should the image show?",
                hint='e.g. "red apple" or "green potion bottle".',
            )
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
        self.check_params()  # every range and choice of the spec (the seed's 0..MAX_SEED too)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], seed: int | None = None) -> ImagesSettings:
        """Settings from an asset's params (its sidecar) and seed; what is missing or no longer
        valid keeps its default. A model folder that is gone is kept (reuse says so)."""
        if not isinstance(params, Mapping):
            raise InvalidParamsError("These settings are not an image's parameters.")
        params = dict(params)
        if isinstance(seed, int) and not isinstance(seed, bool):
            params["seed"] = seed
        if not _usable("count", params.get("count")):
            params["count"] = DEFAULT_COUNT  # the studio's default, not ImageParams' one image
        s = super().from_params(params)
        model = params.get("model")
        s.model = model if isinstance(model, str) and model else BUILTIN
        return s.with_model_sampling()


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

    s = current.replace()
    took: list[str] = []
    notes: list[str] = []
    if md.prompt:
        s.prompt = md.prompt
        s.negative = md.negative_prompt  # the source's negative, even when it had none
        took.append("prompt")
        if md.negative_prompt:
            took.append("negative prompt")
    if md.steps is not None:
        steps = int(clamp("steps", md.steps))
        if steps != md.steps:
            notes.append(f"{md.steps} steps is beyond GenStudio's range: using {steps}.")
        s.steps = steps
        took.append("steps")
    if md.cfg_scale is not None:
        g = clamp("guidance", float(md.cfg_scale))
        s.guidance = round(g, 2)
        took.append("guidance")
    if md.sampler:
        ours = genstudio_scheduler_name(md.sampler)
        if ours in SCHEDULER_TITLES:
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
    """(steps, guidance, scheduler) from a recommendation (``recommended_sampling``, an import
    record's ``recommended``); None if a value is absent or one ImageParams refuses (a
    hand-edited file never sets a value the controls refuse)."""
    if not isinstance(doc, Mapping):
        return None
    values: list[Any] = [doc.get(key) for _name, key in SAMPLING]
    if not all(_usable(name, v) for (name, _key), v in zip(SAMPLING, values, strict=True)):
        return None
    steps, g, sched = values
    return int(steps), float(g), str(sched)


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
    builtin_rec = _recommended(recommended_sampling(BUILTIN))
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


# --- export ------------------------------------------------------------------------------------

#: the Export dialog's scales (nearest neighbour) and how the combo names them
EXPORT_SCALES: tuple[tuple[int, str], ...] = tuple(
    (k, "\u00d71 (original size)" if k == 1 else f"\u00d7{k} (nearest neighbour)")
    for k in image_export.SCALES
)


def export_item(record: AssetRecord, path: Path) -> image_export.ImageToExport:
    """What names an image asset's exported file: its prompt and seed."""
    seed = record.seed if record.seed is not None else record.params.get("seed")
    return image_export.ImageToExport(
        Path(path), record.prompt, seed if isinstance(seed, int) else None
    )


def pixel_defaults(params: Mapping[str, Any]) -> tuple[int, int]:
    """The pixel-art version's (grid, colours): the image's own when valid, else the spec's."""
    out = []
    for name in ("grid", "colors"):
        v = params.get(name)
        out.append(int(v) if _usable(name, v) else int(_spec(ImageParams, name).ui_default()))
    return out[0], out[1]


def export_summary(names: list[str], shown: int = 3) -> str:
    """'Writes red-apple_seed7.png and red-apple_seed7_pixel.png' (the first few names)."""
    if not names:
        return "Nothing to export."
    head, more = names[:shown], len(names) - shown
    if more > 0:
        text = ", ".join(head) + f" and {more} more"
    elif len(head) > 1:
        text = ", ".join(head[:-1]) + " and " + head[-1]
    else:
        text = head[0]
    return f"Writes {text}. A name that exists already gets _2, _3 (nothing is overwritten)."
