"""The one denoising loop every image model runs (the built-in icon model and every Stable
Diffusion variant), in numpy; the model enters only as a noise-prediction callable.

    eps(x, t, cond) -> the noise predicted for the batch ``x`` (already scaled by the scheduler)
                       at timestep ``t``, given the prompt conditioning ``cond``

:func:`denoise` walks a scheduler's timesteps: cancel check, ``scale_model_input``, ``eps``,
scheduler step, inpainting blend, progress. :func:`guided` wraps a model that predicts a
doubled batch (conditional and unconditional halves) into classifier-free guidance,
``eps_u + g (eps_c - eps_u)``, with either half first - the built-in model puts the prompt first,
SD the negative prompt (as diffusers).

One scheduler steps the whole batch (SD: one noise stream for the batch, as diffusers), or one
scheduler and one generator per image (the built-in model: image ``i`` of a batch is exactly the
image of ``seed + i`` made alone). Inpainting with a model that has no mask input replaces the
kept area after every step by the source latents noised to the next step's level (and by the
source itself after the last), as diffusers does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from genstudio.core.errors import Cancelled

Eps = Callable[[np.ndarray, Any, Any], np.ndarray]
Progress = Callable[[int, int, "np.ndarray | None"], Any]


class Scheduler(Protocol):
    timesteps: Any
    denoised: np.ndarray | None

    def scale_model_input(self, sample: np.ndarray, i: int) -> np.ndarray: ...

    def step(
        self, eps: np.ndarray, i: int, sample: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray: ...

    def add_noise(self, x0: np.ndarray, noise: np.ndarray, i: int) -> np.ndarray: ...


def guided(model: Eps, guidance: float, n: int, *, cond_first: bool) -> Eps:
    """Classifier-free guidance around ``model``, which predicts a batch of ``2 n`` from the
    latents twice over (its ``cond`` holds both halves' conditioning)."""
    g = np.float32(guidance)

    def eps(x: np.ndarray, t: Any, cond: Any) -> np.ndarray:
        out = model(np.concatenate([x, x]), t, cond)
        c, u = (out[:n], out[n:]) if cond_first else (out[n:], out[:n])
        return u + g * (c - u)

    return eps


def denoise(
    latents: np.ndarray,
    schedulers: Sequence[Scheduler],
    eps: Eps,
    cond: Any,
    *,
    rngs: Sequence[np.random.Generator],
    inpaint: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], Any] | None = None,
) -> np.ndarray:
    """Run the loop from ``latents`` and return the final latents.

    ``schedulers``/``rngs``: one of each for the whole batch, or one per image (same timesteps).
    ``inpaint``: ``(mask, source_latents, noise)`` for latent blending (mask 1 = repaint, in
    latent resolution). ``progress(step, total, denoised)`` gets the step's estimate of the clean
    latents; ``cancel()`` is asked before every step: true stops with :class:`Cancelled`."""
    sched = schedulers[0]
    per_image = len(schedulers) > 1
    total = len(sched.timesteps)
    x = latents
    for i, t in enumerate(sched.timesteps):
        if cancel is not None and cancel():
            raise Cancelled("Generation cancelled.")
        e = eps(sched.scale_model_input(x, i), t, cond)
        if per_image:
            x = np.stack(
                [
                    s.step(e[k], i, x[k], r)
                    for k, (s, r) in enumerate(zip(schedulers, rngs, strict=True))
                ]
            )
        else:
            x = sched.step(e, i, x, rngs[0])
        if inpaint is not None:
            mask, source, noise = inpaint
            known = sched.add_noise(source, noise, i + 1) if i + 1 < total else source
            x = mask * x + (1.0 - mask) * known
        if progress is not None:
            progress(i + 1, total, _denoised(schedulers))
    return x


def _denoised(schedulers: Sequence[Scheduler]) -> np.ndarray | None:
    if len(schedulers) == 1:
        return schedulers[0].denoised
    den = [s.denoised for s in schedulers]
    return None if any(d is None for d in den) else np.stack(den)  # type: ignore[arg-type]
