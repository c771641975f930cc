"""GenStudio: an offline creative studio for images, music and character sprites."""

import os as _os
import sys as _sys

# Never online: ONNX Runtime starts its telemetry (DNS lookups, a local event store) when it is
# *imported*, unless this is set first. Set here so that every entry point - the studio, the
# CLI, training children, anything that imports onnxruntime after genstudio - has it
# (genstudio.runtime.sessions sets it again and disables the events at every session).
#: onnxruntime was imported before genstudio, without its telemetry off (reported once by
#: genstudio.runtime.sessions when a session is made)
ORT_IMPORTED_ONLINE = (
    "onnxruntime" in _sys.modules and _os.environ.get("ORT_DISABLE_TELEMETRY") != "1"
)
_os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
