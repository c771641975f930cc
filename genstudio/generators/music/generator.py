"""``music.gpt``: the music mode's generator - Generate, Continue, Variations, Interpolate,
Loop and Drums - MIDI (and rendered audio) into the project.

Every mode is sampling from the same model under constraints (``sampler``):

* **generate** - a header (style, key, time signature, tempo) and the requested bars;
* **continue** - the user's MIDI (or an earlier clip) is the prompt; its key and meter are kept;
  the result is the clip followed by ``bars`` new bars;
* **variations** - the clip's rhythm is kept token for token (positions, tracks, durations,
  velocities) and each pitch is re-sampled by the model with probability ``strength``;
* **interpolate** - clip A, ``bars`` new bars, clip B: several bridges are sampled after A and
  the one under which B's opening is most likely (model log-probability) is kept;
* **loop** - a piece whose last bar leads back into its first: several last bars are sampled
  and the one under which the first bar is most likely to follow is kept;
* **drums** - a rule-guided drum part for the clip (``drums.add_drums``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.base import GenerationResult, Generator, GenParams, Output, RunContext
from genstudio.generators.fields import param, seed_param
from genstudio.generators.music import score as sc

MODES = ("generate", "continue", "variations", "interpolate", "loop", "drums")
MODEL_STYLES = ("chorale", "folk", "melody_accomp")
#: the vocabulary's spare style slots, which fine-tuned packs use for their own style
SPARE_STYLES = ("style4", "style5", "style6", "style7")
INPUTS_NEEDED = {"continue": 1, "variations": 1, "interpolate": 2, "drums": 1}
#: default nucleus (top-p) per style, chosen on the corpus' validation split (never the held-out
#: one): at 0.95 folk tunes wander over a wider range than real ones (pitch range +13%)
STYLE_TOP_P = {"chorale": 0.95, "folk": 0.9, "melody_accomp": 0.95}
SEAM_CANDIDATES = 6
BRIDGE_CANDIDATES = 4


def _key(text: str) -> None:
    if text:
        sc.parse_key(text)  # InvalidParamsError names the problem


def _time_signature(text: str) -> None:
    from genstudio.generators.music import tokens as tk

    if sc.parse_time_signature(text) not in tk.TIME_SIGNATURES:
        raise InvalidParamsError(
            f"Time signature {text} is not one the model knows.",
            hint=", ".join(f"{n}/{d}" for n, d in tk.TIME_SIGNATURES),
        )


@dataclass(frozen=True)
class MusicParams(GenParams):
    mode: str = param(
        "generate", "Mode", choices=MODES, group="Piece",
        help="What to make: generate, continue, variations, interpolate, loop or drums",
    )  # fmt: skip
    #: a built-in style, or (with ``model``) a fine-tuned pack's own style token; the CLI also
    #: takes a pack's style title
    style: str = param(
        "folk", "Style", max_len=200, group="Piece",
        help="What plays: the tracks and their instruments (chorale, folk, melody_accomp; a "
        "fine-tuned model: its own style)",
    )  # fmt: skip
    #: "" = the input's key (continue ...) or none
    key: str = param(
        "D major", "Key", max_len=40, check=_key, group="Piece",
        help='Key of the piece, e.g. "D major", "F# minor"; "" = any (or the clip\'s)',
    )  # fmt: skip
    tempo: float = param(
        110.0, "Tempo", lo=sc.TEMPO_RANGE[0], hi=sc.TEMPO_RANGE[1], unit=" bpm", group="Piece",
        help="Quarter notes per minute",
    )  # fmt: skip
    time_signature: str = param(
        "4/4", "Time signature", max_len=16, check=_time_signature, group="Piece",
        help="The metre, e.g. 4/4, 3/4, 6/8",
    )  # fmt: skip
    bars: int = param(
        8, "Bars", lo=1, hi=128, group="Piece",
        help="Bars to generate (Continue: after the clip; Interpolate: the bridge)",
    )  # fmt: skip
    temperature: float = param(
        1.0, "Temperature", lo=0.0, hi=3.0, group="Sampling",
        help="Lower: safer, more repetitive; higher: more surprising",
    )  # fmt: skip
    top_k: int = param(
        0, "Top-k", lo=1, hi=100_000, special=(0,), special_label="off", group="Sampling",
        help="Keep only the k likeliest tokens (0 = off)",
    )  # fmt: skip
    #: None: the style's default (STYLE_TOP_P)
    top_p: float | None = param(
        None, "Top-p", lo=0.01, hi=1.0, group="Sampling", ui_default=STYLE_TOP_P["folk"],
        help="Nucleus sampling: keep the likeliest tokens up to this share",
    )  # fmt: skip
    seed: int = seed_param(
        help="Piece i of a batch uses seed + i; the same seed and settings give the same music"
    )  # fmt: skip
    count: int = param(
        1, "Count", lo=1, hi=32, unit=" pieces", group="Batch", ui_default=2,
        help="Pieces in one batch",
    )  # fmt: skip
    key_lock: bool = param(
        True, "Key lock", group="Sampling",
        help="Only notes of the key: mask every pitch outside its scale (drums are exempt)",
    )  # fmt: skip
    #: allow generated bars without notes (rests for a whole bar)
    silent_bars: bool = param(
        False, "Silent bars", group="Sampling", ui=False,
        help="Allow generated bars without any note",
    )  # fmt: skip
    strength: float = param(
        0.5, "Strength", lo=0.0, hi=1.0, group="Sampling",
        help="Variations: the share of the clip's pitches drawn again",
    )  # fmt: skip
    #: MIDI paths for the clip modes
    inputs: tuple[str, ...] = param(
        (), "MIDI clips", cli="--input", ui=False, help="A MIDI clip (repeatable)"
    )  # fmt: skip
    audio: bool = param(
        True, "Render audio", cli="--wav", cli_default=False, group="Output",
        help="Also save a .wav of every piece (a SoundFont when one is installed, else the "
        "built-in synth); without it, the studio renders the audio on the fly to play it",
    )  # fmt: skip
    #: "auto", "none" (built-in synth) or a .sf2 path
    soundfont: str = param(
        "auto", "SoundFont", max_len=4096, kind="path", group="Output", ui=False,
        cli_metavar="FILE", help=".sf2/.sf3 to render with (auto: the first one found)",
    )  # fmt: skip
    #: the music model pack: "" = the built-in music-gpt, else a pack id (a fine-tune) or folder
    model: str = param(
        "", "Model", max_len=4096, ui=False,
        help="A fine-tuned music model (pack id or folder; see 'genstudio models list')",
    )  # fmt: skip

    def check(self) -> None:
        if self.mode != "drums" and self.style not in MODEL_STYLES:
            if not (self.model and self.style in SPARE_STYLES):
                raise InvalidParamsError(
                    f"Unknown music style {self.style!r}.",
                    hint=", ".join(MODEL_STYLES)
                    + (
                        " (a fine-tuned model's own style needs that model picked)"
                        if self.style in SPARE_STYLES
                        else ""
                    ),
                )
        need = INPUTS_NEEDED.get(self.mode, 0)
        if len(self.inputs) < need:
            raise InvalidParamsError(
                f"The {self.mode} mode needs {need} MIDI clip{'s' if need > 1 else ''}.",
                hint="Drop a .mid file onto the piano roll, or pass --input FILE.",
            )

    def nucleus(self) -> float:
        """The top-p to sample with: the user's, else the style's default."""
        return float(self.top_p) if self.top_p is not None else STYLE_TOP_P.get(self.style, 0.95)


def _style_of(score: sc.Score, wanted: str) -> str:
    if wanted in MODEL_STYLES or wanted in SPARE_STYLES:
        return wanted
    return "chorale" if len(score.tracks) >= 4 else "folk"


def fit_to_style(score: sc.Score, style: str) -> sc.Score:
    """Map a user's clip onto the style's tracks: drums dropped; tracks beyond the style's
    merged into its last track (a one-track style gets everything)."""
    from genstudio.generators.music import tokens as tk

    n = len(tk.STYLE_TRACKS[style]) if style in tk.STYLE_TRACKS else tk.N_TRACKS
    melodic = [i for i, t in enumerate(score.tracks) if not t.is_drum]
    if not melodic or not any(score.tracks[x.track].is_drum is False for x in score.notes):
        raise InvalidParamsError(
            "This MIDI clip has no melodic notes to work from (drums only or empty).",
            hint="Use a clip with a melody; the Drums mode adds drums to a clip.",
        )
    order = {old: min(new, n - 1) for new, old in enumerate(melodic)}
    notes = [replace(x, track=order[x.track]) for x in score.notes if x.track in order]
    used = max((x.track for x in notes), default=0) + 1
    return replace(score, tracks=tk.style_tracks(style, used), notes=sorted(notes))


#: Longest clip the model modes (continue, variations, interpolate) take: the model reads every
#: bar of it, so the work grows with its length (a 4,090-bar clip took minutes in variations).
MAX_MODEL_CLIP_BARS = sc.BARS_RANGE[1]


def _check_clip_length(clip: sc.Score, mode: str) -> None:
    if clip.n_bars > MAX_MODEL_CLIP_BARS:
        raise InvalidParamsError(
            f"The clip is {clip.n_bars:,} bars long; {mode} works on clips of up to "
            f"{MAX_MODEL_CLIP_BARS} bars.",
            hint="Cut the part you want into a shorter clip in a MIDI editor (Drums takes "
            "longer clips).",
        )


_tracks = threading.local()


def _constraints(**kw: Any):
    """The sampler's constraints, with the track limit of the style being composed."""
    from genstudio.generators.music import sampler

    kw.setdefault("max_tracks", getattr(_tracks, "limit", None))
    return sampler.Constraints(**kw)


def _style_name(p: MusicParams) -> str:
    """For file names: the style, or the fine-tuned model's name for its own style."""
    if p.model and p.style in SPARE_STYLES:
        return Path(p.model).name.removeprefix("music-") or p.style
    return p.style


def sampler_pack_id() -> str:
    from genstudio.generators.music.sampler import PACK_ID

    return PACK_ID


def _style_layout(model: Any, style: str) -> list[dict[str, Any]]:
    """A fine-tuned pack's track names and instruments for its own style."""
    for s in model.pack.raw.get("styles", []) or []:
        if isinstance(s, dict) and s.get("token") == style and isinstance(s.get("tracks"), list):
            return [t for t in s["tracks"] if isinstance(t, dict)]
    return []


def _relabel(score: sc.Score, layout: list[dict[str, Any]]) -> sc.Score:
    if not layout:
        return score
    tracks = []
    for i, t in enumerate(score.tracks):
        if i < len(layout) and not t.is_drum:
            prog = layout[i].get("program", t.program)
            t = replace(
                t,
                name=str(layout[i].get("name") or t.name)[:64],
                program=int(prog) % 128 if isinstance(prog, int) else t.program,
            )
        tracks.append(t)
    return replace(score, tracks=tracks)


def read_clip(path: str, notes: list[str] | None = None) -> sc.Score:
    """The clip at ``path``. A file that is cut off gives the notes before the cut, and a
    sentence saying so goes into ``notes``; one with no notes before the cut is refused."""
    from genstudio.core.errors import MidiFileError
    from genstudio.generators.music import midi

    name = Path(path).name
    # the reader names what is wrong (missing, a folder, a FIFO or device, damaged, too long)
    try:
        got = midi.read_midi_partial(Path(path))
    except midi.MidiCutOffError as e:  # before the first note: nothing to work from
        raise MidiFileError(
            f"{name} cannot be used: {e.message[:1].lower()}{e.message[1:]}", hint=e.hint
        ) from None
    clip = got.score
    if got.cut and not clip.notes:
        raise MidiFileError(
            f"{name} cannot be used: the MIDI file is cut off ({got.cut}) before any note.",
            hint="The file is incomplete (an interrupted download or copy?). Get a complete copy "
            "or export it again from the program that made it.",
        )
    said = None
    if got.cut:
        said = (
            f"{name} is cut off ({got.cut}); only the {len(clip.notes)} notes before the cut "
            "were used - get a complete copy of the file for the rest"
        )
    elif got.unterminated and clip.notes:
        n = len(got.unterminated)
        tracks = ", ".join(str(t) for t in got.unterminated)
        which = f"tracks {tracks} have" if n > 1 else f"track {tracks} has"
        said = (
            f"{name} may be cut off: {which} no end-of-track marker; its "
            f"{len(clip.notes)} notes were used as they are"
        )
    if said and notes is not None and said not in notes:
        notes.append(said)
    return clip


class MusicGenerator(Generator):
    name = "music.gpt"
    kind = "music"
    Params = MusicParams

    def __init__(self, pack_dir: Path | None = None) -> None:
        self.pack_dir = pack_dir

    # --- one piece ----------------------------------------------------------------------------
    def compose(self, p: MusicParams, seed: int, cancel=None, on_bar=None) -> tuple[sc.Score, dict]:
        """The Score of one result and what to record about it."""
        from genstudio.generators.music import drums, sampler
        from genstudio.generators.music import tokens as tk

        ts = sc.parse_time_signature(p.time_signature)
        said: list[str] = []  # sentences for the user (extra["notes"])
        info: dict[str, Any] = {"mode": p.mode, "model": None, "notes": said}
        if p.mode == "drums":
            clip = read_clip(p.inputs[0], said)
            # a clip without notes has no length of its own: the groove is ``bars`` long
            out = drums.add_drums(clip, seed=seed, bars=None if clip.notes else p.bars)
            return replace(out, tempo=clip.tempo), info
        pack_dir = self.pack_for(p)
        model = sampler.load_model(pack_dir)
        layout = _style_layout(model, p.style)
        info["model"] = model.pack.id
        # a fine-tuned style writes for as many tracks as its material had
        _tracks.limit = len(layout) or None
        settings = sampler.SampleSettings(p.temperature, p.top_k, p.nucleus(), seed)
        if p.mode == "generate" or p.mode == "loop":
            key = sc.parse_key(p.key) if p.key else None
            prompt = sampler.header_tokens(p.style, str(key) if key else None, ts, p.tempo)
            cons = _constraints(bars=p.bars, key_lock=p.key_lock, silent_bars=p.silent_bars)
            seq = sampler.generate_tokens(
                model,
                prompt,
                sampler.Grammar(prompt, cons),
                settings,
                cancel=cancel,
                on_bar=on_bar,
            )
            if p.mode == "loop":
                seq, info["seam"] = self._close_loop(model, seq, p, seed, cancel)
            return _relabel(self._score(seq, p.tempo, key, ts), layout), info
        clip = read_clip(p.inputs[0], said)
        _check_clip_length(clip, p.mode)
        style = _style_of(clip, p.style)
        clip = fit_to_style(clip, style)
        key = clip.key or _estimate_key(clip)
        if p.key and p.mode != "continue":
            key = sc.parse_key(p.key)
        info.update(input_key=str(key) if key else None, input_bars=clip.n_bars)
        if clip.time_signature not in tk.TIME_SIGNATURES:
            raise InvalidParamsError(
                f"The clip is in {clip.time_signature[0]}/{clip.time_signature[1]}, "
                "a time signature the model does not know.",
                hint=", ".join(f"{n}/{d}" for n, d in tk.TIME_SIGNATURES),
            )
        clip = replace(clip, key=key)
        seq = tk.encode(clip, style)[:-1]  # without EOS
        if p.mode in ("continue", "interpolate"):  # new bars after the clip, which stays intact
            seq.append(tk.VOCAB.id("BAR"))
        cons = _constraints(bars=p.bars - 1, key_lock=p.key_lock, silent_bars=p.silent_bars)
        if p.mode == "continue":
            seq = sampler.generate_tokens(
                model, seq, sampler.Grammar(seq, cons), settings, cancel=cancel, on_bar=on_bar
            )
        elif p.mode == "variations":
            seq, dropped = self._vary(model, seq, p, seed, cancel)
            if dropped:
                said.append(
                    f"{dropped} of the clip's notes did not fit the parts of the {style} style "
                    "(more notes at once than a part's range holds, or a part the style does "
                    "not have) and were left out; to keep every note, pick the style that "
                    "matches the clip (chorale: four voices; melody_accomp: a tune and its "
                    "accompaniment)"
                )
        elif p.mode == "interpolate":
            second = read_clip(p.inputs[1], said)
            _check_clip_length(second, p.mode)
            other = fit_to_style(second, style)
            seq, info["bridge_logprob"] = self._bridge(model, seq, other, style, p, seed, cancel)
        return _relabel(self._score(seq, clip.tempo, key, clip.time_signature), layout), info

    def pack_for(self, p: MusicParams) -> Path | None:
        """The pack folder of ``p.model`` (None: the built-in one, or this generator's own)."""
        if not p.model or p.model == sampler_pack_id():
            return self.pack_dir
        from genstudio.runtime import registry

        return registry.resolve(p.model, kind="music")

    @staticmethod
    def _score(seq: list[int], tempo: float, key, ts) -> sc.Score:
        from genstudio.generators.music import tokens as tk

        out = tk.decode(seq, tempo=tempo)
        out = replace(out, tempo=float(tempo), key=key, time_signature=tuple(ts))
        end = out.length_ticks  # notes stop at the final bar line: the file has exactly N bars
        notes = [
            replace(n, duration=min(n.duration, end - n.start)) for n in out.notes if n.start < end
        ]
        return replace(out, notes=notes)

    def _close_loop(self, model, seq, p: MusicParams, seed: int, cancel) -> tuple[list, dict]:
        """Re-sample the last bar ``SEAM_CANDIDATES`` times; keep the one after which the first
        bar is most likely (log p(first bar | ..., last bar))."""
        from genstudio.generators.music import sampler
        from genstudio.generators.music import tokens as tk

        bar = tk.VOCAB.id("BAR")
        bars = [i for i, t in enumerate(seq) if t == bar]
        first_bar = seq[bars[0] : bars[1]] if len(bars) > 1 else seq[bars[0] : -1]
        head = seq[: bars[-1]]  # everything before the last bar
        cons = _constraints(bars=1, key_lock=p.key_lock, silent_bars=p.silent_bars)
        best, best_lp, lps = seq, -np.inf, []
        for c in range(SEAM_CANDIDATES):
            s = sampler.SampleSettings(p.temperature, p.top_k, p.nucleus(), seed * 1000 + c + 1)
            cand = sampler.generate_tokens(
                model, head, sampler.Grammar(head, cons), s, cancel=cancel
            )
            lp = sampler.sequence_logprob(model, cand[:-1] + first_bar, len(cand) - 1)
            lps.append(lp)
            if lp > best_lp:
                best, best_lp = cand, lp
        return best, {"candidates": SEAM_CANDIDATES, "logprob_first_bar": lps, "chosen": best_lp}

    def _vary(self, model, seq, p: MusicParams, seed: int, cancel) -> tuple[list[int], int]:
        """Teacher-force the clip's tokens; re-sample each PITCH with probability strength.

        Only pitches change: the clip's positions, tracks, velocities and durations are kept
        token for token. A chord on one track is written top note first, each note below the
        last, so a pitch is never drawn so low that the notes still to come under it on that
        track have no allowed pitch left (they would break the rhythm that is being kept); a
        note that cannot be placed at all (more chord notes than its part's range holds, or a
        part the style does not have) is left out. Returns the tokens and how many notes were
        left out."""
        from genstudio.generators.music import sampler
        from genstudio.generators.music import tokens as tk

        v = tk.VOCAB
        rng = np.random.Generator(np.random.PCG64(seed))
        header, body = seq[:5], seq[5:]
        n_bars = body.count(v.id("BAR"))
        # the clip's own silent bars stay silent
        cons = _constraints(bars=n_bars, key_lock=p.key_lock, silent_bars=True)
        grammar = sampler.Grammar(header, cons)
        body, under, dropped = _playable_body(body, grammar)
        if not any(v.kind(t) == "TRK" for t in body) and dropped:
            raise InvalidParamsError(
                f"None of the clip's notes fit the parts of the {p.style} style, so there is "
                "nothing to vary.",
                hint="Pick the style that matches the clip (chorale: four voices; "
                "melody_accomp: a tune and its accompaniment), or use Continue.",
            )

        def draw(mask: np.ndarray) -> int:
            return sampler.sample_logits(
                logits[0], mask, rng, temperature=p.temperature, top_k=p.top_k, top_p=p.nucleus()
            )

        out = list(header)
        logits, past = model.run(np.array([header]), model.empty())
        i = 0
        while i < len(body):
            if cancel is not None and cancel():
                from genstudio.core.errors import Cancelled

                raise Cancelled("Generation cancelled.")
            tok = body[i]
            kind = v.kind(tok)
            mask = grammar.mask()
            if kind == "TRK" and not mask[tok]:  # no pitch left under the chord's last note
                dropped += 1
                i += 4  # the note's TRK PITCH VEL DUR
                continue
            if kind == "PITCH":
                if rng.random() < p.strength or not mask[tok]:
                    tok = draw(mask)
                need = under.get(i, 0)  # the chord's notes still to come on this track
                if need:  # leave them room below (as much as the part's range has)
                    room = mask & grammar.room_below(need)
                    while not room.any():
                        need -= 1
                        room = mask & grammar.room_below(need)
                    if not room[tok]:
                        tok = draw(room)
            elif not mask[tok]:  # the rhythm's own tokens always fit: a bug if not
                raise InvalidParamsError(
                    "This clip could not be varied: its notes do not fit the "
                    f"{p.style} style's parts.",
                    hint="Pick the style that matches the clip (chorale: four voices; "
                    "melody_accomp: a tune and its accompaniment), or use Continue.",
                )
            out.append(tok)
            grammar.advance(tok)
            i += 1
            if model.cache_len(past) + 1 >= model.max_len:
                logits, past = sampler._prefill(model, header, out)
            else:
                logits, past = model.run(np.array([[tok]]), past)
        if not grammar.done:
            out.append(v.id("EOS"))
        return out, dropped

    def _bridge(self, model, seq, other, style, p: MusicParams, seed, cancel):
        from genstudio.generators.music import sampler
        from genstudio.generators.music import tokens as tk

        v = tk.VOCAB
        b_tokens = tk.encode(replace(other, time_signature=tuple(other.time_signature)), style)
        b_body = b_tokens[5:-1]
        bar = v.id("BAR")
        b_bars = [i for i, t in enumerate(b_body) if t == bar]
        b_open = b_body[: b_bars[2]] if len(b_bars) > 2 else b_body
        cons = _constraints(  # seq ends with a BAR
            bars=p.bars - 1, key_lock=False, silent_bars=p.silent_bars
        )
        best, best_lp = None, -np.inf
        for c in range(BRIDGE_CANDIDATES):
            s = sampler.SampleSettings(p.temperature, p.top_k, p.nucleus(), seed * 1000 + c + 1)
            cand = sampler.generate_tokens(model, seq, sampler.Grammar(seq, cons), s, cancel=cancel)
            lp = sampler.sequence_logprob(model, cand[:-1] + b_open, len(cand) - 1)
            if lp > best_lp:
                best, best_lp = cand, lp
        assert best is not None
        return best[:-1] + b_body + [v.id("EOS")], best_lp

    # --- the generator interface ---------------------------------------------------------------
    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        from genstudio.generators.music import midi

        p = params if isinstance(params, MusicParams) else MusicParams.from_dict(params.to_dict())
        result = GenerationResult()
        for i in range(p.count):
            ctx.check_cancel()
            seed = p.seed + i
            base = i / p.count

            def on_bar(done: int, base: float = base) -> None:
                ctx.progress(base + min(1.0, done / max(1, p.bars)) / p.count, f"bar {done}")

            score, info = self.compose(p, seed, cancel=lambda: ctx.cancelled, on_bar=on_bar)
            meta = describe_score(score)
            said = info.pop("notes", None)
            meta.update(info)
            if said:  # sentences for the user (the CLI and the studio show them)
                meta["notes"] = list(said)
            mid_id = ctx.emit(
                Output(
                    kind="music",
                    data=midi.midi_bytes(score),
                    ext="mid",
                    params={**p.to_dict(), "seed": seed, "count": 1},
                    seed=seed,
                    model_id=info.pop("model", None),
                    extra=meta,
                    name_hint=f"{p.mode}-{_style_name(p)}-{seed}",
                )
            )
            result.asset_ids.append(mid_id)
            if p.audio:
                wav, how = render_wav(score, p.soundfont)
                aid = ctx.emit(
                    Output(
                        kind="audio",
                        data=wav,
                        ext="wav",
                        params={**p.to_dict(), "seed": seed, "count": 1},
                        seed=seed,
                        parent=mid_id or None,
                        extra={"rendered_from": mid_id, "renderer": how},
                        name_hint=f"{p.mode}-{_style_name(p)}-{seed}",
                    )
                )
                result.asset_ids.append(aid)
            ctx.progress((i + 1) / p.count, f"piece {i + 1} of {p.count}")
        return result


def _playable_body(body: list[int], grammar: Any) -> tuple[list[int], dict[int, int], int]:
    """The clip's bar tokens without the notes on parts the grammar cannot play (a part the
    style or model does not have, or whose range and key leave no pitch), and without the
    positions left empty by that. Also, for each kept PITCH (by index), how many notes of the
    same chord (position and track) come after it, and how many notes were dropped."""
    from genstudio.generators.music import tokens as tk

    v = tk.VOCAB
    out: list[int] = []
    under: dict[int, int] = {}
    chord: list[int] = []  # indices in ``out`` of the PITCH tokens of the chord being read
    chord_track: int | None = None
    pending_pos: int | None = None  # a POS token, written with its first kept note
    dropped = 0

    def close() -> None:
        for j, index in enumerate(chord):
            under[index] = len(chord) - 1 - j
        chord.clear()

    i = 0
    while i < len(body):
        tok = body[i]
        kind = v.kind(tok)
        if kind == "TRK":
            note, track = body[i : i + 4], v.value(tok)
            i += 4
            if not grammar.can_play(track):
                dropped += 1
                continue
            if pending_pos is not None:
                out.append(pending_pos)
                pending_pos = None
            if track != chord_track:
                close()
                chord_track = track
            chord.append(len(out) + 1)
            out += note
            continue
        close()
        chord_track = None
        if kind == "POS":
            pending_pos = tok
        else:
            pending_pos = None
            out.append(tok)
        i += 1
    close()
    return out, under, dropped


def _estimate_key(score: sc.Score):
    from genstudio.generators.music import metrics

    return metrics.estimate_key(score)


def describe_score(score: sc.Score) -> dict[str, Any]:
    return {
        "bars": score.n_bars,
        "tempo": score.tempo,
        "time_signature": f"{score.time_signature[0]}/{score.time_signature[1]}",
        "key": str(score.key) if score.key else None,
        "tracks": [{"name": t.name, "program": t.program, "drum": t.is_drum} for t in score.tracks],
        "note_count": len(score.notes),
        "duration_s": round(score.duration_s, 3),
    }


def render_wav(score: sc.Score, soundfont: str = "auto") -> tuple[bytes, str]:
    """WAV bytes of the score and how it was rendered (a SoundFont, or the built-in synth and
    why)."""
    from genstudio.generators.music.audio_io import wav_bytes
    from genstudio.generators.music.soundfont import render_audio

    r = render_audio(score, soundfont=soundfont or "auto", normalize=True)
    how = f"SoundFont {r.soundfont.name}" if r.engine == "soundfont" and r.soundfont else "synth"
    if r.message:
        how += f" ({r.message})"
    return wav_bytes(r.audio, r.sample_rate), how
