"""The bundle recipe's derived lists (packaging/bundle.py): every registered generator and mode
is a hidden import, the training code and torch never are, unused Qt parts and the build
machine's system libraries are left out. (Building and running the bundle itself is
packaging/ci.sh, run by .ci/run after the test command.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle():
    spec = importlib.util.spec_from_file_location("bundle", ROOT / "packaging" / "bundle.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_registry_target_is_a_hidden_import(bundle):
    pytest.importorskip("PyInstaller")
    from genstudio import generators
    from genstudio.ui import modes

    hidden = set(bundle.hidden_imports())
    for target in generators.targets().values():
        assert target.partition(":")[0] in hidden
    for spec in modes.all_modes():
        assert spec.factory.partition(":")[0] in hidden
    assert "genstudio.ui.gallery.panel" in hidden and "genstudio.generators.music.generator" in hidden
    assert not [m for m in hidden if m.startswith("genstudio.ml") or m.split(".")[0] == "torch"]


def test_a_newly_registered_generator_is_picked_up(bundle):
    from genstudio import generators

    generators.register("test.plugin", "some_plugin.module:Gen")
    try:
        assert "some_plugin.module" in bundle.registry_modules()
    finally:
        generators.unregister("test.plugin")


def test_unused_qt_parts_and_fine_tuning_weights_are_left_out(bundle):
    assert bundle.unused("PySide6/Qt/plugins/platforms/libqeglfs.so")
    assert bundle.unused("PySide6/Qt/translations/qtbase_de.qm")
    assert bundle.unused("PySide6/Qt/lib/libQt6Network.so.6")
    assert not bundle.unused("PySide6/Qt/plugins/platforms/libqxcb.so")
    assert not bundle.unused("PySide6/Qt/plugins/platforms/libqwayland.so")
    assert not bundle.unused("PySide6/Qt/lib/libQt6Widgets.so.6")
    assert not bundle.unused("onnxruntime/capi/libonnxruntime.so.1")
    assert bundle.is_fine_tuning_weights("resources/models/music-gpt/weights.safetensors")
    assert not bundle.is_fine_tuning_weights("resources/models/music-gpt/music.onnx")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux library layout")
def test_system_libraries_are_not_copied_but_wheel_libraries_are(bundle):
    assert bundle.system_library("libgtk-3.so.0", "/usr/lib/x86_64-linux-gnu/libgtk-3.so.0")
    assert bundle.system_library("libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3")
    wheel = "/x/.venv/lib/python3.11/site-packages/numpy.libs/libscipy_openblas64_.so"
    assert not bundle.system_library("numpy.libs/libscipy_openblas64_.so", wheel)
    assert not bundle.system_library("libpython3.11.so.1.0", "/usr/lib/libpython3.11.so.1.0")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux per-user installer")
def test_the_tarballs_install_script_works_on_a_fresh_account_and_undoes_itself(tmp_path):
    """A fresh HOME has no ~/.local/share/icons: install.sh once failed there (new-user trial)."""
    import shutil
    import subprocess

    app, home = tmp_path / "genstudio-0.1.0", tmp_path / "home"
    (app / "icons" / "48x48" / "apps").mkdir(parents=True)
    (app / "icons" / "48x48" / "apps" / "genstudio.png").write_bytes(b"png")
    for name in ("genstudio.desktop", "genstudio-mime.xml"):
        shutil.copy(ROOT / "packaging" / "linux" / name, app / name)
    shutil.copy(ROOT / "packaging" / "linux" / "install-user.sh", app / "install.sh")
    (app / "genstudio").write_text("#!/bin/sh\n")
    (app / "genstudio").chmod(0o755)
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([str(app / "install.sh")], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    share = home / ".local" / "share"
    desktop = (share / "applications" / "genstudio.desktop").read_text()
    assert f'Exec="{app}/genstudio" ui %f' in desktop
    assert (share / "icons" / "hicolor" / "48x48" / "apps" / "genstudio.png").is_file()
    assert (home / ".local" / "bin" / "genstudio").resolve() == (app / "genstudio").resolve()
    (home / "MyProject").mkdir()
    res = subprocess.run([str(app / "install.sh"), "--uninstall"], env=env, capture_output=True,
                         text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert not (share / "applications" / "genstudio.desktop").exists()
    assert not (home / ".local" / "bin" / "genstudio").exists()
    assert (home / "MyProject").is_dir()
