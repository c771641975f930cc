"""ONNX Runtime sessions, provider choice and model packs (no Qt, no torch).

Importing this package imports neither onnxruntime nor onnx; they load on first use.
"""

from __future__ import annotations

from genstudio.runtime.packs import (
    ModelPack,
    check_model_file,
    check_onnx_external_data,
    find_packs,
    load_pack,
    verify_pack,
    write_pack,
)
from genstudio.runtime.sessions import (
    SessionCache,
    available_providers,
    create_session,
    probe_providers,
    session_options,
)

__all__ = [
    "ModelPack",
    "SessionCache",
    "available_providers",
    "check_model_file",
    "check_onnx_external_data",
    "create_session",
    "find_packs",
    "load_pack",
    "probe_providers",
    "session_options",
    "verify_pack",
    "write_pack",
]
