"""The benchmark's fan-out section (bench/fanout.py) on a tiny fleet, so that it cannot rot: the
hub in its child process over 3 accounts x 1 region, and the worker sample through FC's emulated
async run on the emulated STS. A few seconds; `bench/run.py --only fanout` runs it full size."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import fanout

from ecs_emulator import EmulatorCredentials


@pytest.fixture(autouse=True)
def _keys_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The section sets the emulator's keys in os.environ; monkeypatch puts them back after."""
    credentials = EmulatorCredentials.default()
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", credentials.access_key_id)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", credentials.access_key_secret)
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    monkeypatch.setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)


def test_the_hub_run_dispatches_one_invocation_per_target_and_reports_its_memory(
    tmp_path: Path,
) -> None:
    run = fanout.run_hub(3, fanout.REGIONS[:1], fanout.FAST_RATE, tmp_path)

    assert (run.targets, run.invoke_calls, run.accepted, run.queued) == (3, 3, 3, 3)
    assert run.counts["dispatched"] == 3
    assert run.counts["failed"] == 0
    assert run.hub_seconds >= run.floor_seconds
    assert 0 < run.rss_after_import_mb <= run.peak_rss_mb < fanout.RSS_TARGET_MB


def test_the_worker_sample_assumes_one_role_per_target_and_stays_in_its_account() -> None:
    sample = fanout.run_worker_sample(3, fanout.REGIONS[:1], 20)

    assert sample.targets == sample.tasks_succeeded == 3
    assert sample.assume_role_calls == 3
    assert sample.foreign_calls == 0
    assert sample.stopped == sample.stopped_expected > 0
    assert sample.max_calls_ratio == 1.0
