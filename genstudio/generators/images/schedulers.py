"""Stable Diffusion noise schedulers in numpy: DDIM, Euler, Euler ancestral, DPM++ 2M and LCM.

Each scheduler follows the math of the diffusers scheduler of the same name (checked against
diffusers 0.42 by ``tests/generators/test_image_schedulers.py``): the same beta schedules, the
same timestep spacings ("leading", "trailing", "linspace") and ``steps_offset``, the same sigma
interpolation, the same update formulas, and the same img2img start (``strength``). No torch is
needed at run time.

A scheduler is made from a model folder's ``scheduler/scheduler_config.json`` (a plain dict)
with :func:`make_scheduler`. Keys a scheduler does not read (``_class_name``,
``skip_prk_steps``, ...) are ignored; a missing key takes the default of the diffusers class of
the same scheduler, exactly as ``DiffusersScheduler.from_config(config)`` does (so SD 1.5's
config, which has no ``timestep_spacing``, gives "leading" to DDIM and "linspace" to Euler).
A key set to a value these schedulers do not implement (``thresholding``, exponential sigmas,
...) is refused with :class:`InvalidParamsError` rather than silently ignored.

The loop, as a pipeline writes it::

    sched = make_scheduler("euler_a", config)
    sched.set_timesteps(steps, strength)          # strength < 1: img2img starts part-way
    x = noise * sched.init_noise_sigma            # txt2img; img2img: sched.add_noise(x0, noise, 0)
    for i, t in enumerate(sched.timesteps):
        eps = unet(sched.scale_model_input(x, i), t, ...)
        x = sched.step(eps, i, x, rng)

``step_index`` counts the steps actually run (0 .. ``len(timesteps) - 1``). Randomness (Euler
ancestral, LCM) only comes from the numpy ``Generator`` passed to :meth:`Scheduler.step`, through
:func:`draw_noise` (``rng.standard_normal(shape, dtype=float32)``), so a seed gives the same image
on every machine and execution provider. Arrays come back float32 (float64 when float64 came
in); the arithmetic of a step runs in float64 on the float32 schedule tables diffusers uses.

Where the numbers may differ from diffusers, on purpose: the float64 step arithmetic (diffusers
steps in float32; it matters only at huge sigmas, e.g. 4096 under zero terminal SNR); "trailing"
spacing keeps exactly ``steps`` timesteps (diffusers' float ``arange`` adds a timestep -1 for 62
step counts up to 1000); Euler ancestral's ``sigma_down`` is computed as ``to**2 / from`` (equal,
but never NaN); a DPM++ 2M schedule that repeats a sigma is refused (diffusers divides by zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError

SCHEDULERS: tuple[str, ...] = ("ddim", "euler", "euler_a", "dpmpp_2m", "lcm")
TITLES: dict[str, str] = {
    "ddim": "DDIM",
    "euler": "Euler",
    "euler_a": "Euler ancestral",
    "dpmpp_2m": "DPM++ 2M",
    "lcm": "LCM",
}

_BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
_PREDICTION_TYPES = ("epsilon", "v_prediction")
_SPACINGS = ("leading", "trailing", "linspace")
_CONFIG_HINT = "Check the model folder's scheduler/scheduler_config.json."

_COMMON: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
    "prediction_type": "epsilon",
    "steps_offset": 0,
    "rescale_betas_zero_snr": False,
}
# The defaults of the diffusers classes' __init__ (DDIMScheduler, EulerDiscreteScheduler,
# EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler, LCMScheduler), per scheduler.
DEFAULTS: dict[str, dict[str, Any]] = {
    "ddim": {
        **_COMMON,
        "clip_sample": True,
        "clip_sample_range": 1.0,
        "set_alpha_to_one": True,
        "timestep_spacing": "leading",
        "thresholding": False,
    },
    "euler": {
        **_COMMON,
        "timestep_spacing": "linspace",
        "interpolation_type": "linear",
        "use_karras_sigmas": False,
        "use_exponential_sigmas": False,
        "use_beta_sigmas": False,
        "sigma_min": None,
        "sigma_max": None,
        "timestep_type": "discrete",
        "final_sigmas_type": "zero",
    },
    "euler_a": {**_COMMON, "timestep_spacing": "linspace"},
    "dpmpp_2m": {
        **_COMMON,
        "timestep_spacing": "linspace",
        "use_karras_sigmas": False,
        "use_exponential_sigmas": False,
        "use_beta_sigmas": False,
        "use_lu_lambdas": False,
        "use_flow_sigmas": False,
        "final_sigmas_type": "zero",
        "lower_order_final": True,
        "euler_at_final": False,
        "lambda_min_clipped": -math.inf,
        "variance_type": None,
        "thresholding": False,
    },
    "lcm": {
        **_COMMON,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "original_inference_steps": 50,
        "clip_sample": False,
        "clip_sample_range": 1.0,
        "set_alpha_to_one": True,
        "timestep_scaling": 10.0,
        "thresholding": False,
    },
}
# -- the scheduler_config.json of well-known model folders (tests, tiny exports, documentation) --

#: runwayml SD 1.5: PNDM's config; no timestep_spacing, so each class's default applies
SD15_CONFIG: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}
#: SD 2.x 768-v (v-prediction)
SD2_V_CONFIG: dict[str, Any] = {
    "_class_name": "DDIMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
}
#: LCM-distilled SD 1.5 / LCM-LoRA
LCM_CONFIG: dict[str, Any] = {
    "_class_name": "LCMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "original_inference_steps": 50,
    "prediction_type": "epsilon",
    "set_alpha_to_one": True,
    "steps_offset": 1,
    "timestep_scaling": 10.0,
    "timestep_spacing": "leading",
}

# Keys whose only supported value is the default: another value is refused, never ignored.
_ONLY_DEFAULT = (
    "thresholding",
    "interpolation_type",
    "use_exponential_sigmas",
    "use_beta_sigmas",
    "use_lu_lambdas",
    "use_flow_sigmas",
    "sigma_min",
    "sigma_max",
    "timestep_type",
    "lambda_min_clipped",
    "variance_type",
)


Rng = np.random.Generator | Sequence[np.random.Generator]


def draw_noise(rng: Rng | None, shape: Sequence[int]) -> np.ndarray:
    """Standard normal float32 noise: ``rng.standard_normal(shape, dtype=float32)``, the one way
    GenStudio draws diffusion noise. With one generator per batch row (a list, as diffusers
    takes a list of torch generators), row ``i`` comes from ``rng[i]``, so an image does not
    depend on the batch it was made in."""
    shape = tuple(int(s) for s in shape)
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal(shape, dtype=np.float32)
    if (
        isinstance(rng, Sequence)
        and shape
        and len(rng) == shape[0]
        and all(isinstance(g, np.random.Generator) for g in rng)
    ):
        return np.concatenate([g.standard_normal((1, *shape[1:]), dtype=np.float32) for g in rng])
    raise InvalidParamsError(
        "This scheduler adds noise at each step and needs a random generator.",
        hint="Pass numpy.random.default_rng(seed) to step(), or one generator per batch row.",
    )


# ---------------------------------------------------------------------------------------------
# Config


class _Reader:
    """Reads one scheduler's settings from a scheduler_config.json dict, with its defaults."""

    def __init__(self, name: str, raw: Mapping[str, Any]) -> None:
        self.title = TITLES[name]
        self.raw = raw
        self.defaults = DEFAULTS[name]

    def value(self, key: str) -> Any:
        v = self.raw.get(key)
        return self.defaults[key] if v is None else v

    def bad(self, key: str, why: str, hint: str = _CONFIG_HINT) -> InvalidParamsError:
        v = self.raw.get(key)
        return InvalidParamsError(
            f"The {self.title} scheduler cannot use {key}={v!r}: {why}.", hint=hint
        )

    def integer(self, key: str, lo: int, hi: int | None = None) -> int:
        v = self.value(key)
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, Integral):
            raise self.bad(key, "it must be a whole number")
        if v < lo or (hi is not None and v > hi):
            rng = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
            raise self.bad(key, f"it must be {rng}")
        return int(v)

    def number(self, key: str, lo: float, hi: float) -> float:
        """A finite number in the open interval (lo, hi)."""
        v = self.value(key)
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(float(v)):
            raise self.bad(key, "it must be a finite number")
        v = float(v)
        if not lo < v < hi:
            raise self.bad(key, f"it must lie between {lo} and {hi}")
        return v

    def flag(self, key: str) -> bool:
        v = self.value(key)
        if not isinstance(v, bool | np.bool_):
            raise self.bad(key, "it must be true or false")
        return bool(v)

    def choice(self, key: str, options: Sequence[str]) -> str:
        v = self.value(key)
        if v not in options:
            raise self.bad(key, "not supported", hint=f"Use one of: {', '.join(options)}.")
        return str(v)


def _read_config(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    r = _Reader(name, raw)
    d = r.defaults
    for key in _ONLY_DEFAULT:
        if key in d and raw.get(key) is not None:
            v, want = raw[key], d[key]
            same = v == want if want is not None else False
            if key == "lambda_min_clipped" and isinstance(v, Real) and not isinstance(v, bool):
                same = float(v) == -math.inf
            if not same:
                raise r.bad(
                    key,
                    "GenStudio's schedulers do not implement it",
                    hint=f"Remove {key} from the scheduler config (the default is {want!r}).",
                )
    c: dict[str, Any] = {"name": name}
    n = c["num_train_timesteps"] = r.integer("num_train_timesteps", 2, 100_000)
    c["beta_schedule"] = r.choice("beta_schedule", _BETA_SCHEDULES)
    c["beta_start"] = r.number("beta_start", 0.0, 1.0)
    c["beta_end"] = r.number("beta_end", 0.0, 1.0)
    if c["beta_schedule"] != "squaredcos_cap_v2" and c["beta_start"] > c["beta_end"]:
        raise r.bad("beta_start", f"it is larger than beta_end={c['beta_end']}")
    tb = raw.get("trained_betas")
    if tb is not None:
        try:
            arr = np.asarray(tb, dtype=np.float64)
        except (TypeError, ValueError):
            raise r.bad("trained_betas", "it must be a list of numbers") from None
        if arr.shape != (n,) or not np.all((arr > 0) & (arr <= 1)):
            raise r.bad("trained_betas", f"it must be {n} numbers in (0, 1]")
        c["trained_betas"] = arr
    else:
        c["trained_betas"] = None
    c["prediction_type"] = r.choice("prediction_type", _PREDICTION_TYPES)
    c["rescale_betas_zero_snr"] = r.flag("rescale_betas_zero_snr")
    c["steps_offset"] = r.integer("steps_offset", 0, n - 1)
    if "timestep_spacing" in d:
        c["timestep_spacing"] = r.choice("timestep_spacing", _SPACINGS)
    for key in (
        "clip_sample",
        "set_alpha_to_one",
        "use_karras_sigmas",
        "lower_order_final",
        "euler_at_final",
    ):
        if key in d:
            c[key] = r.flag(key)
    if "clip_sample_range" in d:
        c["clip_sample_range"] = r.number("clip_sample_range", 0.0, math.inf)
    if "final_sigmas_type" in d:
        c["final_sigmas_type"] = r.choice("final_sigmas_type", ("zero", "sigma_min"))
    if "original_inference_steps" in d:
        c["original_inference_steps"] = r.integer("original_inference_steps", 1, n)
    if "timestep_scaling" in d:
        c["timestep_scaling"] = r.number("timestep_scaling", 0.0, math.inf)
    if (
        name in ("ddim", "lcm")
        and c["rescale_betas_zero_snr"]
        and c["prediction_type"] == "epsilon"
    ):
        raise r.bad(
            "rescale_betas_zero_snr",
            "zero terminal SNR needs a v_prediction model (epsilon divides by zero)",
            hint="Set prediction_type to v_prediction, or remove rescale_betas_zero_snr.",
        )
    return c


def _betas(c: Mapping[str, Any]) -> np.ndarray:
    n = c["num_train_timesteps"]
    if c["trained_betas"] is not None:
        betas = np.asarray(c["trained_betas"], dtype=np.float32)
    elif c["beta_schedule"] == "linear":
        betas = np.linspace(c["beta_start"], c["beta_end"], n).astype(np.float32)
    elif c["beta_schedule"] == "scaled_linear":
        betas = np.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, n).astype(np.float32)
        betas = betas**2
    else:  # squaredcos_cap_v2 (diffusers' betas_for_alpha_bar, cosine)

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = np.array(
            [min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)],
            dtype=np.float32,
        )
    if c["rescale_betas_zero_snr"]:
        betas = _rescale_zero_terminal_snr(betas)
    return betas


def _rescale_zero_terminal_snr(betas: np.ndarray) -> np.ndarray:
    """Lin et al. 2023, Algorithm 1 (as diffusers' rescale_zero_terminal_snr), in float32."""
    alphas_bar_sqrt = np.sqrt(np.cumprod((1.0 - betas).astype(np.float64)).astype(np.float32))
    a0, at = alphas_bar_sqrt[0], alphas_bar_sqrt[-1]
    alphas_bar_sqrt = (alphas_bar_sqrt - at) * (a0 / (a0 - at))
    alphas_bar = alphas_bar_sqrt**2
    alphas = np.concatenate([alphas_bar[:1], alphas_bar[1:] / alphas_bar[:-1]])
    return (1.0 - alphas).astype(np.float32)


def _karras(sigma_min: float, sigma_max: float, steps: int) -> np.ndarray:
    rho = 7.0
    ramp = np.linspace(0, 1, steps)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def _sigma_to_t(sigma: np.ndarray, log_sigmas: np.ndarray) -> np.ndarray:
    """The fractional training timestep of each sigma (diffusers' _sigma_to_t, vectorised)."""
    sigma = np.asarray(sigma)
    log_sigma = np.log(np.maximum(sigma, 1e-10))
    dists = log_sigma - log_sigmas[:, np.newaxis]
    low_idx = np.cumsum(dists >= 0, axis=0).argmax(axis=0).clip(max=log_sigmas.shape[0] - 2)
    high_idx = low_idx + 1
    low, high = log_sigmas[low_idx], log_sigmas[high_idx]
    w = np.clip((low - log_sigma) / (low - high), 0, 1)
    return ((1 - w) * low_idx + w * high_idx).reshape(sigma.shape)


def _spaced(c: Mapping[str, Any], steps: int, dtype: type) -> np.ndarray:
    """DDIM / Euler / Euler ancestral timestep spacing (descending)."""
    n = c["num_train_timesteps"]
    spacing = c["timestep_spacing"]
    if spacing == "linspace":
        if dtype is np.int64:
            return np.linspace(0, n - 1, steps).round()[::-1].astype(np.int64)
        return np.linspace(0, n - 1, steps, dtype=np.float32)[::-1].copy()
    if spacing == "leading":
        ratio = n // steps
        ts = (np.arange(0, steps) * ratio).round()[::-1].astype(dtype)
        return ts + dtype(c["steps_offset"])
    return _trailing(n, steps).astype(dtype) - dtype(1)


def _trailing(n: int, steps: int) -> np.ndarray:
    """diffusers' ``np.arange(n, 0, -n / steps).round()``, cut to ``steps`` values: for 62 step
    counts up to 1000 (61, 103, 121, ...) float rounding gives arange one more value, ~1e-13,
    which diffusers turns into a last timestep of -1 (DDIM then reads alphas_cumprod[-1])."""
    return np.arange(n, 0, -(n / steps))[:steps].round()


# ---------------------------------------------------------------------------------------------
# Schedulers


class Scheduler:
    """Common interface; make one with :func:`make_scheduler`."""

    name = ""
    stochastic = False  # draws noise from the rng passed to step()
    _strength_in_schedule = False  # LCM shrinks its schedule for img2img instead of skipping
    _zero_snr_floor = False  # diffusers sets alphas_cumprod[-1] = 2**-24 under zero SNR

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.num_train_timesteps: int = self.config["num_train_timesteps"]
        self.betas = _betas(self.config)
        # float64 running product, then float32: bit-identical to torch.cumprod here
        alphas = (1.0 - self.betas).astype(np.float64)
        self.alphas_cumprod = np.cumprod(alphas).astype(np.float32)
        if self._zero_snr_floor and self.config["rescale_betas_zero_snr"]:
            self.alphas_cumprod[-1] = 2.0**-24
        self.timesteps: np.ndarray = np.zeros(0, dtype=np.int64)
        self.num_inference_steps = 0
        self.init_noise_sigma = 1.0
        self.denoised: np.ndarray | None = None  # the last step's estimate of the clean latents
        self._full = self.timesteps
        self._begin = 0
        self._next = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} steps={len(self.timesteps)}>"

    # -- schedule -------------------------------------------------------------------------

    def set_timesteps(self, steps: int, strength: float = 1.0) -> None:
        """Plan ``steps`` denoising steps; with ``strength`` < 1 (img2img, inpaint) run only the
        last ``int(steps * strength)`` of them (LCM: its schedule shrinks, as in diffusers)."""
        n = self.num_train_timesteps
        if isinstance(steps, bool) or not isinstance(steps, Integral) or not 1 <= steps <= n:
            raise InvalidParamsError(
                f"Steps must be a whole number from 1 to {n}, not {steps!r}.",
                hint="20-30 steps suit most schedulers; 1-8 suit LCM and Turbo models.",
            )
        if (
            isinstance(strength, bool)
            or not isinstance(strength, Real)
            or not 0.0 < float(strength) <= 1.0
        ):
            raise InvalidParamsError(
                f"Strength must be a number above 0 and at most 1, not {strength!r}.",
                hint="1 ignores the source image; lower values keep more of it.",
            )
        steps, strength = int(steps), float(strength)
        full = self._schedule(steps, strength)
        begin = 0
        if not self._strength_in_schedule:
            run = min(int(steps * strength), steps)
            if run < 1:
                raise InvalidParamsError(
                    f"{steps} steps at strength {strength:g} leave no step to run.",
                    hint=f"Raise the steps to at least {math.ceil(1 / strength)} or the strength.",
                )
            begin = steps - run
        self.num_inference_steps = steps
        self._full = full
        self._begin = begin
        self.timesteps = full[begin:].copy()
        self._next = 0
        self.denoised = None
        self._reset()

    def _schedule(self, steps: int, strength: float) -> np.ndarray:
        raise NotImplementedError

    def _reset(self) -> None:
        """Forget multistep history (a new loop starts)."""

    def _index(self, step_index: int) -> int:
        """The index into the full schedule of the ``step_index``-th step that runs."""
        if len(self.timesteps) == 0:
            raise InvalidParamsError(
                f"The {TITLES[self.name]} scheduler has no steps yet.",
                hint="Call set_timesteps() before stepping.",
            )
        if isinstance(step_index, bool) or not isinstance(step_index, Integral):
            raise InvalidParamsError(f"Step index must be a whole number, not {step_index!r}.")
        if not 0 <= step_index < len(self.timesteps):
            raise InvalidParamsError(
                f"Step index {step_index} is outside 0..{len(self.timesteps) - 1}.",
                hint="Step through enumerate(scheduler.timesteps).",
            )
        return self._begin + int(step_index)

    # -- per step -------------------------------------------------------------------------

    def scale_model_input(self, sample: np.ndarray, step_index: int) -> np.ndarray:
        """The UNet's input for this step (Euler schedulers divide by sqrt(sigma^2 + 1))."""
        self._index(step_index)
        return np.asarray(sample)

    def step(
        self,
        model_output: np.ndarray,
        step_index: int,
        sample: np.ndarray,
        rng: Rng | None = None,
    ) -> np.ndarray:
        """The sample after step ``step_index``, from the UNet's output for it."""
        j = self._index(step_index)
        if step_index == 0:
            self._reset()
        out, x, dtype = _float64_arrays(model_output, sample)
        prev = self._step(out, j, x, rng)
        self._next = int(step_index) + 1
        if self.denoised is not None:
            self.denoised = self.denoised.astype(dtype)
        return prev.astype(dtype)

    def _step(self, out: np.ndarray, j: int, x: np.ndarray, rng: Rng | None) -> np.ndarray:
        raise NotImplementedError

    def add_noise(self, original: np.ndarray, noise: np.ndarray, step_index: int = 0) -> np.ndarray:
        """``original`` noised to the level step ``step_index`` starts from (img2img: 0;
        inpaint re-noises the kept area to step i + 1 after step i)."""
        j = self._index(step_index)
        x, n, dtype = _float64_arrays(original, noise)
        return self._add_noise(x, n, j).astype(dtype)

    def _add_noise(self, x: np.ndarray, noise: np.ndarray, j: int) -> np.ndarray:
        a = float(self.alphas_cumprod[int(self._full[j])])
        return a**0.5 * x + (1.0 - a) ** 0.5 * noise


def _out_dtype(*arrays: np.ndarray) -> np.dtype:
    dtype = np.result_type(*(a.dtype for a in arrays), np.float32)
    if dtype not in (np.float32, np.float64):
        raise InvalidParamsError(f"Expected float arrays, got {[str(a.dtype) for a in arrays]}.")
    return dtype


def _float64_arrays(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """Both arrays in float64 for the arithmetic, and the dtype to hand back (float32 unless
    float64 came in). float64 inside costs nothing next to a UNet and avoids float32
    cancellation where sigma is large (zero-terminal-SNR schedules start at sigma 4096)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise InvalidParamsError(f"Array shapes differ: {a.shape} and {b.shape}.")
    return a.astype(np.float64), b.astype(np.float64), _out_dtype(a, b)


def _x0_from_alpha(c: Mapping[str, Any], out: np.ndarray, x: np.ndarray, a: float) -> np.ndarray:
    """Predicted clean sample from the UNet output at cumulative alpha ``a`` (DDIM, LCM)."""
    b = 1.0 - a
    if c["prediction_type"] == "epsilon":
        x0 = (x - b**0.5 * out) / a**0.5
    else:
        x0 = a**0.5 * x - b**0.5 * out
    if c["clip_sample"]:
        r = c["clip_sample_range"]
        x0 = np.clip(x0, -r, r)
    return x0


class DDIMScheduler(Scheduler):
    """DDIM with eta = 0 (deterministic), as diffusers' pipelines run it by default."""

    name = "ddim"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self._final_alpha = 1.0 if c["set_alpha_to_one"] else float(self.alphas_cumprod[0])
        self._gap = 0

    def _schedule(self, steps: int, strength: float) -> np.ndarray:
        ts = _spaced(self.config, steps, np.int64)
        if ts.max() >= self.num_train_timesteps:
            raise InvalidParamsError(
                f"{steps} DDIM steps with steps_offset {self.config['steps_offset']} reach past "
                f"the last training timestep {self.num_train_timesteps - 1}.",
                hint="Use fewer steps.",
            )
        self._gap = self.num_train_timesteps // steps
        return ts

    def _step(self, out, j, x, rng):
        t = int(self._full[j])
        prev = t - self._gap  # diffusers' rule, whatever the spacing
        a = float(self.alphas_cumprod[t])
        a_prev = float(self.alphas_cumprod[prev]) if prev >= 0 else self._final_alpha
        b = 1.0 - a
        if self.config["prediction_type"] == "epsilon":
            eps = out
        else:
            eps = a**0.5 * out + b**0.5 * x
        x0 = _x0_from_alpha(self.config, out, x, a)
        self.denoised = x0
        return a_prev**0.5 * x0 + (1.0 - a_prev) ** 0.5 * eps


class _SigmaScheduler(Scheduler):
    """Schedulers that work in sigma = sqrt((1 - alpha_bar) / alpha_bar) (Euler, DPM++)."""

    _zero_snr_floor = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        ac = self.alphas_cumprod
        self._train_sigmas = ((1.0 - ac) / ac) ** np.float32(0.5)  # float32, ascending in t
        self._sigmas = np.concatenate([self._train_sigmas[::-1], [0.0]]).astype(np.float32)

    def _last_sigma(self) -> float:
        if self.config.get("final_sigmas_type", "zero") == "sigma_min":
            a0 = self.alphas_cumprod[0]
            return float(((1 - a0) / a0) ** np.float32(0.5))
        return 0.0


class EulerScheduler(_SigmaScheduler):
    """Euler (Karras et al. 2022, Algorithm 2 without churn), as diffusers' EulerDiscrete."""

    name = "euler"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._set_init_sigma()

    def _set_init_sigma(self) -> None:
        m = self._sigmas.max()
        leading = self.config["timestep_spacing"] == "leading"
        self.init_noise_sigma = float((m**2 + 1) ** np.float32(0.5) if leading else m)

    def _schedule(self, steps: int, strength: float) -> np.ndarray:
        ts = _spaced(self.config, steps, np.float32)
        ts_train = self._train_sigmas
        sigmas = np.interp(ts, np.arange(len(ts_train)), ts_train)
        if self.config.get("use_karras_sigmas"):
            sigmas = _karras(float(sigmas[-1]), float(sigmas[0]), steps)
            ts = _sigma_to_t(sigmas, np.log(ts_train))
        self._sigmas = np.concatenate([sigmas, [self._last_sigma()]]).astype(np.float32)
        self._set_init_sigma()
        return ts.astype(np.float32)

    def scale_model_input(self, sample: np.ndarray, step_index: int) -> np.ndarray:
        j = self._index(step_index)
        x = np.asarray(sample)
        sigma = float(self._sigmas[j])
        return (x.astype(np.float64) / (sigma**2 + 1) ** 0.5).astype(_out_dtype(x))

    def _x0(self, out: np.ndarray, x: np.ndarray, sigma: float) -> np.ndarray:
        if self.config["prediction_type"] == "epsilon":
            return x - sigma * out
        return out * (-sigma / (sigma**2 + 1) ** 0.5) + x / (sigma**2 + 1)

    def _step(self, out, j, x, rng):
        sigma, sigma_next = float(self._sigmas[j]), float(self._sigmas[j + 1])
        x0 = self._x0(out, x, sigma)
        self.denoised = x0
        derivative = (x - x0) / sigma
        return x + derivative * (sigma_next - sigma)

    def _add_noise(self, x, noise, j):
        return x + noise * float(self._sigmas[j])


class EulerAncestralScheduler(EulerScheduler):
    """Euler ancestral, as diffusers' EulerAncestralDiscrete (one noise draw every step)."""

    name = "euler_a"
    stochastic = True

    def _step(self, out, j, x, rng):
        sigma, sigma_to = float(self._sigmas[j]), float(self._sigmas[j + 1])
        x0 = self._x0(out, x, sigma)
        self.denoised = x0
        # diffusers: up = sqrt(to^2 (from^2 - to^2) / from^2), down = sqrt(to^2 - up^2); the same
        # down as to^2 / from, which cannot go NaN when from >> to (squaredcos_cap_v2 starts at
        # sigma 2e4, where diffusers' float32 takes the root of a rounding-negative number).
        sigma_down = sigma_to**2 / sigma
        sigma_up = math.sqrt(max(sigma_to**2 - sigma_down**2, 0.0))
        derivative = (x - x0) / sigma
        prev = x + derivative * (sigma_down - sigma)
        return prev + draw_noise(rng, x.shape) * sigma_up


def _alpha_sigma(sigma: float) -> tuple[float, float]:
    alpha_t = 1.0 / math.sqrt(sigma**2 + 1.0)
    return alpha_t, sigma * alpha_t


def _lambda(alpha_t: float, sigma_t: float) -> float:
    return math.inf if sigma_t == 0.0 else math.log(alpha_t) - math.log(sigma_t)


class DPMSolverPP2MScheduler(_SigmaScheduler):
    """DPM-Solver++(2M), as diffusers' DPMSolverMultistep with algorithm_type "dpmsolver++",
    solver_order 2, solver_type "midpoint" (whatever the config says about those three)."""

    name = "dpmpp_2m"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._history: list[np.ndarray] = []

    def _reset(self) -> None:
        self._history = []

    def _schedule(self, steps: int, strength: float) -> np.ndarray:
        c = self.config
        last = self.num_train_timesteps  # lambda_min_clipped is -inf: nothing is clipped
        if c["timestep_spacing"] == "linspace":
            ts = np.linspace(0, last - 1, steps + 1).round()[::-1][:-1].astype(np.int64)
        elif c["timestep_spacing"] == "leading":
            ratio = last // (steps + 1)
            ts = (np.arange(0, steps + 1) * ratio).round()[::-1][:-1].astype(np.int64)
            ts += c["steps_offset"]
        else:
            ts = _trailing(last, steps).astype(np.int64) - 1
        train = self._train_sigmas
        if c["use_karras_sigmas"]:
            sigmas = _karras(float(train[0]), float(train[-1]), steps)
            tf = _sigma_to_t(sigmas, np.log(train))
            if c["beta_schedule"] != "squaredcos_cap_v2":
                tf = tf.round()
            ts = tf.astype(np.int64)
        else:
            sigmas = np.interp(ts, np.arange(len(train)), train)
        self._sigmas = np.concatenate([sigmas, [self._last_sigma()]]).astype(np.float32)
        if np.any(np.diff(self._sigmas[:-1]) >= 0):  # h = 0: diffusers divides by zero
            raise InvalidParamsError(
                f"{steps} DPM++ 2M steps repeat a noise level of this schedule.",
                hint="Use fewer steps.",
            )
        return ts

    def _x0(self, out: np.ndarray, x: np.ndarray, j: int) -> np.ndarray:
        alpha_t, sigma_t = _alpha_sigma(float(self._sigmas[j]))
        if self.config["prediction_type"] == "epsilon":
            return (x - sigma_t * out) / alpha_t
        return alpha_t * x - sigma_t * out

    def _step(self, out, j, x, rng):
        c = self.config
        total = len(self._full)
        lower_order_final = j == total - 1 and (
            c["euler_at_final"]
            or (c["lower_order_final"] and total < 15)
            or c["final_sigmas_type"] == "zero"
        )
        x0 = self._x0(out, x, j)
        self.denoised = x0
        self._history = [*self._history[-1:], x0]
        alpha_t, sigma_t = _alpha_sigma(float(self._sigmas[j + 1]))
        alpha_s0, sigma_s0 = _alpha_sigma(float(self._sigmas[j]))
        lambda_t, lambda_s0 = _lambda(alpha_t, sigma_t), _lambda(alpha_s0, sigma_s0)
        h = lambda_t - lambda_s0
        coeff = alpha_t * (math.exp(-h) - 1.0)  # exp(-inf) = 0 at a final sigma of zero
        if len(self._history) < 2 or lower_order_final or h == 0.0:
            # first order (DPM-Solver++ 1 = DDIM); h = 0 (final sigma_min after a Karras
            # schedule that ends at sigma_min) leaves x as it is, as diffusers' 1 / inf does
            return (sigma_t / sigma_s0) * x - coeff * x0
        alpha_s1, sigma_s1 = _alpha_sigma(float(self._sigmas[j - 1]))
        h_0 = lambda_s0 - _lambda(alpha_s1, sigma_s1)
        r0 = h_0 / h
        m0, m1 = self._history[-1], self._history[-2]
        d1 = (1.0 / r0) * (m0 - m1)
        return (sigma_t / sigma_s0) * x - coeff * m0 - 0.5 * coeff * d1

    def step(self, model_output, step_index, sample, rng=None):
        self._index(step_index)
        if step_index != 0 and step_index != self._next:
            raise InvalidParamsError(
                f"DPM++ 2M is a multistep solver: step {step_index} came after step "
                f"{self._next - 1}.",
                hint="Run the steps in order, starting again from step 0.",
            )
        return super().step(model_output, step_index, sample, rng)

    def _add_noise(self, x, noise, j):
        alpha_t, sigma_t = _alpha_sigma(float(self._sigmas[j]))
        return alpha_t * x + sigma_t * noise


class LCMScheduler(Scheduler):
    """Latent Consistency Model multistep sampling, as diffusers' LCMScheduler."""

    name = "lcm"
    stochastic = True
    _strength_in_schedule = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        c = self.config
        self._final_alpha = 1.0 if c["set_alpha_to_one"] else float(self.alphas_cumprod[0])

    def _schedule(self, steps: int, strength: float) -> np.ndarray:
        original = self.config["original_inference_steps"]
        k = self.num_train_timesteps // original
        usable = int(original * strength)
        origin = np.arange(1, usable + 1, dtype=np.int64) * k - 1
        if steps > original or len(origin) // steps < 1:
            raise InvalidParamsError(
                f"LCM takes at most {min(original, usable)} steps here"
                + (f" at strength {strength:g}" if strength < 1 else "")
                + f", not {steps}.",
                hint=f"LCM plans its steps among {original} original ones "
                "(original_inference_steps x strength); use 2-8 steps.",
            )
        origin = origin[::-1]
        idx = np.floor(np.linspace(0, len(origin), num=steps, endpoint=False)).astype(np.int64)
        return origin[idx]

    def _step(self, out, j, x, rng):
        c = self.config
        t = int(self._full[j])
        prev_t = int(self._full[j + 1]) if j + 1 < len(self._full) else t
        a = float(self.alphas_cumprod[t])
        a_prev = float(self.alphas_cumprod[prev_t]) if prev_t >= 0 else self._final_alpha
        scaled = t * c["timestep_scaling"]
        c_skip = 0.25 / (scaled**2 + 0.25)  # sigma_data = 0.5
        c_out = scaled / (scaled**2 + 0.25) ** 0.5
        x0 = _x0_from_alpha(c, out, x, a)
        denoised = c_out * x0 + c_skip * x
        self.denoised = denoised
        if j == self.num_inference_steps - 1:
            return denoised
        noise = draw_noise(rng, x.shape)
        return a_prev**0.5 * denoised + (1.0 - a_prev) ** 0.5 * noise


_CLASSES: dict[str, type[Scheduler]] = {
    "ddim": DDIMScheduler,
    "euler": EulerScheduler,
    "euler_a": EulerAncestralScheduler,
    "dpmpp_2m": DPMSolverPP2MScheduler,
    "lcm": LCMScheduler,
}


def make_scheduler(name: str, config: Mapping[str, Any] | None = None) -> Scheduler:
    """The scheduler ``name`` (one of :data:`SCHEDULERS`) for a diffusers scheduler config dict."""
    key = name.strip().lower() if isinstance(name, str) else ""
    if key not in _CLASSES:
        raise InvalidParamsError(
            f"Unknown scheduler {name!r}.",
            hint=f"Choose one of: {', '.join(SCHEDULERS)}.",
        )
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise InvalidParamsError(
            "The scheduler config must be a JSON object (a dict).", hint=_CONFIG_HINT
        )
    return _CLASSES[key](_read_config(key, config))
