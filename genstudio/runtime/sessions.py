"""ONNX Runtime sessions: provider choice that is proven, tuned options, one cache.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` even where the CUDA libraries cannot be
loaded; it then quietly runs on CPU. So a provider counts only once a session has really
started on it (``session.get_providers()[0]``); otherwise the session falls back to CPU and
the caller gets a message to show.

GenStudio never goes online. ONNX Runtime (1.32's Linux wheel, at least) carries Microsoft's 1DS
telemetry: *importing* ``onnxruntime`` starts it; it writes a device id and an event store under
``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` and, a few seconds later, keeps resolving its
collector host (UDP 53). ``onnxruntime.disable_telemetry_events()`` does not stop that once the
module is imported; only ``ORT_DISABLE_TELEMETRY=1`` in the environment *before* the import does.
So this module sets it when it is imported (GenStudio imports onnxruntime only after this
module - sessions are created here, through :func:`ort_module` - and child processes inherit
it) and also disables the events at every session creation. ``tests/test_network_strace.py`` proves it with strace.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import genstudio
from genstudio.core.errors import ModelPackError
from genstudio.runtime.packs import ModelPack, check_session_file, verify_pack

if TYPE_CHECKING:  # pragma: no cover
    from onnxruntime import InferenceSession

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEFAULT_PREFER: tuple[str, ...] = (CUDA, CPU)

#: read by ONNX Runtime's native code when ``onnxruntime`` is imported (see the module doc)
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def keep_offline() -> None:
    """Switch ONNX Runtime's telemetry off for this process and its children. Effective only
    before ``onnxruntime`` is first imported; forced to "1" (a user's "0" does not win)."""
    os.environ[TELEMETRY_ENV] = "1"


#: onnxruntime was imported by someone else before this module could switch telemetry off
_IMPORTED_TOO_EARLY = genstudio.ORT_IMPORTED_ONLINE or (
    "onnxruntime" in sys.modules and os.environ.get(TELEMETRY_ENV) != "1"
)
keep_offline()
_warned_early = False


def ort_module() -> Any:
    """``onnxruntime``, imported with its telemetry off and its telemetry events disabled.

    Every session GenStudio creates goes through here; call it at each session creation."""
    global _warned_early
    keep_offline()
    import onnxruntime as ort

    ort.disable_telemetry_events()
    if _IMPORTED_TOO_EARLY and not _warned_early:
        _warned_early = True
        log.warning(
            "onnxruntime was imported before GenStudio could set %s=1; its telemetry may "
            "try to go online in this process",
            TELEMETRY_ENV,
        )
    return ort


def available_providers() -> list[str]:
    """Providers this onnxruntime build lists (not proof that they work)."""
    ort = ort_module()

    return list(ort.get_available_providers())


def session_options(threads: int | None = None) -> Any:
    """Tuned options: full graph optimisation, intra-op threads = ``threads`` or the core
    count, one inter-op thread, sequential execution (our graphs have no parallel branches
    worth a second pool)."""
    ort = ort_module()

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = int(threads) if threads and threads > 0 else (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return opts


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def _friendly(provider: str) -> str:
    return provider.removesuffix("ExecutionProvider") or provider


def create_session(
    onnx_path: str | os.PathLike[str],
    *,
    prefer: tuple[str, ...] = DEFAULT_PREFER,
    threads: int | None = None,
    initializers: dict[str, Any] | None = None,
) -> tuple[InferenceSession, str, str | None]:
    """Start a session on the first provider of ``prefer`` that really works.

    ``initializers`` (name -> float32 numpy array) replace the model's own initializers of
    those names (a LoRA merged into the weights); the file is not changed.

    Returns ``(session, provider, fallback_message)``; the message is None unless a preferred
    provider was listed by onnxruntime but the session did not start on it. CPU is always the
    last resort. Raises ModelPackError when the model cannot be loaded at all.
    """
    ort = ort_module()

    path = str(Path(onnx_path))
    listed = available_providers()
    values = [
        (name, ort.OrtValue.ortvalue_from_numpy(arr)) for name, arr in (initializers or {}).items()
    ]  # kept alive with the session (ORT does not copy them)

    def options() -> Any:
        opts = session_options(threads)
        if values:
            # ORT_ENABLE_ALL's layout transforms (NCHWc convolutions) pre-pack the file's own
            # weights and ignore replaced ones (seen with onnxruntime 1.32: the LoRA was lost
            # and the output changed run to run); one level lower keeps the replacements
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        for name, value in values:
            opts.add_initializer(name, value)
        return opts

    problems: list[str] = []
    for provider in prefer:
        if provider == CPU:
            break
        if provider not in listed:
            continue
        try:
            # ORT may warn and quietly fall back to CPU here; get_providers() tells the truth.
            sess = ort.InferenceSession(path, sess_options=options(), providers=[provider, CPU])
        except Exception as e:
            problems.append(f"{_friendly(provider)} could not start ({_short(e)})")
            continue
        used = sess.get_providers()[0]
        if used == provider:
            if values:
                sess._genstudio_initializers = values  # type: ignore[attr-defined]
            return sess, provider, None
        problems.append(
            f"{_friendly(provider)} is listed by onnxruntime but the session started on "
            f"{_friendly(used)} (its libraries or driver are probably missing)"
        )
    try:
        sess = ort.InferenceSession(path, sess_options=options(), providers=[CPU])
    except Exception as e:
        raise ModelPackError(
            f"Could not load the model {Path(path).name}: {_short(e)}",
            hint="The file may be damaged or need a newer onnxruntime.",
        ) from e
    message = None
    if problems:
        message = "; ".join(problems) + ". Running on the CPU instead (slower)."
        log.warning("%s: %s", Path(path).name, message)
    if values:
        sess._genstudio_initializers = values  # type: ignore[attr-defined]
    return sess, CPU, message


class SessionCache:
    """Loaded sessions, one per (pack, ONNX file), shared by all generators; thread-safe.

    Hashes of a pack are checked once, before its first session. ``threads`` and the provider
    preference come from the user's settings unless given.
    """

    def __init__(
        self, *, threads: int | None = None, prefer: tuple[str, ...] | None = None
    ) -> None:
        self._threads = threads
        self._prefer = prefer
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str], tuple[Any, str, str | None]] = {}
        self.fallback_message: str | None = None  # the latest one, for the status bar
        self._unload_hooks: list[Callable[[str | None], None]] = []

    def _settings(self) -> tuple[int | None, tuple[str, ...]]:
        threads, prefer = self._threads, self._prefer
        if threads is None or prefer is None:
            from genstudio.core.settings import load_settings

            s = load_settings()
            if threads is None:
                threads = s.threads or None
            if prefer is None:
                prefer = (CPU,) if s.provider == "cpu" else DEFAULT_PREFER
        return threads, prefer

    def get(
        self, pack: ModelPack, name: str | None = None, *, threads: int | None = None
    ) -> InferenceSession:
        """``threads``: intra-op threads for this model (e.g. 1 for a tiny step-by-step model,
        where a second thread only adds hand-off latency); default: the settings'."""
        path = pack.onnx_path(name)
        # the file's hash is in the key: a pack retrained in place gets a fresh session
        digest = pack.files.get(path.relative_to(pack.root).as_posix(), {}).get("sha256", "")
        key = (pack.id, f"{path.resolve()}#{digest}" + (f"#t{threads}" if threads else ""))
        with self._lock:
            hit = self._sessions.get(key)
            if hit is not None:
                return hit[0]
            # Loading under the lock: two generators asking for the same model load it once.
            if not pack.verified:
                verify_pack(pack)
            check_session_file(pack.root, path)  # again now: nothing swapped since the scan
            default_threads, prefer = self._settings()
            sess, provider, message = create_session(
                path, prefer=prefer, threads=threads or default_threads
            )
            self._sessions[key] = (sess, provider, message)
            if message:
                self.fallback_message = message
            log.info("loaded %s/%s on %s", pack.id, path.name, provider)
            return sess

    def provider(self, pack_id: str) -> str | None:
        """The provider the pack's (first) session runs on, or None if not loaded."""
        with self._lock:
            for (pid, _), (_, provider, _) in self._sessions.items():
                if pid == pack_id:
                    return provider
        return None

    def unload(self, pack_id: str | None = None) -> None:
        """Drop the sessions of ``pack_id`` (all sessions when None) to free memory."""
        with self._lock:
            for key in [k for k in self._sessions if pack_id is None or k[0] == pack_id]:
                del self._sessions[key]
            hooks = list(self._unload_hooks)
        for hook in hooks:  # e.g. the music sampler forgets its model objects
            hook(pack_id)

    def on_unload(self, hook: Callable[[str | None], None]) -> None:
        """Call ``hook(pack_id)`` after sessions are unloaded (holders of models drop them)."""
        with self._lock:
            if hook not in self._unload_hooks:
                self._unload_hooks.append(hook)

    def loaded(self) -> list[str]:
        """Ids of the packs that have at least one session loaded."""
        with self._lock:
            return sorted({pid for pid, _ in self._sessions})


def _probe_model_bytes() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(onnx.shape_inference.infer_shapes(model).SerializeToString())


def probe_providers() -> list[dict[str, Any]]:
    """For each provider onnxruntime lists, start a session on a tiny model and report
    ``{"provider", "works", "message"}`` (what ``genstudio doctor`` shows)."""
    import numpy as np

    ort = ort_module()
    model = _probe_model_bytes()
    report: list[dict[str, Any]] = []
    for provider in available_providers():
        providers = [provider] if provider == CPU else [provider, CPU]
        try:
            sess = ort.InferenceSession(model, sess_options=session_options(1), providers=providers)
            used = sess.get_providers()[0]
            if used != provider:
                report.append(
                    {
                        "provider": provider,
                        "works": False,
                        "message": f"listed, but the session started on {_friendly(used)}",
                    }
                )
                continue
            sess.run(None, {"x": np.ones((1, 4), np.float32)})
            report.append({"provider": provider, "works": True, "message": None})
        except Exception as e:
            report.append({"provider": provider, "works": False, "message": _short(e)})
    return report


_shared: SessionCache | None = None
_shared_lock = threading.Lock()


def shared_cache() -> SessionCache:
    """The process-wide session cache every generator uses (follows the user's settings)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SessionCache()
        return _shared
