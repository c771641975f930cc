#!/usr/bin/env bash
# macOS: GenStudio.app and a .dmg from the same PyInstaller recipe.
# UNTESTED: no macOS machine is available to this project's CI; written to the same layout
# as the Linux packages. Run on macOS with the build venv:
#   packaging/macos/build.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-dist}"; py="${PYTHON:-.venv/bin/python}"
version="$("$py" -c 'import genstudio; print(genstudio.__version__)')"
"$py" packaging/linux/render_icon.py packaging/linux/genstudio.svg "$out/icons"
"$py" -c "from PIL import Image; Image.open('$out/icons/256x256/apps/genstudio.png').save('$out/genstudio.icns')"
GENSTUDIO_ICNS="$out/genstudio.icns" "$py" -m PyInstaller packaging/genstudio.spec --noconfirm \
  --distpath "$out" --workpath "$out/build"
# the spec's BUNDLE step makes $out/GenStudio.app on macOS
hdiutil create -volname GenStudio -srcfolder "$out/GenStudio.app" -ov -format UDZO \
  "$out/GenStudio-$version-macos.dmg"
echo "$out/GenStudio-$version-macos.dmg"
