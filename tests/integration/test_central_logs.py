"""Central logs and log rotation on the real engine: `enable_central_logging` collects what a real service logs
(a MariaDB login refused with a marker user name) into the store of the monitoring host, `berth logs --all` finds
it by --grep, --since, --service and --host with secrets masked, and logrotate rotates both a service's log and
the store by size while lines keep arriving (the forwarder follows the truncated file; rotated copies are read
back compressed).

Own deployment (`blogs`) on its own loopback address (127.0.0.73): MariaDB, logrotate and central logging only;
config/state/log under a temporary directory; leftovers of an earlier run are removed first and everything at
the end.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.cli.main import main
from tests.sandbox import deployed, wait_for

pytestmark = pytest.mark.integration

DEPLOYMENT = "blogs"
ADDRESS = "127.0.0.73"
SERVICES = ("mariadb", "logrotate", "central-logging")
# the smallest size logrotate takes, and a run every 2 s, so the test sees rotations quickly
ROTATE = {"log_rotate_size_mb": 1, "log_rotate_interval": 2, "log_rotate_keep": 2}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("logs")
    with deployed(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4399, services=SERVICES,
                  extra={**ROTATE, "central_logging_port": 5141}) as config_dir:
        yield {"config": config_dir, "log": root / "log"}


def berth(config_dir: Path, *args: str) -> int:
    return main(["--config-dir", str(config_dir), *args])


def search(env: dict[str, Any], capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, str]]:
    capsys.readouterr()
    assert berth(env["config"], "--json", "logs", "--all", *args) == 0
    return list(json.loads(capsys.readouterr().out))


def refused_login(user: str, password: str = "wrong") -> None:
    """A login MariaDB refuses: the server logs the user name (a warning), which is what the test looks for."""
    proc = subprocess.run(["docker", "exec", f"{DEPLOYMENT}-mariadb", "mariadb", "-h", ADDRESS, "-u", user,
                           f"-p{password}", "-e", "select 1"], check=False, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "Access denied" in proc.stderr, proc.stderr


def test_a_service_line_reaches_the_central_store(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    marker = f"berthlog{uuid.uuid4().hex[:10]}"
    sent = time.monotonic()
    refused_login(marker)
    found = wait_for(f"{marker} in the central logs", 60, lambda: search(env, capsys, "--grep", marker))
    print(f"a MariaDB log line searchable centrally after {time.monotonic() - sent:.1f}s")
    [line] = found
    assert line["service"] == "mariadb" and line["container"] == "mariadb" and line["host"] == "localhost"
    assert f"Access denied for user '{marker}'" in line["line"]
    # the filters: another service, another host, a time after the line: none of them finds it
    assert search(env, capsys, "--grep", marker, "--since", "1h", "--service", "mariadb", "--host", "localhost")
    assert not search(env, capsys, "--grep", marker, "--service", "keystone")
    assert not search(env, capsys, "--grep", marker, "--host", "elsewhere")
    assert not search(env, capsys, "--grep", marker, "--since", "2099-01-01T00:00")
    # the text form names the host and the container
    capsys.readouterr()
    assert berth(env["config"], "logs", "--all", "--grep", marker) == 0
    assert " localhost mariadb: " in capsys.readouterr().out


def test_secrets_are_masked_in_the_search(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """MariaDB logs the user name of a refused login: a secret used as one is in the store, never in the output."""
    secret = str(yaml.safe_load((env["config"] / "passwords.yml").read_text())["database_password"])
    assert len(secret) <= 80  # MariaDB's user names are at most 80 characters
    refused_login(secret)
    store = env["log"] / "central-logging" / "hosts" / "localhost" / "mariadb.log"
    wait_for("the refused secret user in the store", 60, lambda: secret in store.read_text())
    found = search(env, capsys, "--grep", "Access denied", "--since", "1m")
    assert found and secret not in json.dumps(found) and any("********" in x["line"] for x in found)


def test_logs_rotate_and_stay_searchable(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """1.5 MiB into MariaDB's log (as the service appends it): logrotate copies and truncates it, the forwarder
    follows the truncated file, and the store rotates too, its older lines read back from the .gz copies."""
    service_log = env["log"] / "mariadb" / "mariadb.log"
    store = env["log"] / "central-logging" / "hosts" / "localhost" / "mariadb.log"
    before = f"berthbefore{uuid.uuid4().hex[:8]}"
    filler = "".join(f"{before} filler line {n:06d} {'x' * 60}\n" for n in range(20000))
    subprocess.run(["docker", "exec", "-i", f"{DEPLOYMENT}-mariadb", "sh", "-c",
                    "cat >> /var/log/berth/mariadb/mariadb.log"], input=filler, text=True, check=True, timeout=60)
    rotated = wait_for("mariadb.log rotated", 90, lambda: sorted(service_log.parent.glob("mariadb.log.*")))
    assert any(p.name == "mariadb.log.1.gz" for p in rotated), rotated
    wait_for("the store's mariadb.log rotated", 90, lambda: list(store.parent.glob("mariadb.log.1*")))
    after = f"berthafter{uuid.uuid4().hex[:8]}"
    refused_login(after)
    assert wait_for(f"{after} in the central logs", 60, lambda: search(env, capsys, "--grep", after))
    lines = search(env, capsys, "--grep", f"{before} filler line 0000(00|01)")
    assert [x["line"].split()[3] for x in lines] == ["000000", "000001"], lines  # from a rotated copy, in order
    assert service_log.stat().st_size < 1024 * 1024


def test_a_killed_forwarder_starts_again_and_no_line_is_lost(env: dict[str, Any],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """As at an engine killed with its host: the forwarder's process is SIGKILLed (no clean exit) and its container
    started again; rsyslog keeps no pid file that would refuse the new start, and a line logged while it was down
    is delivered (the file positions are in its volume)."""
    name = f"{DEPLOYMENT}-log_forwarder"
    subprocess.run(["docker", "kill", name], check=True, capture_output=True, timeout=60)
    marker = f"berthdown{uuid.uuid4().hex[:8]}"
    refused_login(marker)
    subprocess.run(["docker", "start", name], check=True, capture_output=True, timeout=60)
    assert wait_for(f"{marker} in the central logs", 60, lambda: search(env, capsys, "--grep", marker))
    state = subprocess.run(["docker", "inspect", "--format", "{{.State.Status}} {{.RestartCount}}", name],
                           check=True, capture_output=True, text=True, timeout=60).stdout.split()
    assert state[0] == "running", state
