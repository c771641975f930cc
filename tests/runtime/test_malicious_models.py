"""The malicious model set (issue 11) in CI: its representative part (``ci_part``: every kind
of attack, target and pickle protocol; fewer disguises) through the Python API entry points,
and one case of each kind through the real CLI (``tests/campaigns/malicious_models.py`` runs
them all through the CLI; its report is ``docs/campaigns/malicious-models.json``).

Asserted, as in the campaign: the payloads are live (a child process that unpickles them
creates their markers), the valid bases pass every entry point, and then: no marker ever
appears (0 code executions), nothing outside the folders is opened or read (inotify), and
every entry point refuses every case with a GenStudioError that has a hint and names the
problem (CLI: exit code 2, an ``error:`` line and a hint line, no traceback).
"""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify, FIFOs and symlinks")

# one case per kind of attack, through the CLI
CLI_CASES = {
    "p0-evil.ckpt-sd",  # a dot-file pickle in an SD folder (was imported)
    "p1-weights.safetensors-pack-listed",  # a protocol-1 pickle named .safetensors
    "p4-single-model.safetensors",  # one pickle file given to `models import`
    "link-unet-out-sd",  # the UNet links out of the folder (was generated from)
    "ext-ort-mem-sd",  # ONNX Runtime's memory-address marker as external data
    "ext-dotdot-pack",
    "zip-member-no-name-model.safetensors-pack",
    "st-len-huge-weights.safetensors-pack",
    "model-json-fifo",
}


def _check(report: dict, *, min_cases: int) -> None:
    s = report["summary"]
    bad = [(f["id"], f["runs"][:1], f["code_executed"], f["outside_reads"][:3])
           for f in report["failures"]]  # fmt: skip
    assert bad == []
    assert s["cases"] >= min_cases and s["cases_built"] == s["cases"]
    assert s["code_executions"] == 0
    assert s["outside_reads"] == 0
    assert s["tracebacks"] == 0 and s["hangs"] == 0
    assert s["refused_with_clear_message"] == s["entry_point_runs"] > 0


def test_the_malicious_set_is_refused_by_every_api_entry_point(tmp_path):
    pytest.importorskip("tokenizers")
    from tests.campaigns.malicious_models import ci_part, run_all

    report = run_all(tmp_path, cli=False, only=ci_part)
    live = report["controls"]["payloads_live"]
    assert all(live.values()) and len(live) >= 6, live
    assert all(v is True for v in report["controls"]["valid_bases_pass"].values())
    assert report["summary"]["outside_watch"].startswith("inotify")
    _check(report, min_cases=100)
    groups = report["summary"]["by_group"]
    for g in ("pickle", "zip", "link", "external-data", "safetensors", "onnx", "model.json"):
        assert groups.get(g, 0) > 0, g


def test_one_of_each_kind_is_refused_through_the_cli(tmp_path):
    pytest.importorskip("tokenizers")
    from tests.campaigns.malicious_models import run_all

    report = run_all(tmp_path, cli=True, only=lambda c: c.id in CLI_CASES, controls=False)
    assert {row["id"] for row in report["cases"]} == CLI_CASES
    _check(report, min_cases=len(CLI_CASES))
    entries = report["summary"]["by_entry_point"]
    for e in ("cli models check", "cli models import", "cli generate image"):
        assert entries.get(e, 0) > 0, e
