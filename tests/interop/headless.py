"""Run an interop page (tests/interop/<engine>/index.html) in headless Chromium and read the
JSON result it writes into <pre id="result"> (shared by the Phaser and PixiJS tests)."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path
from typing import Any


def run_headless_page(
    chromium: str, page: Path, config: Path, out: Path, *, budget_ms: int, timeout: int
) -> dict[str, Any]:
    """Open ``page?config=<config>`` with a virtual-time budget; the page's result, which must
    say ``ok`` (else the page's own error is the assertion message)."""
    cmd = [
        chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
        "--disable-background-networking", "--disable-component-update", "--mute-audio",
        f"--user-data-dir={out / 'chromium-profile'}", f"--virtual-time-budget={budget_ms}",
        "--dump-dom", f"{page.as_uri()}?config={config.as_uri()}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=out)
    m = re.search(r'<pre id="result">(.*?)</pre>', proc.stdout, re.S)
    text = html.unescape(m.group(1)) if m else ""
    assert text.startswith("{"), (
        f"no result from the page (exit {proc.returncode}): {text[:200]!r}\n{proc.stderr[-3000:]}"
    )
    result = json.loads(text)
    assert result["ok"], result.get("error")
    return result
