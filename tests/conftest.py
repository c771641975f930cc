"""Test-wide rules: no network, no Qt window on screen, fresh settings per test."""

from __future__ import annotations

import os
import socket

import pytest

# Qt must be told before it is imported anywhere.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GENSTUDIO_NO_NETWORK", "1")
# ONNX Runtime's native telemetry starts at import (issue 11): tests that import onnxruntime
# before genstudio must not phone home either (the socket block below covers Python only)
os.environ["ORT_DISABLE_TELEMETRY"] = "1"


class NetworkBlocked(RuntimeError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guard(sock: socket.socket, address: object) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        raise NetworkBlocked(f"GenStudio tests must not open network connections (to {address!r})")


def _blocked_connect(self: socket.socket, address: object) -> None:
    _guard(self, address)
    return _real_connect(self, address)


def _blocked_connect_ex(self: socket.socket, address: object) -> int:
    _guard(self, address)
    return _real_connect_ex(self, address)


def _blocked_getaddrinfo(*args: object, **kwargs: object) -> None:
    raise NetworkBlocked(f"GenStudio tests must not resolve host names ({args[0]!r})")


# Installed at import time (not in a fixture) so that nothing, not even collection, goes online.
socket.socket.connect = _blocked_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _blocked_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _blocked_getaddrinfo  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def _fresh_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    cfg = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("GENSTUDIO_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("GENSTUDIO_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    yield cfg
