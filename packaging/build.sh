#!/usr/bin/env bash
# Build the lean studio bundle (PyInstaller, no torch), its portable .tar.xz and a .deb.
#   packaging/build.sh [OUT]        (default OUT: dist; PYTHON: the build venv's python)
# Linux only (the Windows/macOS recipes are packaging/windows and packaging/macos).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-dist}")"; py="${PYTHON:-.venv/bin/python}"
say() { printf '[build] %s\n' "$*"; }
version="$("$py" -c 'import genstudio; print(genstudio.__version__)')"
arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
mkdir -p "$out"

say "bundle (PyInstaller)"
"$py" -m PyInstaller packaging/genstudio.spec --noconfirm --log-level WARN \
  --distpath "$out" --workpath "$out/build"
bundle="$out/GenStudio"
# debug symbols out of the libraries that still carry them (the interpreter, tokenizers, ...):
# 306 -> 275 MiB. Not numpy's nor any wheel's `*.libs/` (auditwheel-patched ELF files break
# when stripped: "ELF load command address/offset not page-aligned"), hence not PyInstaller's
# strip option.
say "strip debug symbols"
find "$bundle" -type f -name '*.so*' ! -path '*.libs/*' ! -path '*/_internal/numpy/*' -print0 \
  | xargs -0 file | grep 'ELF.*not stripped' | cut -d: -f1 | xargs -r strip --strip-unneeded
"$py" packaging/linux/render_icon.py packaging/linux/genstudio.svg "$out/icons"

# What the bundle needs from the system (libraries it links but does not carry), as Debian
# packages: the .deb's Depends, and the list the tar.xz's README names.
say "system dependencies"
declare -A pkgs=() paths=()
notfound_pkg() {  # libraries Qt's xcb plug-in needs that a minimal desktop may lack
  case "$1" in
    libxcb-icccm.so.4) echo libxcb-icccm4 ;; libxcb-keysyms.so.1) echo libxcb-keysyms1 ;;
    libxcb-cursor.so.0) echo libxcb-cursor0 ;; libxcb-image.so.0) echo libxcb-image0 ;;
    libxcb-render-util.so.0) echo libxcb-render-util0 ;; libxkbcommon-x11.so.0) echo libxkbcommon-x11-0 ;;
    *) echo "" ;;
  esac
}
# the libraries each file names itself (NEEDED; apt brings what those need in turn)
declare -A inside=()
while IFS= read -r f; do inside[$(basename "$f")]=1; done < <(find "$bundle" -name '*.so*')
declare -A needed=()
while read -r lib; do needed[$lib]=1; done < <(
  find "$bundle" -type f \( -name '*.so*' -o -name genstudio \) -exec readelf -d {} + 2>/dev/null \
    | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
cache="$(ldconfig -p)"
for lib in "${!needed[@]}"; do
  [ -n "${inside[$lib]:-}" ] && continue
  path="$(awk -v l="$lib" '$1 == l && /x86-64|x86_64|AArch64|aarch64/ {print $NF; exit}' <<<"$cache")"
  if [ -z "$path" ]; then p="$(notfound_pkg "$lib")"; [ -n "$p" ] && pkgs[$p]=1; continue; fi
  paths["*/$(basename "$(realpath -m "$path")")"]=1  # by name: /lib and /usr/lib are one (usrmerge)
done
if [ "${#paths[@]}" -gt 0 ]; then
  while IFS=: read -r p _; do pkgs[${p%%,*}]=1; done < <(dpkg -S "${!paths[@]}" 2>/dev/null | grep -v "^diversion" || true)
fi
for p in libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libportaudio2; do pkgs[$p]=1; done  # dlopened
unset 'pkgs[libc6]'
glibc="$(ldd --version | head -1 | grep -o '[0-9]*\.[0-9]*$')"
depends="libc6 (>= $glibc), $(printf '%s\n' "${!pkgs[@]}" | sort | paste -sd, - | sed 's/,/, /g')"
say "Depends: $depends"

say "portable .tar.xz"
tarroot="$out/tar/genstudio-$version"
rm -rf "$out/tar"; mkdir -p "$tarroot"
cp -a "$bundle/." "$tarroot/"
cp -a "$out/icons" "$tarroot/icons"
cp packaging/linux/genstudio.desktop packaging/linux/genstudio-mime.xml "$tarroot/"
cp packaging/linux/install-user.sh "$tarroot/install.sh"
printf 'GenStudio %s (Linux %s, glibc >= %s)\n\nRun ./genstudio, or ./install.sh to add it to your menu (no root needed;\n./install.sh --uninstall removes it and leaves your projects alone).\nSystem packages it needs (Debian/Ubuntu names): %s\n' \
  "$version" "$arch" "$glibc" "$depends" > "$tarroot/README.txt"
tarball="$out/genstudio-$version-linux-$arch.tar.xz"
tar -C "$out/tar" -cf - "genstudio-$version" | xz -T0 -9e > "$tarball"

say ".deb"
stage="$out/deb"; rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
  "$stage/usr/share/mime/packages" "$stage/usr/share/icons/hicolor"
cp -a "$bundle" "$stage/opt/genstudio"
ln -s /opt/genstudio/genstudio "$stage/usr/bin/genstudio"
cp packaging/linux/genstudio.desktop "$stage/usr/share/applications/"
cp packaging/linux/genstudio-mime.xml "$stage/usr/share/mime/packages/genstudio.xml"
cp -a "$out/icons/." "$stage/usr/share/icons/hicolor/"
size_kb="$(du -sk "$stage" | cut -f1)"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: genstudio
Version: $version
Architecture: $arch
Maintainer: GenStudio developers <genstudio@localhost>
Installed-Size: $size_kb
Depends: $depends
Section: graphics
Priority: optional
Description: offline creative studio: images, music and character sprites
 Generate images, music and game sprite sheets on your own machine, offline,
 with models that run through ONNX Runtime. Projects and the gallery live in
 folders you choose; uninstalling never removes them.
CONTROL
for s in postinst postrm; do
  cat > "$stage/DEBIAN/$s" <<'HOOK'
#!/bin/sh
set -e
# menus, file types and icons pick up the change; user data (~/.local/share/GenStudio,
# projects) is never touched by install or removal
command -v update-desktop-database >/dev/null && update-desktop-database -q /usr/share/applications || true
command -v update-mime-database >/dev/null && update-mime-database /usr/share/mime || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
exit 0
HOOK
  chmod 0755 "$stage/DEBIAN/$s"
done
deb="$out/genstudio_${version}_${arch}.deb"
dpkg-deb --build --root-owner-group -Zxz "$stage" "$deb" >/dev/null
say "done:"
ls -l "$tarball" "$deb" | awk '{printf "[build]   %6.1f MB  %s\n", $5/1e6, $9}'
du -sh "$bundle" | awk '{print "[build]   bundle on disk: " $1}'
