"""The crash campaign (tests/campaigns/crash_campaign.py), 50 kills, in CI.

SIGKILL from outside at random moments during queued sprite jobs (a real JobRunner), saves,
gallery edits and exports, and the real CLI generating sprites, music and images into a
project; after every kill the project must be sound, every finished asset kept with its kind,
seed and prompt, no output twice, every pending job restored. The full run (>= 1000 kills) is
``python -m tests.campaigns.crash_campaign --kills 1000`` (report: docs/campaigns/).
"""

from __future__ import annotations

import signal

import pytest

from tests.campaigns.crash_campaign import Campaign

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

KILLS = 50
#: The fast children most of the time; the CLI's music and image runs (each loads a model)
#: a few times.
CI_WEIGHTS = {"jobs": 40, "gallery": 36, "cli_sprite": 18, "cli_music": 3, "cli_image": 3}


@pytest.mark.slow
def test_crash_campaign_50_kills(tmp_path):
    camp = Campaign(tmp_path, seed=50, per_project=KILLS, weights=CI_WEIGHTS)
    stats = camp.run(KILLS, budget_s=240)
    rep = camp.report()
    assert stats.kills == KILLS, rep["failures"]
    assert rep["child_errors"] == 0, rep["failures"]
    assert rep["corrupt_projects"] == 0, rep["failures"]
    assert rep["finished_assets_lost"] == 0, rep["failures"]
    assert rep["finished_assets_degraded"] == 0, rep["failures"]
    assert rep["duplicates"] == 0, rep["failures"]
    assert rep["pending_jobs_restored"] == rep["pending_jobs_at_kill"], rep["failures"]
    # the kills hit real work: finished assets, edits and pending jobs to hold the project to
    assert rep["finished_assets_reported"] > KILLS
    assert rep["finished_edits_reported"] > 0 and rep["pending_jobs_at_kill"] > 0
    assert set(rep["kills_by_scenario"]) >= {"jobs", "gallery", "cli_sprite"}
