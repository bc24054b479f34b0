"""`berth verify` against a running cloud, as the e2e modules call it: one lean tempest run, its report and files.

`check_verify(config_dir)` builds the tempest image (a no-op when cached), runs `berth verify --regex CI_REGEX
--json` and checks what an operator relies on: exit status 0 with tests passed and none failed, the summary's
counts equal to results.json, both files 0600 in a 0700 folder, and the admin password in neither, nor in the
command's output, nor in the container config directory's files other than tempest.conf (0600). It returns the
summary (with `wall_seconds`) so callers can print the time it took.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from berth.config.loader import load_config
from tests.sandbox import BERTH

# Smoke-tagged API tests of identity, image, network (no routers: each makes a namespace through the L3 agent) and
# compute without booting a server; each test class makes its own project, user and network (dynamic credentials).
CI_REGEX = (r"^tempest\.api\.(identity|image|network\.test_(networks|ports|security_groups|extensions|versions)"
            r"|compute\.(flavors|security_groups))\..*smoke")


def _berth(config_dir: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.prefix) / 'bin'}:{os.environ.get('PATH', '')}"}
    return subprocess.run([*BERTH, "--config-dir", str(config_dir), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def admin_password(config_dir: Path) -> str:
    return str(yaml.safe_load((config_dir / "passwords.yml").read_text())["keystone_admin_password"])


def _private(path: Path, mode: int = 0o600) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == mode, f"{path}: mode {stat.S_IMODE(path.stat().st_mode):o}"


def check_verify(config_dir: Path, regex: str = CI_REGEX, timeout: float = 1800) -> dict[str, Any]:
    built = _berth(config_dir, "build", "tempest", timeout=1800)
    assert built.returncode == 0, f"berth build tempest:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    start = time.monotonic()
    proc = _berth(config_dir, "verify", "--regex", regex, "--json", timeout=timeout)
    wall = time.monotonic() - start
    assert proc.returncode == 0, f"berth verify (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}"
    summary = json.loads(proc.stdout)
    assert summary["ok"] and summary["passed"] > 0 and summary["failed"] == 0, summary
    folder = Path(summary["results_dir"])
    _private(folder, 0o700)
    results = json.loads((folder / "results.json").read_text())
    outcomes = [r["outcome"] for r in results]
    assert (outcomes.count("passed"), outcomes.count("skipped")) == (summary["passed"], summary["skipped"])
    # a class skipped whole (e.g. Keystone v2's) reports as `setUpClass (tempest.api....)`
    assert all(r["id"].removeprefix("setUpClass (").startswith("tempest.api.") for r in results), results
    secret = admin_password(config_dir)
    for path in (folder / "results.json", folder / "summary.json"):
        _private(path)
        assert secret not in path.read_text(), f"{path} holds the admin password"
    assert secret not in proc.stdout + proc.stderr, "berth verify printed the admin password"
    _private(load_config(config_dir).deployment_dir / "config" / "tempest-verify" / "tempest.conf")
    return {**summary, "wall_seconds": round(wall, 1)}
