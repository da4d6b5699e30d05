"""The CPU budget: the affinity mask, capped by a cgroup v2 quota, never the host's CPU count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.model.threads import available_cpus, cgroup_cpu_quota, resolve_threads

AFFINITY = len(os.sched_getaffinity(0))


def _cpu_max(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    return path


def test_without_a_quota_every_cpu_of_the_affinity_mask_counts(tmp_path: Path) -> None:
    assert available_cpus(_cpu_max(tmp_path, "max 100000\n")) == AFFINITY
    assert available_cpus(tmp_path / "no-cgroup-v2-here") == AFFINITY


def test_a_one_cpu_quota_gives_one_cpu(tmp_path: Path) -> None:
    assert available_cpus(_cpu_max(tmp_path, "100000 100000\n")) == 1


def test_a_fractional_quota_rounds_up_but_never_past_the_affinity_mask(tmp_path: Path) -> None:
    assert available_cpus(_cpu_max(tmp_path, "50000 100000\n")) == 1
    assert available_cpus(_cpu_max(tmp_path, "150000 100000\n")) == min(2, AFFINITY)
    assert available_cpus(_cpu_max(tmp_path, "6400000 100000\n")) == AFFINITY


@pytest.mark.parametrize("text", ["", "garbage", "max", "0 100000", "100000 0", "a b"])
def test_an_unreadable_quota_is_no_quota(tmp_path: Path, text: str) -> None:
    assert cgroup_cpu_quota(_cpu_max(tmp_path, text)) is None


def test_threads_given_win_over_the_budget() -> None:
    assert resolve_threads(3) == 3
    assert resolve_threads(None) == available_cpus()
