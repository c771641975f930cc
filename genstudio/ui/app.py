"""Entry points of the studio window: :func:`main` and :func:`smoke_test`.

Only Qt, the Qt-free core and the panels of the first mode shown are imported here; torch and
onnxruntime never are (the smoke test proves it), so the window opens fast.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

_T_IMPORT = time.perf_counter()

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from genstudio.ui.main_window import MainWindow

log = logging.getLogger(__name__)
APP_NAME = "GenStudio"


def process_age_ms() -> float | None:
    """Milliseconds since this process started (Linux: /proc; None elsewhere)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            stat = f.read()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        # field 22 (starttime, clock ticks since boot) counted after the ")" of the comm field
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return (uptime - start_ticks / os.sysconf("SC_CLK_TCK")) * 1000.0
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def create_app(argv: list[str] | None = None) -> QApplication:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication([sys.argv[0] if sys.argv else APP_NAME, *(argv or [])])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    return app


SAMPLE_JOB = {
    "generator": "sprites.procedural",
    "params": {"prompt": "adventurer", "seed": 2026, "count": 12},
    "title": "Sample characters",
}


def build_window(
    project: Path | None = None, *, runner=None, seed_sample: bool = False
) -> MainWindow:
    """Settings, theme, job bridge, context and window; then the startup project is opened.

    With no ``project`` the newest recent project is opened, or else the sample project in
    ``default_projects_dir()/"Sample Project"`` (created on first run), never an empty screen.
    """
    from genstudio.core.settings import load_settings
    from genstudio.ui import services, theme
    from genstudio.ui.context import AppContext
    from genstudio.ui.jobs_bridge import JobsBridge
    from genstudio.ui.main_window import MainWindow

    app = create_app()
    settings = load_settings()
    theme.apply_theme(app, settings.theme)
    bridge = JobsBridge(runner)
    ctx = AppContext(bridge, settings)
    window = MainWindow(ctx)
    bridge.setParent(window)
    ctx.setParent(window)
    if project is not None:
        project = Path(project)
        if (project / "project.json").exists():
            ctx.open_project(project)
        else:
            ctx.create_project(project, name=project.name)
    else:
        path, exists = services.startup_project_path(settings.recent_projects)
        if exists:
            ctx.open_project(path)
        else:
            if ctx.create_project(path, name=services.SAMPLE_PROJECT_NAME) is not None:
                settings.sample_project_created = True
                ctx.save_settings(quiet=True)
                ctx.show_message(
                    f"Welcome to GenStudio. This sample project lives in {path}; "
                    "use Project > New to start your own."
                )
                if seed_sample:  # a first gallery to explore, made by the real job runner
                    try:
                        bridge.submit(
                            SAMPLE_JOB["generator"], SAMPLE_JOB["params"], SAMPLE_JOB["title"]
                        )
                    except Exception as e:  # the studio must open even if this fails
                        ctx.show_message(f"Could not make the sample characters: {e}", "error")
    return window


def main(argv: list[str] | None = None) -> int:
    """Open the studio. ``argv``: optional project folder (created when it does not exist)."""
    from genstudio.core.logs import setup_logging

    setup_logging()  # idempotent; installs sys.excepthook and threading.excepthook
    args = [a for a in (argv or []) if not a.startswith("-")]
    app = create_app([a for a in (argv or []) if a.startswith("-")])
    window = build_window(Path(args[0]) if args else None, seed_sample=True)
    window.show()
    try:
        return int(app.exec())
    finally:
        window.shutdown()


def _unloadable(window: Any) -> list[str]:
    """What of the registered modes and generators cannot be loaded in this build."""
    from genstudio import generators
    from genstudio.ui import modes

    missing: list[str] = []
    shown = {s.id for s in window.mode_specs}
    for spec in modes.all_modes():
        if spec.id not in shown:
            missing.append(f"the {spec.title} mode is hidden (no generator for it)")
        elif window.panel(spec.id) is None:
            missing.append(f"the {spec.title} panel")
    for name in generators.names():
        try:
            generators.load_class(name)
        except Exception as e:  # noqa: BLE001 - reported, the smoke test fails
            first = (str(e).strip().splitlines() or [""])[0][:160]
            missing.append(f"generator {name} ({type(e).__name__}: {first})")
    return missing


def smoke_test(start: float | None = None) -> int:
    """Open the main window offscreen, wait until it is shown and the event loop is idle,
    print the elapsed time, then open every registered mode's panel (and import every
    registered generator) and exit 0 - or 1 naming what could not be loaded (a frozen bundle
    that lacks a module fails here, not in a user's hands).

    Prints milliseconds since the *process* started (from /proc on Linux; the number a user
    feels) and since this function was called (``start``: a ``time.perf_counter()`` value a
    caller may pass to count from an earlier moment).
    """
    t_call = time.perf_counter() if start is None else start
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer

    app = create_app()
    window = build_window()
    result: dict[str, float | None] = {}

    def shown() -> None:
        app.processEvents()
        result["since_call"] = (time.perf_counter() - t_call) * 1000.0
        result["since_process"] = process_age_ms()
        result["visible"] = 1.0 if window.isVisible() else 0.0
        app.quit()  # Qt 6: quit() also closes the window (closeEvent -> shutdown)

    window.show()
    QTimer.singleShot(0, shown)
    QTimer.singleShot(30_000, app.quit)  # never hang a CI job
    app.exec()
    ok = bool(result.get("visible"))
    missing = _unloadable(window) if ok else []
    window.shutdown()
    if not ok:
        print("smoke-test: FAILED - the main window was not shown", flush=True)
        return 1
    if missing:
        print("smoke-test: FAILED - could not load: " + "; ".join(missing), flush=True)
        return 1
    since_proc = result["since_process"]
    proc_text = f"{since_proc:.0f} ms since process start, " if since_proc is not None else ""
    print(
        f"smoke-test: main window shown and idle in {proc_text}"
        f"{result['since_call']:.0f} ms since smoke_test() was called",
        flush=True,
    )
    return 0
