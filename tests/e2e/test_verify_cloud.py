"""`berth verify` for real: tempest from berth's image against a Zed all-in-one berth deployed (`bverify`,
127.0.0.71), made by the README's main command (scripts/aio.sh) and removed at the end, also when a test fails.

Extended (not in the default run: CI's time budget): the shared e2e cloud calls `tests.e2e.verify_checks.
check_verify` itself. To run these against a cloud that is up already, set BERTH_VERIFY_CONFIG_DIR to its
configuration directory (it is then left running).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud_env import CloudEnv
from tests.e2e.verify_checks import admin_password, check_verify

pytestmark = [pytest.mark.e2e, pytest.mark.extended]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudEnv]:
    given = os.environ.get("BERTH_VERIFY_CONFIG_DIR")
    env = CloudEnv("bverify", "127.0.0.71", "bverify-ext0", "9101:9200", 4396, 25796,
                   Path(given) if given else tmp_path_factory.mktemp("berth-verify") / "config")
    if given:
        yield env
        return
    env.remove_containers()
    env.write_globals({"openstack_release": "zed"})
    try:
        code, _seconds, out = env.aio(env.config_dir.parent / "aio.log")
        assert code == 0, f"scripts/aio.sh failed (exit {code}):\n{out[-6000:]}"
        yield env
    finally:
        env.teardown()


def test_lean_api_run_passes(cloud: CloudEnv) -> None:
    summary = check_verify(cloud.config_dir)
    print(f"berth verify --regex (CI): {summary['wall_seconds']}s, {summary['passed']} passed, "
          f"{summary['skipped']} skipped")


def test_smoke_passes(cloud: CloudEnv) -> None:
    proc = cloud.berth("verify", "--smoke", "--json", timeout=3600, check=False)
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0, f"{json.dumps(summary['failures'], indent=1)[-6000:]}\n{proc.stderr[-2000:]}"
    assert summary["passed"] >= 50 and summary["failed"] == 0
    print(f"berth verify --smoke: {summary['seconds']}s, {summary['passed']} passed, {summary['skipped']} skipped")


def test_a_selection_that_runs_nothing_fails(cloud: CloudEnv) -> None:
    proc = cloud.berth("verify", "--regex", "^no\\.such\\.test$", timeout=900, check=False)
    assert proc.returncode == 1
    assert "0 passed, 0 failed" in proc.stdout and "no test ran" in proc.stdout
    assert admin_password(cloud.config_dir) not in proc.stdout + proc.stderr
