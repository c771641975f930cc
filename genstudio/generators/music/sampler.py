"""Sampling MusicGPT through ONNX Runtime with a KV cache, under musical constraints (numpy).

Every step the logits of the next token are masked by a small grammar automaton
(:class:`Grammar`) before sampling, so what comes out always decodes: header, then bars of
``POS (TRK PITCH VEL DUR)+`` events with increasing positions inside the bar, exactly the
requested number of bars, then EOS. The same mask carries the user's constraints:

* **key lock**: PITCH tokens whose pitch class is outside the key's scale are masked (drum
  tracks are exempt);
* **range per voice**: each track's pitch range (e.g. the four chorale voices);
* **time signature**: positions stop at the bar's length (``tokens.bar_positions``);
* **exact bar count**: EOS is masked until the last bar is done, BAR after it;
* **no silent bars** (unless ``Constraints.silent_bars``): a new bar must hold a note - no bar
  of the corpus' chorales, folk tunes or accompanied melodies is empty, so an empty generated
  bar is a sampling accident, not a style (the eval reports the raw model's rate too).

Sampling: temperature, top-k, top-p (nucleus), a seeded PCG64 generator. The cache is the
model's ``present_*`` outputs fed back as ``past_*``; past ``max_len`` the window slides: the
header plus the most recent whole bars are run through the model again (as in training).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import Cancelled, InvalidParamsError, ModelPackError
from genstudio.core.paths import shipped_models_dir

PACK_ID = "music-gpt"
STEP_THREADS = 1
NEG = np.float32(-1e9)

#: pitch range per (style, track) - the usual SATB ranges, a fiddle, a flute and a piano
RANGES: dict[str, list[tuple[int, int]]] = {
    "chorale": [(60, 81), (53, 74), (48, 69), (36, 62)],
    "folk": [(55, 93)],
    "melody_accomp": [(60, 96), (28, 76)],
    "drums": [(35, 81)],
}


def default_pack_dir() -> Path:
    return shipped_models_dir() / PACK_ID


class MusicModel:
    """The ONNX session of a music pack, with the names of its cache inputs/outputs."""

    def __init__(self, pack_dir: Path | None = None) -> None:
        from genstudio.generators.music import tokens as tk
        from genstudio.runtime.packs import load_pack
        from genstudio.runtime.sessions import shared_cache

        root = Path(pack_dir) if pack_dir else default_pack_dir()
        if not (root / "model.json").exists():
            raise ModelPackError(
                f"The music model pack is missing at {root}.",
                hint="Train and export it (README, Music): genstudio ml train music ..., "
                "then genstudio ml export music --out resources/models/music-gpt",
            )
        self.pack = load_pack(root)
        raw = self.pack.raw
        if raw.get("vocab") != tk.VOCAB.names:
            raise ModelPackError(
                f"The music model at {root} was trained with another token vocabulary.",
                hint="Export it again from its run, or retrain it with this version.",
            )
        # one intra-op thread: at batch 1 a token step is ~70 tiny kernels, and a second thread
        # only adds hand-off latency and run-to-run jitter (measured: 0.90 s for 32 bars of
        # chorale, steady, vs 0.86-1.02 s with two)
        self.session = shared_cache().get(self.pack, "music.onnx", threads=STEP_THREADS)
        self.n_layer, self.n_head = int(raw["n_layer"]), int(raw["n_head"])
        self.head_dim, self.max_len = int(raw["head_dim"]), int(raw["max_len"])
        self.kv_layout = str(raw.get("kv_layout", "key_transposed"))
        self.past_names = [i.name for i in self.session.get_inputs()][1:]
        self.out_names = [o.name for o in self.session.get_outputs()]
        self._n_out = len(self.out_names)
        from genstudio.runtime.sessions import ort_module

        ort = ort_module()
        self._ortvalue = ort.OrtValue
        self._c: Any = None
        self._cpu: Any = None
        try:  # ONNX Runtime's pybind layer (see run); any surprise -> the public API
            from onnxruntime.capi import _pybind_state as c_api

            self._cpu = ort.OrtDevice.make("cpu", 0)._get_c_device()
            self._c = c_api
            self._run_c(np.zeros((1, 1), np.int64), self.empty())
        except Exception:  # noqa: BLE001 - any API drift: fall back, correctness first
            self._c = self._cpu = None

    def empty(self, batch: int = 1) -> list[np.ndarray]:
        """An empty cache: values (B, H, 0, Dh); keys the same ("bhpd" packs, one fused
        attention node per layer) or transposed, (B, H, Dh, 0) (packs exported by torch)."""
        h, dh = self.n_head, self.head_dim
        key = (batch, h, 0, dh) if self.kv_layout == "bhpd" else (batch, h, dh, 0)
        out = []
        for _ in range(self.n_layer):
            out.append(np.zeros(key, np.float32))
            out.append(np.zeros((batch, h, 0, dh), np.float32))
        return out

    def run(self, tokens: np.ndarray, past: list) -> tuple[np.ndarray, list]:
        """One call: ``past`` is numpy arrays (``empty()``) or what the last call returned.

        With IO binding the cache stays in ONNX Runtime's memory between steps (the outputs
        come back as OrtValues and go straight in as the next inputs); only the logits are
        copied out. That saves copying every layer's keys and values twice per token. The
        binding is driven through ONNX Runtime's pybind layer directly when it is there (the
        Python wrapper costs ~0.1 ms a token in argument checks); otherwise the public API."""
        if self._c is not None:
            return self._run_c(tokens, past)
        io = self.session.io_binding()
        io.bind_cpu_input("tokens", np.ascontiguousarray(tokens, dtype=np.int64))
        for name, value in zip(self.past_names, past):
            if isinstance(value, self._ortvalue):
                io.bind_ortvalue_input(name, value)
            else:
                io.bind_cpu_input(name, np.ascontiguousarray(value, dtype=np.float32))
        for name in self.out_names:
            io.bind_output(name, "cpu")
        self.session.run_with_iobinding(io)
        logits, *present = io.get_outputs()
        return logits.numpy(), present

    def _run_c(self, tokens: np.ndarray, past: list) -> tuple[np.ndarray, list]:
        c, dev = self._c, self._cpu
        io = c.SessionIOBinding(self.session._sess)
        keep = [np.ascontiguousarray(tokens, dtype=np.int64)]  # alive until the run is over
        io.bind_ortvalue_input("tokens", c.OrtValue.ortvalue_from_numpy(keep[0], dev))
        for name, value in zip(self.past_names, past):
            if not isinstance(value, c.OrtValue):
                keep.append(np.ascontiguousarray(value, dtype=np.float32))
                value = c.OrtValue.ortvalue_from_numpy(keep[-1], dev)
            io.bind_ortvalue_input(name, value)
        for name in self.out_names:
            io.bind_output(name, dev)
        self.session._sess.run_with_iobinding(io, None)
        outs = io.get_outputs()  # indexed, not iterated: iteration ends in a slow IndexError
        return outs[0].numpy(), [outs[i] for i in range(1, self._n_out)]

    @staticmethod
    def cache_len(past: list) -> int:
        v = past[1]
        return int((v.shape() if callable(v.shape) else v.shape)[2])


_models: dict[str, MusicModel] = {}
_lock = threading.Lock()


def load_model(pack_dir: Path | None = None) -> MusicModel:
    """The pack's model, loaded once (again when its model.json changed: a retrained pack)."""
    from genstudio.runtime.sessions import shared_cache

    root = (Path(pack_dir) if pack_dir else default_pack_dir()).resolve()
    try:
        st = (root / "model.json").stat()
        key = f"{root}#{st.st_mtime_ns}#{st.st_size}"
    except OSError:
        key = str(root)
    with _lock:
        if key not in _models:
            for old in [k for k in _models if k.split("#", 1)[0] == str(root)]:
                del _models[old]
            _models[key] = MusicModel(root)
            shared_cache().on_unload(_forget)
        return _models[key]


def _forget(pack_id: str | None) -> None:
    with _lock:
        for k in [k for k, m in _models.items() if pack_id is None or m.pack.id == pack_id]:
            del _models[k]


@dataclass
class Constraints:
    bars: int  # bars to add after the prompt
    key_lock: bool = True
    ranges: list[tuple[int, int]] | None = None  # per track; None = the style's
    max_tracks: int | None = None
    silent_bars: bool = False  # allow a generated bar without notes


class Grammar:
    """The codec's grammar (``tokens.GrammarState``: kinds, rising positions, track order) plus
    the user's constraints: bar count, key lock, pitch range per track, number of tracks."""

    def __init__(self, prompt: list[int], cons: Constraints) -> None:
        from genstudio.generators.music import tokens as tk

        v = self.v = tk.VOCAB
        self.state = tk.GrammarState()
        for t in prompt:
            self.state.feed(t)
        if self.state.prev in (None, "EOS") or self.state.style is None:
            raise InvalidParamsError("A music prompt must start with a header and not be ended.")
        style = self.state.style
        self.bars_target = self.state.bars + cons.bars
        self.silent_bars = cons.silent_bars
        self._masks: dict[tuple, np.ndarray] = {}
        # a spare (fine-tuned) style has the codec's generic tracks
        tracks = tk.style_tracks(style, 0 if style in tk.STYLE_TRACKS else tk.N_TRACKS)
        n_tracks = min(len(tracks), cons.max_tracks or len(tracks))
        self.n_tracks = n_tracks
        ranges = cons.ranges or RANGES.get(style) or [(21, 108)] * n_tracks
        key = v.value(prompt[2]) if len(prompt) > 2 and v.kind(prompt[2]) == "KEY" else None
        scale = None
        if cons.key_lock and key:
            from genstudio.generators.music.score import parse_key

            scale = parse_key(key).scale()
        pitch_ids = v.ids("PITCH")
        self.pitch_ids = pitch_ids
        pitches = np.array([v.value(int(i)) for i in pitch_ids])
        self.pitches = pitches
        self.pitch_ok: list[np.ndarray] = []  # per track: allowed over PITCH ids (value order)
        for t in range(n_tracks):
            lo, hi = ranges[min(t, len(ranges) - 1)]
            ok = (pitches >= lo) & (pitches <= hi)
            if scale is not None and not tracks[t].is_drum:
                ok &= np.isin(pitches % 12, sorted(scale))
            self.pitch_ok.append(ok)
        self.trk_ids = v.ids("TRK")
        self.bar, self.eos = v.id("BAR"), v.id("EOS")

    @property
    def bars_done(self) -> int:
        return self.state.bars

    @property
    def last_kind(self) -> str | None:
        return self.state.prev

    @property
    def done(self) -> bool:
        return self.state.prev == "EOS"

    def mask(self) -> np.ndarray:
        """Boolean (V,) of the tokens allowed next (read-only: masks are cached by state)."""
        st = self.state
        key = (st.prev, st.pos, st.trk, st.pitch, st.bars < self.bars_target)
        m = self._masks.get(key)
        if m is None:
            m = self._masks[key] = self._mask()
            m.flags.writeable = False
        return m

    def _mask(self) -> np.ndarray:
        st = self.state
        m = st.allowed()
        if self.done:
            return m
        if st.bars < self.bars_target:
            m[self.eos] = False
        else:
            m[self.bar] = False
            if st.prev != "DUR":  # the last bar ends after a note, never empty
                m[self.eos] = False
        if st.prev == "BAR" and not self.silent_bars:  # a bar holds at least one note
            m[self.bar] = m[self.eos] = False
        if st.prev == "POS" or (st.prev == "DUR" and m[self.trk_ids].any()):
            for t in range(len(self.trk_ids)):
                if not m[self.trk_ids[t]]:
                    continue
                ok = bool(t < self.n_tracks and self.pitch_ok[t].any())
                if ok and t == st.trk:  # another note of the same chord: lower pitches only
                    ok = bool((self.pitch_ok[t] & (self.pitches < st.pitch)).any())
                m[self.trk_ids[t]] = ok
        elif st.prev == "TRK":
            m[self.pitch_ids] &= self.pitch_ok[st.trk]
        if not m.any():  # never leave the sampler without a choice
            m[self.eos] = True
        return m

    def can_play(self, track: int) -> bool:
        """Whether a note may be written on ``track`` at all (the part exists, and its range
        and the key leave it a pitch)."""
        return 0 <= track < self.n_tracks and bool(self.pitch_ok[track].any())

    def room_below(self, notes: int) -> np.ndarray:
        """Boolean (V,): the pitches of the current track that have at least ``notes`` of its
        allowed pitches under them - room for the rest of a chord (written top note first)."""
        ok = self.pitch_ok[self.state.trk]
        under = np.cumsum(ok) - ok  # allowed pitches strictly below each (value order)
        m = np.zeros(self.v.size, dtype=bool)
        m[self.pitch_ids] = under >= notes
        return m

    def advance(self, token: int, *, checked: bool = False) -> None:
        """``checked``: the token was drawn from :meth:`mask`, so it is known to be allowed."""
        self.state.feed(int(token), check=not checked)


def sample_logits(
    logits: np.ndarray,
    allowed: np.ndarray,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> int:
    """One token from (V,) logits restricted to ``allowed``; temperature 0 = argmax.

    Works on the allowed ids only (often a handful: the grammar leaves 8 velocities, 23
    durations ...), and draws with one uniform number, so a step costs microseconds."""
    ids = allowed.nonzero()[0]  # array methods, not np.* wrappers: this runs every token
    if len(ids) == 1:
        return int(ids[0])
    z = logits[ids].astype(np.float64)
    if temperature <= 0:
        return int(ids[z.argmax()])
    if top_k and top_k < len(ids):
        keep = (-z).argpartition(top_k - 1)[:top_k]
        ids, z = ids[keep], z[keep]
    p = np.exp((z - z.max()) * (1.0 / temperature))  # unnormalised: the cdf carries the sum
    if top_p < 1.0:
        order = (-p).argsort(kind="stable")
        cdf = p[order].cumsum()
        cut = int(cdf.searchsorted(top_p * cdf[-1])) + 1
        ids, cdf = ids[order[:cut]], cdf[:cut]
    else:
        cdf = p.cumsum()
    return int(ids[min(len(ids) - 1, int(cdf.searchsorted(rng.random() * cdf[-1])))])


@dataclass
class SampleSettings:
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.95
    seed: int = 0


def header_tokens(style: str, key: str | None, ts: tuple[int, int], tempo: float) -> list[int]:
    from genstudio.generators.music import tokens as tk

    v = tk.VOCAB
    if style not in tk.STYLES:  # the spare slots are fine-tuned packs' own styles
        raise InvalidParamsError(
            f"Unknown music style {style!r}.", hint=f"Styles: {', '.join(tk.STYLE_TRACKS)}"
        )
    return [
        v.id("BOS"),
        v.id("STYLE", style),
        v.id("KEY", key or "none"),
        v.id("TS", tuple(ts)),
        v.id("TEMPO", tk.tempo_bin(tempo)),
    ]


def generate_tokens(
    model: MusicModel,
    prompt: list[int],
    grammar: Grammar,
    settings: SampleSettings,
    *,
    max_tokens: int = 20000,
    cancel=None,
    on_bar=None,
) -> list[int]:
    """Extend ``prompt`` (starting with the 5 header tokens) until the grammar ends it."""
    rng = np.random.Generator(np.random.PCG64(settings.seed))
    seq = list(prompt)
    header = seq[:5]
    logits, past = _prefill(model, header, seq)
    cached = model.cache_len(past)  # positions in the cache, counted here (no shape query)
    temp, top_k, top_p = settings.temperature, settings.top_k, settings.top_p
    for _ in range(max_tokens):
        if cancel is not None and cancel():
            raise Cancelled("Generation cancelled.")
        tok = sample_logits(
            logits[0], grammar.mask(), rng, temperature=temp, top_k=top_k, top_p=top_p
        )
        seq.append(tok)
        grammar.advance(tok, checked=True)
        if grammar.done:
            return seq
        if on_bar is not None and grammar.last_kind == "BAR":
            on_bar(grammar.bars_done)
        if cached + 1 >= model.max_len:
            logits, past = _prefill(model, header, seq)
            cached = model.cache_len(past)
        else:
            logits, past = model.run(np.array([[tok]]), past)
            cached += 1
    raise RuntimeError("music sampling did not finish within the token budget")


def _prefill(model: MusicModel, header: list[int], seq: list[int]):
    """Run the window the model sees: header + the latest whole bars that fit in half the
    context (so the next re-prefill is many steps away)."""
    from genstudio.generators.music import tokens as tk

    body = seq[len(header) :]
    budget = model.max_len // 2 if len(seq) >= model.max_len else model.max_len - 1
    if len(header) + len(body) > budget:
        bar = tk.VOCAB.id("BAR")
        starts = [i for i, t in enumerate(body) if t == bar and len(body) - i <= budget - 5]
        body = body[starts[0] :] if starts else body[-(budget - len(header)) :]
    window = np.array([header + body], dtype=np.int64)
    return model.run(window, model.empty(1))


def sequence_logprob(model: MusicModel, seq: list[int], start: int) -> float:
    """log p(seq[start:] | seq[:start]) under the model (for loop seams and interpolation)."""
    header = seq[:5]
    total = 0.0
    logits, past = _prefill(model, header, seq[:start])
    for tok in seq[start:]:
        z = logits[0].astype(np.float64)
        total += float(z[tok] - z.max() - np.log(np.exp(z - z.max()).sum()))
        if model.cache_len(past) + 1 >= model.max_len:
            break
        logits, past = model.run(np.array([[tok]]), past)
    return total
