"""Sampler names across tools: GenStudio's scheduler names <-> A1111's sampler names, and the
ComfyUI / InvokeAI / legacy names that map onto them."""

from __future__ import annotations

GENSTUDIO_SCHEDULERS: tuple[str, ...] = ("ddim", "euler", "euler_a", "dpmpp_2m", "lcm")
GENSTUDIO_TO_A1111: dict[str, str] = {
    "ddim": "DDIM",
    "euler": "Euler",
    "euler_a": "Euler a",
    "dpmpp_2m": "DPM++ 2M",
    "lcm": "LCM",
}
A1111_TO_GENSTUDIO: dict[str, str] = {v: k for k, v in GENSTUDIO_TO_A1111.items()}
# ComfyUI / InvokeAI / legacy names of samplers GenStudio does not have, for the A1111 line.
_OTHER_TO_A1111: dict[str, str] = {
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "kdpm_2": "DPM2",
    "kdpm_2_a": "DPM2 a",
    "lms": "LMS",
    "dpm_fast": "DPM fast",
    "dpm_adaptive": "DPM adaptive",
    "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_3m_sde": "DPM++ 3M SDE",
    "ddpm": "DDPM",
    "uni_pc": "UniPC",
    "unipc": "UniPC",
    "plms": "PLMS",
}


def a1111_sampler_name(name: str) -> str:
    """GenStudio's (or ComfyUI's / InvokeAI's) sampler name -> A1111's; unknown: unchanged."""
    if name in GENSTUDIO_TO_A1111:
        return GENSTUDIO_TO_A1111[name]
    return _OTHER_TO_A1111.get(name, name)


def genstudio_scheduler_name(name: str) -> str:
    """A1111's (or ComfyUI's / InvokeAI's / legacy ``k_*``) sampler name -> GenStudio's
    scheduler name when it is one of :data:`GENSTUDIO_SCHEDULERS`; otherwise unchanged."""
    if name in A1111_TO_GENSTUDIO:
        return A1111_TO_GENSTUDIO[name]
    if name in GENSTUDIO_TO_A1111:
        return name
    low = name.strip().casefold()
    for a1111, ours in A1111_TO_GENSTUDIO.items():
        if a1111.casefold() == low:
            return ours
    if low.startswith("k_"):
        low = low[2:]
    if low == "euler_ancestral":
        return "euler_a"
    return low if low in GENSTUDIO_TO_A1111 else name
