#!/usr/bin/env bash
# Add this unpacked GenStudio to your desktop's menu (no root needed), or remove it again:
#   ./install.sh              menu entry, icon, project file type, ~/.local/bin/genstudio
#   ./install.sh --uninstall  removes exactly those; your projects and settings stay
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"; bin="$HOME/.local/bin"
files=("$data/applications/genstudio.desktop" "$data/mime/packages/genstudio.xml" "$bin/genstudio")
for n in 48 64 128 256; do files+=("$data/icons/hicolor/${n}x${n}/apps/genstudio.png"); done
files+=("$data/icons/hicolor/scalable/apps/genstudio.svg")
refresh() {
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
  command -v update-mime-database >/dev/null && update-mime-database "$data/mime" >/dev/null 2>&1 || true
}
if [ "${1:-}" = "--uninstall" ]; then
  rm -f "${files[@]}"; refresh
  echo "GenStudio removed from the menu. Your projects and settings were left alone."
  exit 0
fi
mkdir -p "$data/applications" "$data/mime/packages" "$data/icons/hicolor" "$bin"
sed "s|^Exec=genstudio|Exec=\"$here/genstudio\"|" "$here/genstudio.desktop" > "$data/applications/genstudio.desktop"
cp "$here/genstudio-mime.xml" "$data/mime/packages/genstudio.xml"
cp -a "$here/icons/." "$data/icons/hicolor/"
ln -sf "$here/genstudio" "$bin/genstudio"
refresh
echo "GenStudio is in your menu; 'genstudio' runs it from a terminal (~/.local/bin)."
