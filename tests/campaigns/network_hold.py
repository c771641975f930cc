"""One real CLI command, then onnxruntime kept loaded for ``--hold`` seconds.

``python tests/campaigns/network_hold.py --hold 20 -- generate image --prompt ...`` runs
``genstudio.cli.main([...])`` exactly as the ``genstudio`` command does, then keeps the process
(its ONNX Runtime environment and the loaded sessions) alive for ``--hold`` more seconds: the
telemetry that issue 11 found resolves its host about 9 s after onnxruntime is imported, later
than a quick command lasts. Run as a script, so it imports only ``genstudio`` (whichever is
first on ``PYTHONPATH``). Exits with the command's status, or 3 when onnxruntime was never
loaded (the step would prove nothing).
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hold", type=float, default=20.0)
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then genstudio's arguments")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    from genstudio.cli import main as cli_main

    rc = cli_main(command)
    if "onnxruntime" not in sys.modules:
        print("network_hold: onnxruntime was never loaded by this command", file=sys.stderr)
        return 3
    time.sleep(args.hold)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
