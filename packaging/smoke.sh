#!/usr/bin/env bash
# The frozen smoke suite: every command of a built studio, outputs compared with the venv's.
#   packaging/smoke.sh FROZEN_EXE [VENV_EXE]
# FROZEN_EXE: dist/GenStudio/genstudio or /usr/bin/genstudio (the installed .deb).
# VENV_EXE (optional): the source install's `genstudio`; the same inputs must give byte-identical
# files. Runs in throwaway config/data folders; exits non-zero at the first failure.
set -euo pipefail
frozen="$1"; ref="${2:-}"
# SMOKE_KEEP=DIR keeps the outputs there (DIR/venv-NAME/out can be the reference of a later
# run: pass DIR instead of VENV_EXE, e.g. for the installed .deb run as another user)
if [ -n "${SMOKE_KEEP:-}" ]; then work="$SMOKE_KEEP"; mkdir -p "$work"
else work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; fi
export QT_QPA_PLATFORM=offscreen GENSTUDIO_AUDIO_OUTPUT=null
ok() { printf '[smoke] ok   %s\n' "$*"; }
fail() { printf '[smoke] FAIL %s\n' "$*" >&2; exit 1; }

run() {  # run EXE NAME ARGS...: in its own config/data folders; output in $work/NAME
  local exe="$1" name="$2" rc=0; shift 2
  mkdir -p "$work/$name"
  GENSTUDIO_CONFIG_DIR="$work/$name/cfg" GENSTUDIO_DATA_DIR="$work/$name/data" \
    "$exe" "$@" >"$work/$name/stdout" 2>"$work/$name/stderr" || rc=$?
  if grep -q "Traceback (most recent call last)" "$work/$name/stderr" "$work/$name/stdout"; then
    cat "$work/$name/stderr" >&2; fail "$name: a traceback reached the user"
  fi
  return $rc
}

generate() {  # generate NAME ARGS...: frozen (and venv) outputs, compared byte for byte
  local name="$1"; shift
  run "$frozen" "frozen-$name" "$@" --out "$work/frozen-$name/out" \
    || { cat "$work/frozen-$name/stderr" >&2; fail "$name: $*"; }
  local n; n=$(find "$work/frozen-$name/out" -type f | wc -l)
  [ "$n" -gt 0 ] || fail "$name: no output"
  if [ -n "$ref" ]; then
    local want="$ref/venv-$name/out"
    if [ ! -d "$ref" ]; then
      run "$ref" "venv-$name" "$@" --out "$work/venv-$name/out" || fail "$name (venv): $*"
      want="$work/venv-$name/out"
    fi
    diff -r "$work/frozen-$name/out" "$want" >&2 \
      || fail "$name: the frozen outputs differ from the venv's"
    ok "$name: $n files, byte-identical to the venv's"
  else
    ok "$name: $n files"
  fi
}

run "$frozen" doctor doctor || fail "doctor"
grep -q "CPUExecutionProvider *works" "$work/doctor/stdout" || fail "doctor: no working CPU provider"
ok "doctor"
run "$frozen" ui ui --smoke-test || { cat "$work/ui/stdout" >&2; fail "ui --smoke-test"; }
frozen_ms="$(grep -o 'in [0-9]* ms since process start' "$work/ui/stdout" | grep -o '[0-9]*')"
ok "ui --smoke-test (every mode and generator loaded): window shown in $frozen_ms ms since process start"
if [ -n "$ref" ] && [ ! -d "$ref" ]; then  # the venv's start in the same run, for the ratio
  run "$ref" venv-ui ui --smoke-test || fail "ui --smoke-test (venv)"
  venv_ms="$(grep -o 'in [0-9]* ms since process start' "$work/venv-ui/stdout" | grep -o '[0-9]*')"
  ok "start-up: frozen $frozen_ms ms, venv $venv_ms ms (ratio $(awk -v a="$frozen_ms" -v b="$venv_ms" 'BEGIN {printf "%.2f", a / b}'))"
fi
generate sprite generate sprite --prompt "knight with a red cape" --seed 7 --count 2 \
  --format aseprite --format godot --format pixi
generate lpc generate sprite --style lpc --prompt "female elf archer" --seed 3
generate image generate image --prompt "red apple" --seed 5 --count 2
generate music generate music --style folk --bars 4 --seed 11 --wav
run "$frozen" demo demo || { cat "$work/demo/stdout" "$work/demo/stderr" >&2; fail "demo"; }
ok "demo"
# the training commands are the add-on's: a clear message, never a traceback
if run "$frozen" ml ml report music --model music-gpt --docs "$work/ml-report"; then
  ok "ml report (the training add-on is present)"
else
  grep -q "training add-on" "$work/ml/stderr" || { cat "$work/ml/stderr" >&2; fail "ml: no clear message"; }
  ok "ml without the training add-on: $(head -1 "$work/ml/stderr")"
fi
printf '[smoke] all passed in %d s\n' "$SECONDS"
