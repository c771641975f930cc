"""Render the project's SVG icon to the PNG sizes a Linux desktop looks up.

    python packaging/linux/render_icon.py packaging/linux/genstudio.svg OUT_DIR
writes OUT_DIR/<n>x<n>/apps/genstudio.png for n in 48, 64, 128, 256 (hicolor theme layout)
and OUT_DIR/scalable/apps/genstudio.svg.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SIZES = (48, 64, 128, 256)


def main(svg: str, out: str) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication([])  # noqa: F841 - Qt needs one for painting
    renderer = QSvgRenderer(svg)
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    for n in SIZES:
        img = QImage(n, n, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        painter = QPainter(img)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = Path(out) / f"{n}x{n}" / "apps" / "genstudio.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not img.save(str(target)):
            raise SystemExit(f"could not write {target}")
    scalable = Path(out) / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(svg, scalable / "genstudio.svg")


if __name__ == "__main__":
    main(*sys.argv[1:3])
