#!/usr/bin/env bash
# GenStudio set-up on a fresh Debian machine with Python 3.11.
#   ./bootstrap.sh run    set up (system packages, .venv, dependencies) and start the studio;
#                         with no display it runs a headless demo instead and says so.
#   ./bootstrap.sh test   the same plus dev tools, then the whole test suite (lint + architecture
#                         contracts + pytest).
# Idempotent: a second run only checks what is already there.
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-run}"
shift || true
PY="${PYTHON:-python3}"
VENV="${GENSTUDIO_VENV:-.venv}"

say() { printf '[bootstrap] %s\n' "$*"; }

# --- system packages (only what is missing; needs root or sudo) ------------------------------
need_pkgs=()
# Qt's xcb platform plug-in needs the xcb-* and xkbcommon-x11 libraries (without icccm4 and
# keysyms1 it aborts with a misleading "xcb-cursor0 is needed")
for pkg in libportaudio2 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0 \
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 \
    libxcb-shape0 libxcb-xkb1 libxcb-xfixes0 libxcb-sync1 libxcb-shm0 libx11-xcb1; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$pkg")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; then
    say "installing system packages: ${need_pkgs[*]}"
    $SUDO apt-get update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null \
      || say "WARNING: could not install ${need_pkgs[*]} (audio playback or the window may not work)"
  else
    say "WARNING: missing system packages ${need_pkgs[*]} and no sudo; install them yourself"
  fi
fi

# --- virtual environment + Python dependencies -----------------------------------------------
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "GenStudio needs Python >= 3.11 (found $("$PY" --version))" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
# exactly one ONNX Runtime: GENSTUDIO_GPU=1 picks onnxruntime-gpu (README "GPU variant")
ort="cpu"
[ "${GENSTUDIO_GPU:-0}" = "1" ] && ort="gpu"
extras="$ort,train"
[ "$mode" = "test" ] && extras="$ort,train,dev"
stamp="$VENV/.genstudio-installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ packaging/constraints.txt -nt "$stamp" ]; then
  say "installing Python dependencies (.[${extras}], torch pinned by packaging/constraints.txt)"
  "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
  other="onnxruntime-gpu"; [ "$ort" = "gpu" ] && other="onnxruntime"
  if "$VENV/bin/python" -m pip show -q "$other" >/dev/null 2>&1; then
    # they share one package folder: remove both, then install the one we want cleanly
    say "removing $other (only one ONNX Runtime build may be installed)"
    "$VENV/bin/python" -m pip uninstall -q -y onnxruntime onnxruntime-gpu
  fi
  "$VENV/bin/python" -m pip install -q -c packaging/constraints.txt -e ".[${extras}]"
  # SoundFont renderer; --no-deps: its declared pyaudio dependency does not build and is unused
  "$VENV/bin/python" -m pip install -q --no-deps -c packaging/constraints.txt tinysoundfont
  touch "$stamp"
fi

case "$mode" in
  run)
    if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = "Darwin" ]; then
      exec "$VENV/bin/genstudio" "$@"
    fi
    say "no display found: running the headless demo instead of the window"
    exec "$VENV/bin/genstudio" demo "$@"
    ;;
  test)
    export QT_QPA_PLATFORM=offscreen
    # a small GM SoundFont for the SoundFont tests (GPL-2, test-only, never shipped)
    if ! ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      sf_install() {
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
          timgm6mb-soundfont >/dev/null 2>&1
      }
      sf_install || { $SUDO apt-get update -qq >/dev/null 2>&1; sf_install; } \
        || say "WARNING: could not install timgm6mb-soundfont; SoundFont tests will be skipped"
    fi
    # tests/interop: Phaser 3 and PixiJS v8 in headless Chromium read our exports (skipped without them)
    have_chromium=""
    for b in "${GENSTUDIO_CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable; do
      [ -n "$b" ] && command -v "$b" >/dev/null 2>&1 && { have_chromium=1; break; }
    done
    if [ -z "$have_chromium" ]; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      say "installing chromium (for tests/interop)"
      $SUDO apt-get update -qq >/dev/null 2>&1 || say "apt-get update failed; trying the install anyway"
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium \
        >/dev/null 2>&1 || say "WARNING: could not install chromium; the Phaser and PixiJS interop tests will be skipped"
    fi
    # tests/test_network_strace.py: strace proves a CLI and a studio session never go online
    if ! command -v strace >/dev/null 2>&1; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      say "installing strace (for tests/test_network_strace.py)"
      $SUDO apt-get update -qq >/dev/null 2>&1 || say "apt-get update failed; trying the install anyway"
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends strace \
        >/dev/null 2>&1 || say "WARNING: could not install strace; the network strace test will be skipped"
    fi
    # the JavaScript readers of tests/interop: Phaser 3 (Aseprite JSON) and PixiJS v8 (.pixi.json)
    for app in phaser:Phaser pixi:PixiJS; do
      dir="tests/interop/${app%%:*}"; name="${app#*:}"
      if [ ! -d "$dir/node_modules" ]; then
        if command -v npm >/dev/null 2>&1; then
          say "npm ci in $dir ($name, for tests/interop)"
          (cd "$dir" && npm ci --no-audit --no-fund >/dev/null 2>&1) \
            || say "WARNING: npm ci failed in $dir; the $name interop test will be skipped"
        else
          say "WARNING: no npm; the $name interop test will be skipped"
        fi
      fi
    done
    say "ruff"
    "$VENV/bin/ruff" check genstudio tests
    say "import-linter"
    "$VENV/bin/lint-imports"
    say "mypy (core, runtime, generators)"
    "$VENV/bin/mypy"
    say "pytest"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: $0 run|test [args...]" >&2; exit 2 ;;
esac
