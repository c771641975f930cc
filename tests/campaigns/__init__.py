"""Campaigns: long-running robustness runs (fuzzing, crash kills), with short CI versions."""
