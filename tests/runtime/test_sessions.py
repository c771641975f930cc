"""ONNX Runtime sessions on tiny real models: tuned options, provider fallback, the cache.

There is no GPU here. Only the CUDA parts are mocked, and only where said: the provider list
(as onnxruntime-gpu reports it on a machine where CUDA cannot load) or a CUDA session that
fails to start. The sessions themselves are real onnxruntime sessions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import onnxruntime as ort
import pytest

from genstudio.core.errors import ModelPackError, UnsafeModelError
from genstudio.core.settings import Settings, save_settings
from genstudio.runtime.packs import find_packs, write_pack
from genstudio.runtime.sessions import (
    CPU,
    CUDA,
    SessionCache,
    available_providers,
    create_session,
    probe_providers,
)
from tests.helpers.onnxmodels import linear_model

# With the CUDA listing mocked, onnxruntime itself warns that it has no CUDA: expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "lin" / "model.onnx"
    w, b = linear_model(path, seed=3)
    return path, w, b


@pytest.fixture
def pack(tmp_path):
    root = tmp_path / "packs" / "lin"
    w, b = linear_model(root / "model.onnx", seed=5, external_data="model.onnx.data")
    write_pack(root, id="lin", kind="test", files=["model.onnx"])
    (p,) = find_packs(tmp_path / "packs")
    return p, w, b


def run_linear(sess, w, b):
    x = np.random.default_rng(0).standard_normal((5, w.shape[0])).astype(np.float32)
    (y,) = sess.run(None, {"x": x})
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-5, atol=1e-5)


@pytest.fixture
def fake_cuda_listed(monkeypatch):
    """MOCK: onnxruntime-gpu lists CUDA even where it cannot load it. This machine has no
    CUDA, so listing it is the mock; the session onnxruntime then builds is real (on CPU)."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])


def test_session_runs_on_cpu_with_tuned_options(model):
    path, w, b = model
    sess, provider, message = create_session(path, threads=2)
    assert provider == CPU and message is None  # CUDA is not listed here: nothing to report
    assert sess.get_providers()[0] == CPU
    run_linear(sess, w, b)
    opts = sess.get_session_options()
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert opts.intra_op_num_threads == 2
    assert opts.inter_op_num_threads == 1
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL


def test_default_threads_is_the_core_count(model, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    sess, _, _ = create_session(model[0])
    assert sess.get_session_options().intra_op_num_threads == 3


def test_listed_cuda_that_does_not_start_falls_back_with_a_message(model, fake_cuda_listed):
    path, w, b = model
    assert CUDA in available_providers()
    sess, provider, message = create_session(path)
    assert provider == CPU and sess.get_providers()[0] == CPU
    assert "CUDA is listed by onnxruntime but the session started on CPU" in message
    assert message.endswith("Running on the CPU instead (slower).")
    run_linear(sess, w, b)


def test_cuda_session_that_raises_falls_back_with_a_message(model, fake_cuda_listed, monkeypatch):
    real = ort.InferenceSession

    def session(path, sess_options=None, providers=None, **kw):
        if providers and providers[0] == CUDA:  # MOCK: what a broken CUDA install does
            raise RuntimeError("libcublasLt.so.12: cannot open shared object file")
        return real(path, sess_options=sess_options, providers=providers, **kw)

    monkeypatch.setattr(ort, "InferenceSession", session)
    sess, provider, message = create_session(model[0])
    assert provider == CPU
    assert "CUDA could not start (libcublasLt.so.12" in message
    run_linear(sess, model[1], model[2])


def test_cpu_only_preference_never_tries_cuda(model, fake_cuda_listed):
    _, provider, message = create_session(model[0], prefer=(CPU,))
    assert (provider, message) == (CPU, None)


def test_unloadable_model_is_a_model_pack_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model at all")
    with pytest.raises(ModelPackError, match=r"Could not load the model bad\.onnx"):
        create_session(bad)


def test_cache_loads_once_and_unloads(pack):
    p, w, b = pack
    assert not p.verified
    cache = SessionCache(threads=1)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(p))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in got}) == 1  # one session, shared
    assert p.verified  # hashes checked before the first session
    run_linear(got[0], w, b)
    assert cache.get(p, "model") is got[0]
    assert cache.loaded() == ["lin"] and cache.provider("lin") == CPU
    cache.unload("other")
    assert cache.loaded() == ["lin"]
    cache.unload("lin")
    assert cache.loaded() == [] and cache.provider("lin") is None
    assert cache.get(p) is not got[0]
    cache.unload()
    assert cache.loaded() == []


def test_cache_checks_hashes_before_loading(pack):
    p, _, _ = pack
    data = bytearray((p.root / "model.onnx.data").read_bytes())
    data[0] ^= 1
    (p.root / "model.onnx.data").write_bytes(bytes(data))
    with pytest.raises(UnsafeModelError, match=r"model\.onnx\.data"):
        SessionCache(threads=1).get(p)


def test_cache_follows_the_settings(pack, fake_cuda_listed):
    p, _, _ = pack
    save_settings(Settings(threads=2, provider="cpu"))
    cache = SessionCache()
    sess = cache.get(p)
    assert sess.get_session_options().intra_op_num_threads == 2
    assert cache.fallback_message is None  # "cpu" in settings: CUDA was not tried
    save_settings(Settings(provider="auto"))
    cache2 = SessionCache(threads=1)
    cache2.get(p)
    assert "CUDA" in cache2.fallback_message


def test_probe_providers_starts_a_real_session_on_each(fake_cuda_listed):
    report = {r["provider"]: r for r in probe_providers()}
    assert report[CPU] == {"provider": CPU, "works": True, "message": None}
    assert report[CUDA]["works"] is False
    assert "session started on CPU" in report[CUDA]["message"]


# --- never online (issue 11, defect 2) ----------------------------------------------------------
# ONNX Runtime's telemetry starts when onnxruntime is *imported*: it writes a device id and an
# event store under $XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime and resolves its
# collector host ~9 s later. Only ORT_DISABLE_TELEMETRY=1 before the import stops it, so these
# run in a fresh interpreter. tests/test_network_strace.py proves "no lookup" with strace.

_FRESH = """
import json, os
import genstudio.runtime.sessions as s
works = [r["works"] for r in s.probe_providers()]  # a real session on a tiny model
print(json.dumps({"env": os.environ.get("ORT_DISABLE_TELEMETRY"), "works": works}))
"""


def _fresh_interpreter(tmp_path, code: str, **env: str):
    cache = tmp_path / "cache"
    full_env = dict(os.environ, XDG_CACHE_HOME=str(cache), **env)
    p = subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr[-2000:]
    written = sorted(str(f.relative_to(cache)) for f in cache.rglob("*")) if cache.exists() else []
    return json.loads(p.stdout.strip().splitlines()[-1]), written, p.stderr


def test_onnxruntime_starts_with_its_telemetry_off_even_if_the_user_set_0(tmp_path):
    out, written, _ = _fresh_interpreter(tmp_path, _FRESH, ORT_DISABLE_TELEMETRY="0")
    assert True in out["works"]
    assert out["env"] == "1"  # inherited by every child process (training, jobs) as well
    assert written == []  # no device id, no telemetry event store


def test_every_session_creation_disables_telemetry_events(model, monkeypatch):
    calls = []
    monkeypatch.setattr(ort, "disable_telemetry_events", lambda: calls.append(1))
    path, _, _ = model
    create_session(path, prefer=(CPU,))
    assert len(calls) >= 1
    before = len(calls)
    probe_providers()
    assert len(calls) > before


def test_onnxruntime_imported_before_genstudio_is_reported(tmp_path):
    code = (
        "import logging, json; logging.basicConfig(level=logging.WARNING)\n"
        "import onnxruntime\n"
        "import genstudio.runtime.sessions as s\n"
        "s.ort_module(); s.ort_module()\n"
        "print(json.dumps({}))\n"
    )
    _, _, stderr = _fresh_interpreter(tmp_path, code, ORT_DISABLE_TELEMETRY="")
    assert stderr.count("imported before GenStudio could set ORT_DISABLE_TELEMETRY=1") == 1
