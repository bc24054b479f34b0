"""MariaDB as one Galera cluster over three `berth lab` hosts, for real: bootstrap, rejoin, full-stop recovery.

Three lab hosts (own name `hgal`, network, registry port, image namespace and registry container, so nothing of
a user's or another run's lab, registry or images is touched), all three in `control`, deploying only mariadb.
Checked:
- a first deploy forms one cluster of 3 (host 1 bootstraps it in wave 1, hosts 2 and 3 join by state transfer
  in wave 2); rows written through node 1 are read on node 3;
- a node whose host is lost (killed) is left out, the other two keep serving writes; when the host is booted
  again its node rejoins by itself and has the rows written meanwhile; the next deploy changes nothing;
- every host killed, host 1 first (so hosts 2 and 3 hold rows host 1 never saw): when the hosts boot, no node
  starts a cluster on its own; `berth deploy` finds the cluster down, starts it from the most advanced node (not
  host 1) and the others join: every committed row is there, on every node;
- `berth mariadb-recovery` on a running cluster changes nothing.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.cli.main import main
from berth.engine import connect
from berth.images import registry
from berth.remote.lab import load_lab
from berth.remote.labplan import Lab, LabHost
from berth.services.registry import enable_key, service_names
from tests.sandbox import BERTH, TAG, wait_for

pytest.importorskip("ansible_runner")
pytestmark = [pytest.mark.integration, pytest.mark.extended, pytest.mark.timeout(1800)]

NAME = "hgal"
CIDR = "198.51.100.0/26"
PORT = 4060
REGISTRY = "berth_registry_hgal"
NAMESPACE = "hgal"
SERVICES = ("mariadb",)
IMAGES = ("base", "mariadb", "registry")
DB = f"{NAME}-mariadb"
UNDER_TEST = f"env PYTHONPATH={Path(__file__).resolve().parents[2]} {sys.executable} -m berth"


def lab_up() -> None:
    assert main(["lab", "up", "--hosts", "3", "--controllers", "3", "--name", NAME, "--cidr", CIDR,
                 "--registry-port", str(PORT)]) == 0


def write_config(root: Path, lab: Lab) -> Path:
    config_dir = root / "etc"
    config_dir.mkdir()
    values = {"deployment_name": NAME, "docker_registry": lab.registry, "registry_port": PORT,
              "image_namespace": NAMESPACE, **{enable_key(n): n in SERVICES for n in service_names()}}
    (config_dir / "globals.yml").write_text(yaml.safe_dump(values, sort_keys=False))
    assert main(["--quiet", "--config-dir", str(config_dir), "genpwd"]) == 0
    text = re.sub(r"^berth_command=.*$", f"berth_command={shlex.quote(UNDER_TEST)}", lab.inventory.read_text(),
                  flags=re.MULTILINE)
    (root / "inventory").write_text(text)
    return config_dir


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    main(["lab", "down", "--name", NAME])
    lab_up()
    lab = load_lab(NAME)
    root = tmp_path_factory.mktemp("galera")
    config_dir = write_config(root, lab)
    engine = connect()
    try:
        assert main(["--quiet", "--config-dir", str(config_dir), "build", "--logs-dir", str(root / "logs"),
                     *SERVICES, "registry"]) == 0
        registry.start(engine, f"{lab.registry}/{NAMESPACE}/registry:{TAG}", PORT, REGISTRY, volume=REGISTRY,
                       extra_address=str(lab.machine_address))
        registry.wait_ready(PORT)
        assert main(["--quiet", "--config-dir", str(config_dir), "push", *SERVICES]) == 0
        yield {"lab": lab, "config": config_dir, "inventory": root / "inventory"}
    finally:
        main(["lab", "down", "--name", NAME])
        registry.stop(engine, PORT, REGISTRY)
        if engine.volume(REGISTRY) is not None:
            engine.remove_volume(REGISTRY, force=True)
        for image in IMAGES:  # the tags this test added to the machine's images (the images stay)
            ref = f"{lab.registry}/{NAMESPACE}/{image}:{TAG}"
            if engine.image(ref) is not None:
                engine.remove_image(ref)


def berth(env: dict[str, Any], *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """`berth --config-dir ... -i INVENTORY ARGS` in its own process, as an operator types it."""
    return subprocess.run([*BERTH, "--config-dir", str(env["config"]), "-i", str(env["inventory"]), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def deploy(env: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = berth(env, "deploy", "--yes")
    return proc, time.monotonic() - started


def sql(host: LabHost, statement: str) -> list[str]:
    """Rows of a statement run as root in the host's mariadb container (tab separated, no headers)."""
    proc = subprocess.run(["docker", "-H", f"unix://{host.docker_socket}", "exec", DB, "mariadb", "-uroot", "-N",
                           "-B", "-e", statement], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"{statement} on {host.name}: {proc.stderr[-1500:]}"
    return [line for line in proc.stdout.splitlines() if line]


def wsrep(host: LabHost) -> dict[str, str]:
    rows = sql(host, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', "
                     "'wsrep_cluster_status', 'wsrep_cluster_size')")
    return dict(row.split("\t", 1) for row in rows)


def synced(host: LabHost, size: int) -> bool:
    try:
        found = wsrep(host)
    except AssertionError:
        return False
    return found == {"wsrep_local_state_comment": "Synced", "wsrep_cluster_status": "Primary",
                     "wsrep_cluster_size": str(size)}


def rows(host: LabHost) -> list[str]:
    return sql(host, "SELECT n FROM hgal.t ORDER BY n")


def write(host: LabHost, first: int, last: int) -> list[str]:
    """Commit rows first..last through this node (each INSERT is its own transaction)."""
    sql(host, "; ".join(f"INSERT INTO hgal.t (n) VALUES ({n})" for n in range(first, last + 1)))
    return [str(n) for n in range(first, last + 1)]


def host_state(host: LabHost) -> str:
    proc = subprocess.run(["docker", "-H", f"unix://{host.docker_socket}", "inspect", "-f",
                           "{{.State.Status}}", DB], capture_output=True, text=True, timeout=30, check=False)
    return proc.stdout.strip()


def test_a_first_deploy_forms_one_cluster_of_three(env: dict[str, Any]) -> None:
    one, two, three = env["lab"].hosts
    proc, elapsed = deploy(env)
    print(f"first deploy of a 3-node Galera cluster: {elapsed:.1f}s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for host in (one, two, three):
        assert synced(host, 3), (host.name, wsrep(host))
    sql(one, "CREATE DATABASE hgal; CREATE TABLE hgal.t (n INT PRIMARY KEY)")
    env["rows"] = write(one, 1, 20)
    wait_for("node 3 applying node 1's rows", 30, lambda: rows(three) == env["rows"], 0.5)
    assert rows(two) == env["rows"]


def test_the_second_deploy_changes_nothing(env: dict[str, Any]) -> None:
    proc = berth(env, "--json", "deploy", "--yes")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {h["status"] for h in json.loads(proc.stdout)["hosts"]} == {"unchanged"}


def test_a_killed_node_rejoins_with_the_rows_written_meanwhile(env: dict[str, Any]) -> None:
    one, two, three = env["lab"].hosts
    assert main(["lab", "kill", "--name", NAME, three.name]) == 0
    wait_for("the cluster noticing node 3 is gone", 60, lambda: synced(one, 2), 1.0)
    env["rows"] += write(one, 21, 40)
    started = time.monotonic()
    lab_up()  # the host's engine restarts its container; berth-galera finds a peer and joins
    wait_for("node 3 rejoining", 300, lambda: synced(three, 3), 1.0)
    print(f"killed node rejoined {time.monotonic() - started:.1f}s after its host booted")
    assert rows(three) == env["rows"]
    proc, _ = deploy(env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "started from" not in proc.stdout  # a running cluster is never recovered
    assert all(synced(h, 3) for h in (one, two, three))


def test_after_every_host_died_deploy_starts_the_cluster_from_the_most_advanced_node(env: dict[str, Any]) -> None:
    one, two, three = env["lab"].hosts
    assert main(["lab", "kill", "--name", NAME, one.name]) == 0
    wait_for("the cluster noticing node 1 is gone", 60, lambda: synced(two, 2), 1.0)
    env["rows"] += write(two, 41, 60)  # rows node 1 never sees before it dies
    wait_for("node 3 applying them", 30, lambda: rows(three) == env["rows"], 0.5)
    for host in (two, three):
        assert main(["lab", "kill", "--name", NAME, host.name]) == 0
    lab_up()
    time.sleep(15)  # the engines restarted the containers: each node waits for a peer, none starts a cluster
    for host in (one, two, three):
        assert host_state(host) == "running" and not synced(host, 1) and not synced(host, 3), host.name
    started = time.monotonic()
    proc, elapsed = deploy(env)
    print(f"full-stop recovery by deploy: {elapsed:.1f}s\n{proc.stdout[-2000:]}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    chosen = re.search(r"started from (\S+)", proc.stdout)
    assert chosen and chosen.group(1) in (two.name, three.name), proc.stdout  # never the node that is behind
    for host in (one, two, three):
        wait_for(f"{host.name} synced", 120, lambda h=host: synced(h, 3), 1.0)  # type: ignore[misc]
        assert rows(host) == env["rows"], host.name
    print(f"all rows on all nodes {time.monotonic() - started:.1f}s after the deploy started")


def test_mariadb_recovery_on_a_running_cluster_changes_nothing(env: dict[str, Any]) -> None:
    proc = berth(env, "mariadb-recovery")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "nothing to recover" in proc.stdout and "Primary" in proc.stdout
