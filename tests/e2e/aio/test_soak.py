"""The soak's short setting in CI (issue 17): two cycles of network, port and server made and deleted against the
shared all-in-one cloud, nothing left behind, every agent alive. The full run (default 30 min) is
`bench/bench_soak.py`; both use tests/soak.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.cloud_env import CloudEnv
from tests.soak import run_soak

# extended: the 30-minute soak is bench/bench_soak.py's; two cycles here cost a minute of CI's 60
pytestmark = [pytest.mark.e2e, pytest.mark.extended]


def test_a_short_soak_leaves_nothing_behind(cloud: dict[str, Any]) -> None:
    env: CloudEnv = cloud["env"]
    report = run_soak(env.sdk(), env.deployment, seconds=600, max_cycles=2)
    print("\n".join(report.summary()))
    assert report.ok, "\n".join(report.summary())
    assert len(report.cycles) == 2
