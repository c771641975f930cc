"""Qt-free audio playback: a :class:`Player` that never blocks its caller (the GUI thread).

The player owns the audio and the play position; an output back-end pulls blocks from the
player's fill callback on its own thread:

* :class:`SoundDeviceOutput` - a sounddevice (PortAudio) callback ``OutputStream``;
  ``sounddevice`` is imported only when it is first needed.
* :class:`NullOutput` - silent: a daemon thread pulls blocks at real-time pace (or ``speed``
  times faster). Used in tests and whenever there is no sound card, so the playhead still moves.

:func:`default_backend` picks sounddevice when PortAudio loads and an output device exists, and
otherwise the null output plus a message for the UI (``Player.message``), e.g. "No audio output
device found - playback is silent." Nothing raises at import, in :meth:`Player.play` or for a
missing device; if opening the device fails later (busy, unplugged) the player switches to the
null output and says so. Set ``GENSTUDIO_AUDIO_OUTPUT=null`` to force the null output.

Threads: every public method is safe to call from any thread and returns at once (it takes a
short lock and at most starts or stops a stream; stopping happens off the caller's thread).
``on_finished`` is called on the back-end's thread when playback reaches the end without
looping - a Qt UI should forward it through a queued signal. ``position`` is the next sample
handed to the device, so it runs ahead of what is heard by the output latency (tens of ms).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError

log = logging.getLogger(__name__)

FillCallback = Callable[[np.ndarray], bool]  # fill out[frames, channels]; False = last block
DoneCallback = Callable[[], None]

NO_DEVICE_MESSAGE = "No audio output device found - playback is silent (the playhead still moves)."
NO_PORTAUDIO_MESSAGE = (
    "Audio output is unavailable: the PortAudio library is missing (on Debian/Ubuntu install "
    "libportaudio2) - playback is silent."
)
NO_SOUNDDEVICE_MESSAGE = (
    "Audio output is unavailable: the sounddevice package is not installed - playback is silent."
)
FORCED_NULL_MESSAGE = "Audio output is turned off (GENSTUDIO_AUDIO_OUTPUT=null)."
DEFAULT_BLOCK = 1024


class PlayerState(enum.StrEnum):
    EMPTY = "empty"  # nothing loaded
    STOPPED = "stopped"
    PLAYING = "playing"
    PAUSED = "paused"


# --------------------------------------------------------------------------- back-ends


class OutputBackend:
    """Pulls audio from a fill callback on its own thread. ``start`` and ``stop`` return at once."""

    name = "none"
    is_device = False  # True when sound really comes out of a device

    def start(
        self,
        fill: FillCallback,
        on_done: DoneCallback,
        *,
        sample_rate: int,
        channels: int,
        block_size: int,
    ) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop pulling blocks (does not wait). ``on_done`` may still be called afterwards."""
        raise NotImplementedError

    def close(self) -> None:
        self.stop()


class NullOutput(OutputBackend):
    """Silent output. A daemon thread calls ``fill`` once per block, paced to real time
    (``speed=1``), ``speed`` times faster, or as fast as possible (``speed=math.inf``)."""

    name = "null"

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise InvalidParamsError(f"NullOutput speed must be > 0, not {speed!r}.")
        self.speed = float(speed)
        self.blocks = 0  # blocks pulled since creation (for tests)
        self._stop_event: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self, fill, on_done, *, sample_rate, channels, block_size) -> None:
        self.stop()
        stop_event = threading.Event()
        self._stop_event = stop_event
        self._thread = threading.Thread(
            target=self._run,
            args=(fill, on_done, stop_event, sample_rate, channels, block_size),
            name="genstudio-null-audio",
            daemon=True,
        )
        self._thread.start()

    def _run(self, fill, on_done, stop_event, sample_rate, channels, block_size) -> None:
        out = np.zeros((block_size, channels), np.float32)
        block_s = block_size / sample_rate / self.speed
        deadline = time.monotonic()
        try:
            while not stop_event.is_set():
                more = fill(out)
                self.blocks += 1
                if not more:
                    break
                if math.isinf(self.speed):
                    time.sleep(0)  # let other threads run
                    continue
                deadline += block_s
                delay = deadline - time.monotonic()
                if delay > 0:
                    stop_event.wait(delay)
                elif delay < -0.5:  # far behind (machine was busy): do not try to catch up
                    deadline = time.monotonic()
        finally:
            on_done()

    def stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the pulling thread to end (tests only; the player never waits)."""
        if self._thread is not None:
            self._thread.join(timeout)


def _import_sounddevice() -> Any:
    import sounddevice

    return sounddevice


class SoundDeviceOutput(OutputBackend):
    """A sounddevice callback ``OutputStream`` (float32). ``device`` None = system default."""

    name = "sounddevice"
    is_device = True

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self.latency = 0.0
        self._stream: Any = None
        self._closer: threading.Thread | None = None

    def start(self, fill, on_done, *, sample_rate, channels, block_size) -> None:
        sd = _import_sounddevice()
        self.stop()
        if self._closer is not None:  # let the previous stream release the device (ms)
            self._closer.join(1.0)

        def callback(outdata, frames, time_info, status) -> None:
            if not fill(outdata):
                raise sd.CallbackStop

        stream = sd.OutputStream(
            samplerate=sample_rate,
            channels=channels,
            dtype="float32",
            blocksize=block_size,
            device=self.device,
            callback=callback,
            finished_callback=on_done,
        )
        try:
            stream.start()
        except Exception:
            stream.close()
            raise
        self._stream = stream
        self.latency = float(stream.latency or 0.0)

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return

        def close() -> None:
            with contextlib.suppress(Exception):
                stream.abort()
            with contextlib.suppress(Exception):
                stream.close()

        # abort/close can take a moment on some drivers: never on the caller's (GUI) thread
        self._closer = threading.Thread(target=close, name="genstudio-audio-close", daemon=True)
        self._closer.start()


def probe_sounddevice() -> tuple[bool, str | None]:
    """(True, None) if PortAudio loads and has an output device; else (False, message)."""
    if os.environ.get("GENSTUDIO_AUDIO_OUTPUT", "").lower() == "null":
        return False, FORCED_NULL_MESSAGE
    try:
        sd = _import_sounddevice()
    except OSError:  # sounddevice raises OSError when the PortAudio library is not found
        return False, NO_PORTAUDIO_MESSAGE
    except ImportError:
        return False, NO_SOUNDDEVICE_MESSAGE
    try:
        dev = sd.query_devices(kind="output")
    except Exception:  # PortAudioError "Error querying device -1": no default output
        return False, NO_DEVICE_MESSAGE
    if not dev or int(dev.get("max_output_channels", 0)) < 1:
        return False, NO_DEVICE_MESSAGE
    return True, None


def default_backend() -> tuple[OutputBackend, str | None]:
    """The sound card if there is one, else the null output and the reason."""
    ok, message = probe_sounddevice()
    if ok:
        return SoundDeviceOutput(), None
    return NullOutput(), message


# --------------------------------------------------------------------------- player


class Player:
    """Play, pause, seek and loop audio without blocking the caller.

    ``backend`` None = :func:`default_backend`, chosen on first use (:meth:`probe` chooses it
    early so a UI can show :attr:`message` before the user presses play).
    """

    def __init__(
        self,
        backend: OutputBackend | None = None,
        *,
        block_size: int = DEFAULT_BLOCK,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self.on_finished = on_finished
        self.block_size = int(block_size)
        self.message: str | None = None
        self._backend = backend
        self._lock = threading.Lock()
        self._audio: np.ndarray | None = None
        self._sr = 44100
        self._pos = 0  # frames
        self._state = PlayerState.EMPTY
        self._loop = False
        self._loop_start = 0
        self._loop_end: int | None = None
        self._session = 0  # bumped on every start/stop so stale back-end threads do nothing
        self._finished_session: int | None = None

    # ---- information (thread-safe)

    @property
    def state(self) -> PlayerState:
        with self._lock:
            return self._state

    @property
    def position(self) -> float:
        """Play position in seconds."""
        with self._lock:
            return self._pos / self._sr

    @property
    def duration(self) -> float:
        with self._lock:
            return 0.0 if self._audio is None else len(self._audio) / self._sr

    @property
    def sample_rate(self) -> int:
        return self._sr

    @property
    def backend(self) -> OutputBackend | None:
        return self._backend

    @property
    def has_device(self) -> bool | None:
        """True: a sound card plays; False: silent null output (see :attr:`message`);
        None: not decided yet (call :meth:`probe`)."""
        return None if self._backend is None else self._backend.is_device

    @property
    def loop(self) -> bool:
        return self._loop

    @loop.setter
    def loop(self, value: bool) -> None:
        with self._lock:
            self._loop = bool(value)

    def set_loop(self, enabled: bool, start: float = 0.0, end: float | None = None) -> None:
        """Loop between ``start`` and ``end`` seconds (``end`` None = the end of the audio;
        e.g. the end of the last bar, leaving out the release tail)."""
        with self._lock:
            self._loop = bool(enabled)
            self._loop_start = max(0, int(round(start * self._sr)))
            self._loop_end = None if end is None else max(0, int(round(end * self._sr)))

    def probe(self) -> bool:
        """Choose the output now; True when a sound card will play."""
        self._ensure_backend()
        return bool(self.has_device)

    def _ensure_backend(self) -> OutputBackend:
        if self._backend is None:
            self._backend, self.message = default_backend()
            if self.message:
                log.info("%s", self.message)
        return self._backend

    # ---- control (thread-safe, non-blocking)

    def load(self, audio: np.ndarray, sample_rate: int) -> None:
        """Replace the audio (``(frames,)`` or ``(frames, channels)``, float); stops playback."""
        a = np.asarray(audio, dtype=np.float32)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or not 1 <= a.shape[1] <= 8:
            raise InvalidParamsError(f"Cannot play audio of shape {np.shape(audio)}.")
        if not isinstance(sample_rate, int | np.integer) or not 8000 <= sample_rate <= 192000:
            raise InvalidParamsError(f"Cannot play audio at {sample_rate!r} Hz.")
        a = np.ascontiguousarray(a)
        self.stop()
        with self._lock:
            self._audio = a
            self._sr = int(sample_rate)
            self._pos = 0
            self._loop_start, self._loop_end = 0, None
            self._state = PlayerState.STOPPED

    def play(self) -> None:
        """Start or resume. Playing from the end starts again from the beginning."""
        with self._lock:
            if self._state in (PlayerState.EMPTY, PlayerState.PLAYING) or self._audio is None:
                return
            if self._pos >= len(self._audio):
                self._pos = 0
            self._state = PlayerState.PLAYING
            self._session += 1
            session = self._session
            channels = self._audio.shape[1]
            sr = self._sr
        backend = self._ensure_backend()
        try:
            self._start(backend, session, sr, channels)
        except Exception as e:  # device busy, unplugged, rate refused...
            log.warning("Audio output failed: %s - playing silently", e)
            self.message = f"Audio output failed ({e}) - playback is silent."
            self._backend = NullOutput()
            self._start(self._backend, session, sr, channels)

    def _start(self, backend: OutputBackend, session: int, sr: int, channels: int) -> None:
        backend.start(
            lambda out: self._fill(session, out),
            lambda: self._done(session),
            sample_rate=sr,
            channels=channels,
            block_size=self.block_size,
        )

    def pause(self) -> None:
        with self._lock:
            if self._state != PlayerState.PLAYING:
                return
            self._state = PlayerState.PAUSED
            self._session += 1
        if self._backend is not None:
            self._backend.stop()

    def stop(self) -> None:
        """Stop and go back to the start."""
        with self._lock:
            if self._state == PlayerState.EMPTY:
                return
            was_playing = self._state == PlayerState.PLAYING
            self._state = PlayerState.STOPPED
            self._pos = 0
            self._session += 1
        if was_playing and self._backend is not None:
            self._backend.stop()

    def seek(self, seconds: float) -> None:
        """Move the play position (clamped to the audio); playing continues from there."""
        with self._lock:
            if self._audio is None:
                return
            frame = int(round(float(seconds) * self._sr)) if math.isfinite(seconds) else 0
            self._pos = min(max(frame, 0), len(self._audio))

    def close(self) -> None:
        self.stop()
        if self._backend is not None:
            self._backend.close()

    # ---- back-end side

    def _fill(self, session: int, out: np.ndarray) -> bool:
        """Called on the back-end thread: copy the next block into ``out``."""
        with self._lock:
            audio = self._audio
            if session != self._session or self._state != PlayerState.PLAYING or audio is None:
                out.fill(0.0)
                return False
            frames = len(out)
            n = len(audio)
            start, end, looping = 0, n, False
            if self._loop:
                ls = min(self._loop_start, n)
                le = n if self._loop_end is None else min(self._loop_end, n)
                if le > ls:  # an empty loop range plays on to the end
                    start, end, looping = ls, le, True
            written = 0
            while written < frames:
                if self._pos >= end:
                    if looping:
                        self._pos = start
                        continue
                    out[written:] = 0.0
                    self._state = PlayerState.STOPPED
                    self._pos = 0
                    self._session += 1
                    self._finished_session = session
                    return False
                k = min(frames - written, end - self._pos)
                out[written : written + k] = audio[self._pos : self._pos + k]
                self._pos += k
                written += k
            return True

    def _done(self, session: int) -> None:
        with self._lock:
            fire = self._finished_session == session
            if fire:
                self._finished_session = None
        if fire and self.on_finished is not None:
            try:
                self.on_finished()
            except Exception:  # a broken listener must not kill the audio thread
                log.exception("on_finished callback failed")
