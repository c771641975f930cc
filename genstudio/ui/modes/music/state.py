"""The Music panel's logic without Qt: settings <-> job params, reuse, clips, labels, WAV reading.

Plain Python (plus the music back-end's vocabulary), so the panel stays a thin layer of
controls over :class:`MusicSettings` and this part is testable without widgets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import fields
from genstudio.generators.music import generator as gen
from genstudio.generators.music import score as sc
from genstudio.generators.music import tokens as tk
from genstudio.generators.music.generator import MusicParams
from genstudio.ui.modes.seeds import MAX_SEED, parse_seed, random_seed  # noqa: F401 (the panel uses state.*)
from genstudio.ui.modes.settings import settings_class

GENERATOR = "music.gpt"
_spec = fields.field_info
MODES: tuple[str, ...] = tuple(_spec(MusicParams, "mode").spec.allowed() or ())
MODE_LABELS: dict[str, str] = {
    "generate": "Generate",
    "continue": "Continue",
    "variations": "Variations",
    "interpolate": "Interpolate",
    "loop": "Loop",
    "drums": "Drums",
}
MODE_TIPS: dict[str, str] = {
    "generate": "A new piece in the chosen style, key, metre and tempo.",
    "continue": "Your clip followed by new bars; its key, metre and tempo are kept.",
    "variations": "Your clip's rhythm kept note for note, some pitches drawn again.",
    "interpolate": "Clip A, new bridge bars, then clip B.",
    "loop": "A piece whose last bar leads back into its first, for seamless looping.",
    "drums": "A drum part added to your clip (rule-based: works without the model).",
}
#: MIDI clips each mode needs (the generator's own table)
CLIPS_NEEDED: dict[str, int] = gen.INPUTS_NEEDED
#: modes that sample the music model (all but drums)
MODEL_MODES = frozenset(m for m in MODES if m != "drums")

DEFAULT_STYLE: str = _spec(MusicParams, "style").default
#: the built-in styles, the default first
STYLES: tuple[str, ...] = (DEFAULT_STYLE, *(s for s in gen.MODEL_STYLES if s != DEFAULT_STYLE))
STYLE_LABELS: dict[str, str] = {
    "folk": "Folk tune (melody)",
    "chorale": "Chorale (4 voices)",
    "melody_accomp": "Melody + accompaniment",
}
TONICS: tuple[str, ...] = sc.PITCH_CLASSES
SCALES: tuple[str, ...] = ("major", "minor")
TIME_SIGNATURES: tuple[str, ...] = tuple(f"{n}/{d}" for n, d in tk.TIME_SIGNATURES)
MIDI_SUFFIXES = (".mid", ".midi")
MIDI_FILTER = "MIDI files (*.mid *.midi)"
MAX_RESULTS = 50


def is_midi_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in MIDI_SUFFIXES


def split_key(key: str) -> tuple[str, str]:
    """'D major' -> ('D', 'major'); '' (or an unreadable key) -> ('', 'major')."""
    if not key:
        return "", "major"
    try:
        k = sc.parse_key(key)
    except InvalidParamsError:
        return "", "major"
    return TONICS[k.tonic], k.mode


def join_key(tonic: str, scale: str) -> str:
    return f"{tonic} {scale}" if tonic else ""


def style_label(style: str) -> str:
    return STYLE_LABELS.get(style, style.replace("_", " "))


def style_top_p(style: str) -> float:
    """The nucleus a style samples with by default (what ``MusicParams.top_p=None`` means)."""
    return gen.STYLE_TOP_P.get(style, 0.95)


# --- the style list: built-in styles, then every fine-tuned music pack's own styles -----------

#: the vocabulary's spare style tokens, which fine-tuned packs use
SPARE_STYLES: tuple[str, ...] = gen.SPARE_STYLES


@dataclass(frozen=True)
class StyleChoice:
    """One entry of the style list: a style token and the pack it needs ("" = built-in)."""

    style: str
    model: str = ""
    title: str = ""
    source: str = ""  # the pack's place: "built-in", "user", "project"
    key_lock: bool | None = None  # the pack's recommendation (None: the user's choice stands)

    @property
    def label(self) -> str:
        return self.title or style_label(self.style)


def builtin_styles() -> list[StyleChoice]:
    return [StyleChoice(s, "", style_label(s), "built-in") for s in STYLES]


def pack_styles(packs: list[Any]) -> list[StyleChoice]:
    """The styles fine-tuned music packs (``registry.PackEntry``) list in their model.json."""
    out: list[StyleChoice] = []
    seen: set[tuple[str, str]] = set()
    for p in packs:
        for st in getattr(p, "styles", ()) or ():
            token = st.get("token") if isinstance(st, Mapping) else None
            if token not in SPARE_STYLES and token not in STYLES:
                continue
            key = (str(token), str(p.id))
            if key in seen:
                continue
            seen.add(key)
            title = st.get("title") if isinstance(st.get("title"), str) else ""
            sampling = st.get("sampling") if isinstance(st.get("sampling"), Mapping) else {}
            lock = sampling.get("key_lock")
            out.append(
                StyleChoice(
                    str(token), str(p.id), title or f"{p.id}: {token}", p.source,
                    lock if isinstance(lock, bool) else None,
                )
            )  # fmt: skip
    return out


def load_pack_styles() -> list[StyleChoice]:
    """Every fine-tuned pack's styles (reads the model folders: call off the GUI thread)."""
    from genstudio.runtime import registry

    return pack_styles(registry.list_packs("music"))


def style_ok(style: Any, model: Any) -> bool:
    return isinstance(style, str) and (
        style in STYLES or (bool(model) and isinstance(model, str) and style in SPARE_STYLES)
    )


# --- settings ----------------------------------------------------------------------------------


class MusicSettings(settings_class("MusicSettings", MusicParams)):
    """What the panel's controls say: every MusicParams field (studio defaults from the spec).

    ``top_p`` is always a number here (the panel sends an explicit one; it follows the style,
    see the panel), ``inputs`` the clips the user gave (the job gets as many as the mode needs)
    and ``model`` the pack of a fine-tuned style ("" = the built-in model)."""

    def to_params(self) -> dict[str, Any]:
        p = super().to_params()
        p["inputs"] = list(self.inputs[: CLIPS_NEEDED.get(self.mode, 0)])
        p["top_p"] = float(self.top_p if self.top_p is not None else style_top_p(self.style))
        return p

    def check(self) -> None:
        """Refuse what the generator would refuse, before a job is queued (clear message)."""
        need = CLIPS_NEEDED.get(self.mode, 0)
        if len(self.inputs) < need:
            what = "two MIDI clips (A and B)" if need == 2 else "a MIDI clip"
            raise InvalidParamsError(
                f"{MODE_LABELS[self.mode]} needs {what}.",
                hint="Drop a .mid file onto the piano roll, or press 'Choose MIDI\u2026'.",
            )
        missing = [p for p in self.inputs[: max(need, 0)] if not Path(p).is_file()]
        if missing:
            raise InvalidParamsError(
                f"The MIDI clip {missing[0]} is gone.", hint="Choose or drop the clip again."
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any], seed: int | None = None) -> MusicSettings:
        """Settings from an asset's params (its sidecar) and seed; what is missing or no longer
        valid keeps its default, a style the studio cannot run falls back to the default one."""
        if not isinstance(params, Mapping):
            raise InvalidParamsError("These settings are not a music piece's parameters.")
        params = dict(params)
        if isinstance(seed, int) and not isinstance(seed, bool):
            params["seed"] = seed
        s = super().from_params(params)
        if not style_ok(s.style, s.model):
            s.style, s.model = DEFAULT_STYLE, ""
        if s.key:
            s.key = str(sc.parse_key(s.key))  # the spelling the key controls show
        s.time_signature = "{}/{}".format(*sc.parse_time_signature(s.time_signature))
        if s.top_p is None:  # made with the style's own nucleus: show that value
            s.top_p = style_top_p(s.style)
        s.inputs = list(s.inputs)
        s.soundfont = s.soundfont or "auto"
        return s


def job_title(s: MusicSettings, style_title: str = "") -> str:
    n = s.count
    what = MODE_LABELS.get(s.mode, s.mode)
    if s.mode in CLIPS_NEEDED and s.inputs:
        src = " + ".join(Path(p).name for p in s.inputs[: CLIPS_NEEDED[s.mode]])
        return f"Music {what.lower()}: {src} ({n} piece{'s' if n != 1 else ''}, seed {s.seed})"
    label = style_title or style_label(s.style).lower()
    return (
        f"Music {what.lower()}: {label}, {s.key or 'any key'}, "
        f"{s.bars} bars ({n} piece{'s' if n != 1 else ''}, seed {s.seed})"
    )


# --- descriptions ------------------------------------------------------------------------------


def format_time(seconds: float) -> str:
    """0:07.3 - minutes, seconds, tenths."""
    seconds = max(0.0, float(seconds))
    m, s = divmod(seconds, 60.0)
    return f"{int(m)}:{s:04.1f}"


def describe_score(score: sc.Score) -> str:
    """'8 bars \u2022 4/4 \u2022 110 bpm \u2022 D major \u2022 0:17.5'."""
    num, den = score.time_signature
    bits = [
        f"{score.n_bars} bar{'s' if score.n_bars != 1 else ''}",
        f"{num}/{den}",
        f"{round(score.tempo, 1):g} bpm",  # a file's 98.99990 bpm reads as 99
    ]
    if score.key is not None:
        bits.append(str(score.key))
    bits.append(format_time(score.duration_s))
    return " \u2022 ".join(bits)


def describe_result(params: Mapping[str, Any], extra: Mapping[str, Any]) -> str:
    """One line for a result in the list: 'Continue \u2022 folk \u2022 seed 12'."""
    mode = str(params.get("mode", "generate"))
    bits = [MODE_LABELS.get(mode, mode)]
    if mode != "drums":
        style = str(params.get("style", ""))
        model = params.get("model")
        if model and style in SPARE_STYLES:
            bits.append(str(model))
        else:
            bits.append(style_label(style).split(" (")[0])
    if params.get("seed") is not None:
        bits.append(f"seed {params.get('seed')}")
    return " \u2022 ".join(bits)


def describe_clip(path: str | Path, score: sc.Score) -> str:
    return f"{Path(path).name} \u2014 {describe_score(score)}"


# --- audio -------------------------------------------------------------------------------------


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A PCM WAV file -> (float32 (frames, channels) in [-1, 1], sample rate), through the
    product's one WAV reader (regular files only, a byte cap, whole frames, clear errors)."""
    from genstudio.generators.music.audio_io import read_wav as _read

    return _read(path)


def model_pack_problem() -> str | None:
    """Why the music model cannot run (its pack is missing), or None when it is there."""
    from genstudio.generators.music import sampler

    root = sampler.default_pack_dir()
    if (root / "model.json").is_file():
        return None
    return (
        f"The music model pack is not installed (looked in {root}). Generate, Continue, "
        "Variations, Interpolate and Loop need it; Drums works without it. Train and export "
        f"it with 'genstudio ml train music' and 'genstudio ml export music --out {root}' "
        "(see README, Music)."
    )
