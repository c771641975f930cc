#!/usr/bin/env bash
# CI for the installers (run by .ci/run after the test command, on Linux):
#  1. build the bundle, the .tar.xz and the .deb (packaging/build.sh);
#  2. the frozen smoke suite from the bundle, outputs compared with the venv's;
#  3. install the .deb (a throwaway install on the CI machine), run the same suite from
#     /usr/bin/genstudio as a non-root user against the venv's outputs of step 2;
#  4. remove the .deb: the program goes, the user's project stays.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[installers] %s\n' "$*"; }
# the build's tools: PyInstaller needs binutils (objdump), build.sh file/strip/readelf/xz/dpkg-deb
missing=()
for tool in objdump strip readelf file xz dpkg-deb; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
  say "installing build tools (missing: ${missing[*]})"
  apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils file xz-utils >/dev/null
fi
root="$(mktemp -d /tmp/genstudio-ci.XXXXXX)"; chmod 755 "$root"
out="$root/dist"
packaging/build.sh "$out"
say "frozen smoke suite: the bundle"
SMOKE_KEEP="$root/smoke" packaging/smoke.sh "$out/GenStudio/genstudio" "$PWD/.venv/bin/genstudio"

if [ "$(id -u)" -ne 0 ]; then say "not root: the .deb install test is skipped"; exit 0; fi
deb="$(ls "$out"/genstudio_*.deb)"
say "install $(basename "$deb")"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "$deb" >/dev/null \
  || { apt-get update -qq >/dev/null; apt-get install -y -qq --no-install-recommends "$deb" >/dev/null; }
id genstudio-ci >/dev/null 2>&1 || useradd -m genstudio-ci
cp packaging/smoke.sh "$root/smoke.sh"; chmod -R a+rX "$root"
say "frozen smoke suite: the installed .deb, as a non-root user"
runuser -u genstudio-ci -- env HOME=/home/genstudio-ci "$root/smoke.sh" /usr/bin/genstudio "$root/smoke"
runuser -u genstudio-ci -- env HOME=/home/genstudio-ci QT_QPA_PLATFORM=offscreen \
  /usr/bin/genstudio project new /home/genstudio-ci/MyProject >/dev/null
say "remove the .deb"
apt-get remove -y -qq genstudio >/dev/null
[ ! -e /usr/bin/genstudio ] && [ ! -e /opt/genstudio ] || { say "FAIL: files left after removal"; exit 1; }
[ -f /home/genstudio-ci/MyProject/project.json ] || { say "FAIL: removal touched user data"; exit 1; }
userdel -r genstudio-ci 2>/dev/null || true
say "all passed; sizes:"
ls -l "$out"/*.tar.xz "$out"/*.deb | awk '{printf "[installers]   %6.1f MB  %s\n", $5/1e6, $9}'
rm -rf "$root"
