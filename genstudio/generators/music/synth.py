"""Built-in fallback synthesizer: renders a :class:`Score` to stereo audio with numpy only.

No SoundFont, no native library: this is what the studio plays when no SoundFont is installed
(see :mod:`genstudio.generators.music.soundfont` for the SoundFont renderer and the fallback
logic). The sound is deliberately simple but pleasant:

* Pitched tracks get one of a small set of instruments chosen by General MIDI program family
  (:func:`instrument_for_program`): piano-like and plucked tones that decay and mellow over time,
  mallets, sustained organ / strings / choir / brass / reeds / flute (additive tones with delayed
  vibrato and, for strings and choir, a detuned second voice), synth leads and pads, and a bass.
  Each has an ADSR envelope with a short release so no note ends in a click.
* Drum tracks (``Track.is_drum``) play General MIDI drum notes: kick = pitched sine sweep, snare
  = tone + filtered noise, hi-hats / cymbals = high-passed noise, toms = pitched sweeps,
  and a few small percussion sounds; unknown drum notes play a short noise tick.
* Velocity sets loudness (``(velocity / 127) ** 1.8``), each track gets a gentle stereo position
  (bass and drums in the centre), the mix is scaled for the score's polyphony and a look-ahead
  peak limiter keeps any polyphony inside [-1, 1] without distorting the common case.

Output length: ``score.length_ticks`` converted to samples **plus a tail of**
:data:`TAIL_SECONDS` so the release of the last notes (at most :data:`MAX_RELEASE_S`) and the
drum decays ring out; the last few milliseconds are faded so a sound cut by the end never
clicks. Rendering is vectorised per note (wavetables, cached envelopes, cached drum hits):
32 bars of a four-voice chorale at 100 bpm take well under half a second on two cores.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.music.score import Score

DEFAULT_SAMPLE_RATE = 44100
SAMPLE_RATE_RANGE = (8000, 192000)
TAIL_SECONDS = 1.0  # silence-ish after the last bar: releases and drum decays ring out here
MAX_RELEASE_S = 0.35  # no pitched release is longer than this (always < TAIL_SECONDS)
LIMIT_CEILING = 0.98  # peak level the limiter allows (about -0.2 dBFS)
_TABLE_SIZE = 4096  # power of two: phase -> index with a bit mask
_END_FADE_S = 0.01
_BASE_GAIN = 0.32  # one voice at velocity 127 peaks near this before panning
_DRUM_GAIN = 0.55


# --------------------------------------------------------------------------- instruments


@dataclass(frozen=True)
class Instrument:
    """A wavetable voice. ``harmonics`` are amplitudes of partials 1, 2, 3, ...;
    ``mellow`` (optional) is the timbre a decaying note fades to (brightness decay)."""

    name: str
    harmonics: tuple[float, ...]
    mellow: tuple[float, ...] | None = None
    attack_s: float = 0.01
    decay_s: float = 0.2  # time constant of the decay towards ``sustain``
    sustain: float = 1.0  # 0 = percussive: the note dies away (``decay_s`` scaled by pitch)
    release_s: float = 0.1
    bright_s: float = 0.15  # time constant of the bright -> mellow fade (if ``mellow``)
    pitch_decay: float = 0.0  # decay_s *= (440 / f) ** pitch_decay (higher notes die faster)
    vibrato_hz: float = 0.0
    vibrato_depth: float = 0.0  # relative frequency deviation (0.004 = about 7 cents)
    vibrato_delay_s: float = 0.25
    detune: float = 0.0  # > 0: two voices at f * (1 -/+ detune / 2) (chorus)
    breath: float = 0.0  # amount of soft noise (flute)
    level: float = 1.0


def _saw(n: int, rolloff: float = 1.0) -> tuple[float, ...]:
    return tuple(1.0 / h**rolloff for h in range(1, n + 1))


PIANO = Instrument(
    "piano",
    harmonics=tuple(
        (1.0 / h**1.1) * (0.35 if h % 7 == 0 else 1.0) for h in range(1, 17)
    ),  # hammer near 1/7 of the string
    mellow=(1.0, 0.35, 0.12, 0.05, 0.02),
    attack_s=0.003,
    decay_s=1.6,
    sustain=0.0,
    release_s=0.15,
    bright_s=0.3,
    pitch_decay=0.5,
    level=1.0,
)
PLUCK = Instrument(
    "pluck",
    harmonics=tuple(abs(math.sin(math.pi * h * 0.2)) / h for h in range(1, 17)),
    mellow=(1.0, 0.3, 0.08, 0.03),
    attack_s=0.002,
    decay_s=0.9,
    sustain=0.0,
    release_s=0.08,
    bright_s=0.12,
    pitch_decay=0.5,
    level=1.0,
)
MALLET = Instrument(
    "mallet",
    harmonics=(1.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.08),
    mellow=(1.0,),
    attack_s=0.002,
    decay_s=0.55,
    sustain=0.0,
    release_s=0.1,
    bright_s=0.06,
    pitch_decay=0.3,
    level=0.9,
)
ORGAN = Instrument(
    "organ",
    harmonics=(1.0, 0.75, 0.45, 0.4, 0.0, 0.22, 0.0, 0.16),  # drawbar-like footages
    attack_s=0.012,
    decay_s=0.1,
    sustain=0.9,
    release_s=0.07,
    vibrato_hz=6.2,
    vibrato_depth=0.0015,
    vibrato_delay_s=0.0,
    level=0.7,
)
STRINGS = Instrument(
    "strings",
    harmonics=_saw(14, 1.25),
    attack_s=0.09,
    decay_s=0.3,
    sustain=0.85,
    release_s=0.3,
    vibrato_hz=5.5,
    vibrato_depth=0.004,
    vibrato_delay_s=0.2,
    detune=0.004,
    level=0.75,
)
CHOIR = Instrument(
    "choir",
    harmonics=(1.0, 0.85, 0.6, 0.45, 0.3, 0.18, 0.1, 0.06, 0.04),  # soft "ah"
    attack_s=0.12,
    decay_s=0.3,
    sustain=0.9,
    release_s=0.3,
    vibrato_hz=5.0,
    vibrato_depth=0.005,
    vibrato_delay_s=0.15,
    detune=0.005,
    level=0.8,
)
BRASS = Instrument(
    "brass",
    harmonics=_saw(12, 0.95),
    attack_s=0.045,
    decay_s=0.2,
    sustain=0.8,
    release_s=0.12,
    vibrato_hz=5.2,
    vibrato_depth=0.003,
    vibrato_delay_s=0.3,
    level=0.65,
)
REED = Instrument(
    "reed",
    harmonics=(1.0, 0.08, 0.55, 0.06, 0.35, 0.05, 0.2, 0.03, 0.12, 0.02, 0.06),  # odd partials
    attack_s=0.03,
    decay_s=0.2,
    sustain=0.85,
    release_s=0.1,
    vibrato_hz=5.0,
    vibrato_depth=0.003,
    vibrato_delay_s=0.3,
    level=0.75,
)
FLUTE = Instrument(
    "flute",
    harmonics=(1.0, 0.22, 0.07, 0.03),
    attack_s=0.05,
    decay_s=0.2,
    sustain=0.9,
    release_s=0.12,
    vibrato_hz=5.0,
    vibrato_depth=0.004,
    vibrato_delay_s=0.2,
    breath=0.04,
    level=0.9,
)
LEAD = Instrument(
    "lead",
    harmonics=_saw(16, 1.0),
    attack_s=0.006,
    decay_s=0.25,
    sustain=0.75,
    release_s=0.08,
    vibrato_hz=5.5,
    vibrato_depth=0.003,
    vibrato_delay_s=0.35,
    level=0.55,
)
PAD = Instrument(
    "pad",
    harmonics=_saw(10, 1.6),
    attack_s=0.25,
    decay_s=0.5,
    sustain=0.85,
    release_s=MAX_RELEASE_S,
    vibrato_hz=4.0,
    vibrato_depth=0.002,
    vibrato_delay_s=0.0,
    detune=0.006,
    level=0.7,
)
BASS = Instrument(
    "bass",
    harmonics=(1.0, 0.55, 0.28, 0.14, 0.07, 0.035),
    mellow=(1.0, 0.3, 0.08),
    attack_s=0.005,
    decay_s=0.35,
    sustain=0.45,
    release_s=0.08,
    bright_s=0.12,
    level=1.0,
)

INSTRUMENTS = {
    i.name: i
    for i in (PIANO, PLUCK, MALLET, ORGAN, STRINGS, CHOIR, BRASS, REED, FLUTE, LEAD, PAD, BASS)
}

# General MIDI families of 8 programs each, then single-program overrides.
_FAMILIES = (
    "piano", "mallet", "organ", "pluck", "bass", "strings", "strings", "brass",
    "reed", "flute", "lead", "pad", "pad", "pluck", "mallet", "mallet",
)  # fmt: skip
_OVERRIDES = {
    45: "pluck",  # pizzicato strings
    46: "pluck",  # orchestral harp
    47: "mallet",  # timpani
    52: "choir", 53: "choir", 54: "choir",  # choir aahs, voice oohs, synth voice
    55: "brass",  # orchestra hit
    85: "choir",  # lead 6 (voice)
    91: "choir",  # pad 4 (choir)
    109: "reed", 111: "reed",  # bagpipe, shanai
    110: "strings",  # fiddle
}  # fmt: skip


def instrument_for_program(program: int) -> Instrument:
    """The built-in instrument used for a General MIDI program (0..127)."""
    program = int(program) % 128
    return INSTRUMENTS[_OVERRIDES.get(program, _FAMILIES[program // 8])]


def _pan_for_track(index: int, n_melodic: int) -> float:
    """-1 (left) .. 1 (right): melodic tracks spread gently across -0.45..0.45."""
    if n_melodic <= 1:
        return 0.0
    return -0.45 + 0.9 * index / (n_melodic - 1)


def _pan_gains(pan: float) -> tuple[float, float]:
    angle = (pan + 1.0) * math.pi / 4.0  # equal-power law
    return math.cos(angle) * math.sqrt(2.0), math.sin(angle) * math.sqrt(2.0)


# --------------------------------------------------------------------------- wavetables


@functools.lru_cache(maxsize=256)
def _table(harmonics: tuple[float, ...], max_harmonic: int) -> np.ndarray:
    """One cycle of the additive tone (partials above ``max_harmonic`` dropped: no aliasing)."""
    x = np.arange(_TABLE_SIZE) * (2.0 * np.pi / _TABLE_SIZE)
    wave = np.zeros(_TABLE_SIZE)
    for h, a in enumerate(harmonics[: max(1, max_harmonic)], start=1):
        if a:
            wave += a * np.sin(h * x + 0.3 * h * h)  # spread phases: lower crest factor
    peak = np.abs(wave).max()
    wave = (wave / peak if peak > 0 else wave).astype(np.float32)
    wave.flags.writeable = False
    return wave


def _tables(
    inst: Instrument, freq: float, sample_rate: int
) -> tuple[np.ndarray, np.ndarray | None]:
    max_h = int(0.45 * sample_rate / freq)
    bright = _table(inst.harmonics, max_h)
    if inst.mellow is None:
        return bright, None
    return _table(inst.mellow, max_h), bright - _table(inst.mellow, max_h)


class _Renderer:
    """Per-render state: integer phase axis, vibrato offsets, envelopes and a bounded cache of
    finished notes (a chorale repeats the same pitch and length many times)."""

    _CACHE_BYTES = 48 * 1024 * 1024

    def __init__(self, sample_rate: int) -> None:
        self.sr = sample_rate
        self._count = np.zeros(0, np.uint32)
        self._t = np.zeros(0, np.float32)
        self._vib: dict[str, np.ndarray] = {}
        self._env: dict[tuple, tuple[np.ndarray, np.ndarray | None]] = {}
        self._notes: dict[tuple, np.ndarray] = {}
        self._cached_bytes = 0
        self._rng = np.random.default_rng(1234)
        self._breath: np.ndarray | None = None

    def _grow(self, n: int) -> None:
        if len(self._count) < n:
            size = max(n, 2 * len(self._count), self.sr)
            self._count = np.arange(size, dtype=np.uint32)
            self._t = (np.arange(size) / self.sr).astype(np.float32)
            self._vib.clear()

    def vibrato_offset(self, inst: Instrument, n: int) -> np.ndarray:
        """Extra phase (in seconds of the base frequency) that the delayed vibrato adds."""
        self._grow(n)
        vib = self._vib.get(inst.name)
        if vib is None:
            t = self._t.astype(np.float64)
            w = 2.0 * np.pi * inst.vibrato_hz
            ramp = np.minimum(t / inst.vibrato_delay_s, 1.0) if inst.vibrato_delay_s else 1.0
            vib = (inst.vibrato_depth * ramp * (1.0 - np.cos(w * t)) / w).astype(np.float32)
            self._vib[inst.name] = vib
        return vib[:n]

    def envelope(
        self, inst: Instrument, hold: int, release: int, decay_s: float
    ) -> tuple[np.ndarray, np.ndarray | None]:
        key = (inst.name, hold, release, round(decay_s, 3))
        cached = self._env.get(key)
        if cached is not None:
            return cached
        n = hold + release
        self._grow(n)
        t = self._t[:n]
        env = np.minimum(t * np.float32(1.0 / inst.attack_s), np.float32(1.0))
        if inst.sustain < 1.0:
            after = np.maximum(t - np.float32(inst.attack_s), np.float32(0.0))
            decay = np.exp(after * np.float32(-1.0 / decay_s))
            if inst.sustain > 0.0:
                decay = np.float32(inst.sustain) + np.float32(1.0 - inst.sustain) * decay
            env *= decay
        if release:
            tail = np.clip((n - np.arange(hold, n)) / release, 0.0, 1.0).astype(np.float32)
            env[hold:] *= tail * tail  # smooth, reaches exactly 0
        bright = None
        if inst.mellow is not None:
            bright = np.exp(t * np.float32(-1.0 / inst.bright_s))
        self._env[key] = (env, bright)
        return env, bright

    def breath(self, n: int) -> np.ndarray:
        if self._breath is None or len(self._breath) < n:
            white = self._rng.standard_normal(max(n, self.sr)).astype(np.float32)
            k = 8  # moving average: soft, airy noise
            soft = np.convolve(white, np.ones(k, np.float32) / k, mode="same")
            self._breath = soft / (np.abs(soft).max() or 1.0)
        start = int(self._rng.integers(0, len(self._breath) - n + 1))
        return self._breath[start : start + n]

    def _lookup(
        self, freq: float, n: int, start: int, vib: np.ndarray | None, shift: int
    ) -> np.ndarray:
        """Wavetable indices of a tone at ``freq``: a wrapping 32-bit phase accumulator
        (exact pitch, no float drift) plus the vibrato offset."""
        inc = np.uint32(int(round(freq / self.sr * 2.0**32)) & 0xFFFFFFFF)
        ph = np.multiply(self._count[:n], inc)  # wraps modulo 2**32: that is the phase
        ph += np.uint32(start)
        ph >>= np.uint32(shift)
        if vib is not None:
            ph += (vib * np.float32(freq * _TABLE_SIZE)).astype(np.uint32)
            ph &= np.uint32(_TABLE_SIZE - 1)
        return ph

    def note(self, inst: Instrument, pitch: int, hold: int, release: int) -> np.ndarray:
        """Mono waveform of one note at velocity 127, ``hold + release`` samples (read-only)."""
        key = (inst.name, pitch, hold, release)
        cached = self._notes.get(key)
        if cached is not None:
            return cached
        freq = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
        n = hold + release
        if freq >= 0.45 * self.sr:  # above what this sample rate can carry: would alias
            return np.zeros(n, np.float32)
        decay_s = inst.decay_s
        if inst.pitch_decay:
            decay_s = float(np.clip(decay_s * (440.0 / freq) ** inst.pitch_decay, 0.15, 8.0))
        self._grow(n)
        env, bright = self.envelope(inst, hold, release, decay_s)
        base, diff = _tables(inst, freq, self.sr)
        vib = self.vibrato_offset(inst, n) if inst.vibrato_depth else None
        shift = 32 - int(math.log2(_TABLE_SIZE))
        start = int(self._rng.integers(0, 2**32))
        f1 = freq * (1.0 - 0.5 * inst.detune)  # a chorus pair sits either side of the pitch
        idx = self._lookup(f1, n, start, vib, shift)
        wave = base[idx]
        if diff is not None and bright is not None:
            wave += diff[idx] * bright
        if inst.detune:
            f2 = freq * (1.0 + 0.5 * inst.detune)
            idx2 = self._lookup(f2, n, start ^ 0x5A5A5A5A, vib, shift)
            wave += base[idx2]
            wave *= np.float32(0.6)
        if inst.breath:
            wave += np.float32(inst.breath * 4.0) * self.breath(n)
        wave *= env
        wave.flags.writeable = False
        if self._cached_bytes + wave.nbytes <= self._CACHE_BYTES:
            self._notes[key] = wave
            self._cached_bytes += wave.nbytes
        return wave


# --------------------------------------------------------------------------- drums


def _noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def _highpass(x: np.ndarray, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / sample_rate)
    spec *= 1.0 / (1.0 + (cutoff_hz / np.maximum(f, 1.0)) ** 4)  # 4th-order-like slope
    return np.fft.irfft(spec, len(x))


def _bandpass(x: np.ndarray, lo: float, hi: float, sample_rate: int) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.maximum(np.fft.rfftfreq(len(x), 1.0 / sample_rate), 1.0)
    spec *= 1.0 / (1.0 + (lo / f) ** 2) / (1.0 + (f / hi) ** 2)
    return np.fft.irfft(spec, len(x))


def _sweep(t: np.ndarray, f0: float, f1: float, tau: float) -> np.ndarray:
    """Sine whose frequency falls from f0 to f1 with time constant tau (phase integrated)."""
    phase = 2.0 * np.pi * (f1 * t + (f0 - f1) * tau * (1.0 - np.exp(-t / tau)))
    return np.sin(phase)


def _norm(x: np.ndarray) -> np.ndarray:
    peak = np.abs(x).max()
    return x / peak if peak > 0 else x


_TOMS = {41: 82.0, 43: 98.0, 45: 115.0, 47: 135.0, 48: 160.0, 50: 190.0}


@functools.lru_cache(maxsize=128)
def _drum_hit(note: int, sample_rate: int) -> np.ndarray:
    """A General MIDI drum sound at full velocity (mono float32, read-only)."""
    sr = sample_rate

    def axis(seconds: float) -> np.ndarray:
        return np.arange(int(seconds * sr)) / sr

    if note in (35, 36):  # kick: pitched sine sweep + a soft click
        t = axis(0.45)
        body = _sweep(t, 150.0, 48.0, 0.04) * np.exp(-t / 0.16)
        click = _bandpass(_noise(len(t), note), 1500.0, 6000.0, sr) * np.exp(-t / 0.004)
        wave = _norm(body) + 0.25 * _norm(click)
        gain = 1.0
    elif note in (38, 40):  # snare: tone + band-passed noise
        t = axis(0.3)
        tone = _sweep(t, 240.0, 180.0, 0.03) * np.exp(-t / 0.05)
        rattle = _bandpass(_noise(len(t), note), 1800.0, 9000.0, sr) * np.exp(-t / 0.075)
        wave = 0.5 * _norm(tone) + _norm(rattle)
        gain = 0.75
    elif note == 37:  # side stick
        t = axis(0.08)
        wave = _bandpass(_noise(len(t), note), 1500.0, 5000.0, sr) * np.exp(-t / 0.01)
        wave += 0.5 * np.sin(2 * np.pi * 1200 * t) * np.exp(-t / 0.015)
        gain = 0.5
    elif note == 39:  # hand clap: three quick bursts then a short tail
        t = axis(0.25)
        env = np.zeros_like(t)
        for k, start in enumerate((0.0, 0.011, 0.022)):
            seg = t >= start
            env[seg] = np.maximum(env[seg], (0.8 + 0.1 * k) * np.exp(-(t[seg] - start) / 0.008))
        env = np.maximum(env, 0.6 * np.exp(-np.maximum(t - 0.022, 0) / 0.06) * (t >= 0.022))
        wave = _bandpass(_noise(len(t), note), 900.0, 5000.0, sr) * env
        gain = 0.6
    elif note in (42, 44):  # closed / pedal hi-hat
        t = axis(0.09)
        wave = _highpass(_noise(len(t), note), 7000.0, sr) * np.exp(
            -t / (0.02 if note == 42 else 0.015)
        )
        gain = 0.35
    elif note == 46:  # open hi-hat
        t = axis(0.5)
        wave = _highpass(_noise(len(t), note), 6500.0, sr) * np.exp(-t / 0.14)
        gain = 0.35
    elif note in (49, 52, 55, 57):  # crash / china / splash
        t = axis(TAIL_SECONDS * 0.95)
        wave = _highpass(_noise(len(t), note), 4500.0, sr) * np.exp(-t / 0.3)
        gain = 0.35
    elif note in (51, 53, 59):  # ride: noise + a metallic ping
        t = axis(0.8)
        ping: np.ndarray = sum(np.sin(2 * np.pi * f * t) for f in (3120.0, 4270.0, 5350.0))  # type: ignore[assignment]  # sum() of arrays is an array
        noise = _highpass(_noise(len(t), note), 5000.0, sr)
        wave = (0.3 * _norm(ping) + _norm(noise)) * np.exp(-t / 0.22)
        gain = 0.28
    elif note in _TOMS:  # toms: pitched sweeps
        f = _TOMS[note]
        t = axis(0.5)
        wave = _sweep(t, f * 1.5, f, 0.05) * np.exp(-t / 0.18)
        wave += 0.15 * _bandpass(_noise(len(t), note), 200.0, 2000.0, sr) * np.exp(-t / 0.02)
        gain = 0.8
    elif note == 56:  # cowbell
        t = axis(0.3)
        sq = np.sign(np.sin(2 * np.pi * 540 * t)) + np.sign(np.sin(2 * np.pi * 800 * t))
        wave = _bandpass(sq, 500.0, 3000.0, sr) * np.exp(-t / 0.07)
        gain = 0.35
    elif note == 54:  # tambourine
        t = axis(0.25)
        wave = _highpass(_noise(len(t), note), 6000.0, sr) * np.exp(-t / 0.06)
        gain = 0.35
    else:  # other percussion: a short band-passed tick pitched by the note number
        t = axis(0.15)
        centre = 300.0 * 2.0 ** ((note - 60) / 24.0)
        wave = _bandpass(_noise(len(t), note), centre, centre * 4.0, sr) * np.exp(-t / 0.03)
        gain = 0.4
    wave = _norm(np.asarray(wave, dtype=np.float64))
    fade = min(len(wave), int(0.005 * sr))  # no click at the end of the sample
    if fade:
        wave[-fade:] *= np.linspace(1.0, 0.0, fade)
    out = (gain * wave).astype(np.float32)
    out.flags.writeable = False
    return out


# --------------------------------------------------------------------------- mixing


def limit(audio: np.ndarray, ceiling: float = LIMIT_CEILING, block: int = 256) -> np.ndarray:
    """Look-ahead peak limiter: no sample exceeds ``ceiling``, audio below it is untouched.

    Gains are computed per block of ``block`` samples, spread to neighbouring blocks (look-ahead
    and a release of a few blocks), and interpolated per sample; interpolation between block
    centres never exceeds any block's own allowed gain, so the ceiling is guaranteed.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        return audio
    if float(np.abs(audio).max()) <= ceiling:
        return audio
    if audio.ndim == 1:
        level = np.abs(audio)
    else:  # linked channels; a reduce over axis 1 of width 2 is slow in numpy
        level = np.abs(audio[:, 0])
        for c in range(1, audio.shape[1]):
            np.maximum(level, np.abs(audio[:, c]), out=level)
    n = len(level)
    n_blocks = -(-n // block)
    padded = np.zeros(n_blocks * block, np.float32)
    padded[:n] = level
    peaks = padded.reshape(n_blocks, block).max(axis=1)
    raw = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    spread = 6  # blocks each side: look-ahead and a smooth recovery
    ext = np.pad(raw, spread, constant_values=1.0)
    gain_blocks = np.lib.stride_tricks.sliding_window_view(ext, 2 * spread + 1).min(axis=1)
    centres = np.arange(n_blocks) * block + (block - 1) / 2.0
    gains = np.interp(np.arange(n), centres, gain_blocks).astype(np.float32)
    out = audio * (gains if audio.ndim == 1 else gains[:, None])
    return np.clip(out, -ceiling, ceiling, out=out)


def _max_polyphony(starts: np.ndarray, ends: np.ndarray) -> int:
    if len(starts) == 0:
        return 0
    times = np.concatenate([starts, ends])
    deltas = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.lexsort((deltas, times))  # ends (-1) before starts at the same time
    return int(np.cumsum(deltas[order]).max())


def check_sample_rate(sample_rate: int) -> int:
    if not isinstance(sample_rate, int | np.integer) or not (
        SAMPLE_RATE_RANGE[0] <= int(sample_rate) <= SAMPLE_RATE_RANGE[1]
    ):
        raise InvalidParamsError(
            f"Sample rate {sample_rate!r} is not supported.",
            hint=f"Use a whole number of Hz from {SAMPLE_RATE_RANGE[0]} to "
            f"{SAMPLE_RATE_RANGE[1]} (44100 or 48000 are usual).",
        )
    return int(sample_rate)


def output_frames(score: Score, sample_rate: int, tail_s: float = TAIL_SECONDS) -> int:
    """Samples in a rendering: the score's length (whole bars) plus the tail."""
    return int(round(score.seconds(score.length_ticks) * sample_rate)) + int(
        round(tail_s * sample_rate)
    )


def fade_end(audio: np.ndarray, sample_rate: int, seconds: float = _END_FADE_S) -> np.ndarray:
    n = min(len(audio), int(seconds * sample_rate))
    if n:
        ramp = np.linspace(1.0, 0.0, n, dtype=np.float32)
        audio[-n:] *= ramp if audio.ndim == 1 else ramp[:, None]
    return audio


def render(score: Score, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Render ``score`` to float32 stereo audio of shape ``(n, 2)`` within [-1, 1].

    ``n`` = :func:`output_frames` (the score's bars plus :data:`TAIL_SECONDS`). Deterministic:
    the same score gives the same samples.
    """
    sr = check_sample_rate(sample_rate)
    n_total = output_frames(score, sr)
    out = np.zeros((n_total, 2), np.float32)
    notes = [n for n in score.notes if 0 <= n.track < len(score.tracks) and n.duration > 0]
    if not notes:
        return out

    def to_samples(ticks: int) -> int:
        return int(round(score.seconds(ticks) * sr))

    tracks = score.tracks
    melodic = [
        i
        for i, t in enumerate(tracks)
        if not t.is_drum and instrument_for_program(t.program) is not BASS
    ]
    pans = {i: _pan_for_track(k, len(melodic)) for k, i in enumerate(melodic)}

    starts = np.array([to_samples(n.start) for n in notes])
    ends = np.array([to_samples(n.start + n.duration) for n in notes])
    poly = _max_polyphony(starts, ends)
    master = _BASE_GAIN / math.sqrt(max(1.0, poly / 4.0))

    renderer = _Renderer(sr)
    by_track: dict[int, list[int]] = {}
    for k, note in enumerate(notes):
        by_track.setdefault(note.track, []).append(k)
    # one track at a time into a reused mono buffer: memory stays at a few buffers however
    # many tracks there are (a 256-bar piece is tens of millions of samples)
    buf = np.empty(n_total, np.float32)
    left = np.zeros(n_total, np.float32)
    right = np.zeros(n_total, np.float32)
    for ti, members in by_track.items():
        track = tracks[ti]
        inst = None if track.is_drum else instrument_for_program(track.program)
        buf.fill(0.0)
        lo, hi = n_total, 0
        for k in members:
            note, s0, s1 = notes[k], int(starts[k]), int(ends[k])
            if s0 >= n_total:
                continue
            vel = (min(max(note.velocity, 1), 127) / 127.0) ** 1.8
            if inst is None:
                wave = _drum_hit(int(note.pitch), sr)
                gain = master * _DRUM_GAIN / _BASE_GAIN * vel
            else:
                hold = max(s1 - s0, int(0.01 * sr))
                release = int(inst.release_s * sr)
                wave = renderer.note(inst, int(note.pitch), hold, release)
                gain = master * inst.level * vel
            m = min(len(wave), n_total - s0)
            buf[s0 : s0 + m] += np.float32(gain) * wave[:m]
            lo, hi = min(lo, s0), max(hi, s0 + m)
        if hi > lo:  # only the stretch this track sounds in
            gl, gr = _pan_gains(pans.get(ti, 0.0))
            left[lo:hi] += np.float32(gl) * buf[lo:hi]
            right[lo:hi] += np.float32(gr) * buf[lo:hi]
    out[:, 0] = left
    out[:, 1] = right
    fade_end(out, sr)
    return limit(out)
