"""`berth -i INVENTORY deploy` over two lab hosts through Ansible, for real.

Two `berth lab` hosts (own name and network, so a user's default lab is never touched), both in `control`, each
running MariaDB and Memcached; the first host is where they are bootstrapped, so the second is applied after it
(wave 2). (Keystone is left out: a second Keystone host needs the first one's Fernet keys, which berth does not
distribute yet; a Keystone on one host deploys through this path the same way.)
Images come from a registry container of the machine's engine published on the lab's .1 (its own name, volume
and port, so a user's registry is never touched): the machine pushes through loopback, the hosts pull at .1.
Checked: containers on the right engines, a second deploy changes nothing, a lost host fails the next deploy
naming it while the other host applies its part, and after the host is back the next deploy finishes the job.
Then every other command over both hosts: a per-host override reconfigured on its host only, prechecks, logs of a
container on the second host, bootstrap-host, an upgrade to another tag one host at a time (images pulled on both
first, a history entry on each), a rollback from each host's own history, a stop limited to one host, a database
dump and restore over the network, and a destroy that leaves nothing of the deployment on either engine.
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
from tests.labs import running_on
from tests.sandbox import BERTH, TAG, wait_for

pytest.importorskip("ansible_runner")
# extended: tests/e2e/test_multihost_cloud.py and test_ha_cloud.py deploy, upgrade and lose hosts through the same
# fan-out (CI's time budget)
pytestmark = [pytest.mark.integration, pytest.mark.extended, pytest.mark.timeout(900)]

NAME = "mhit"
CIDR = "198.51.100.128/25"
PORT = 4010  # not berth's default 4000: a user's registry may run there
REGISTRY = "berth_registry_mhit"
SERVICES = ("mariadb", "memcached")
IMAGES = ("base", "mariadb", "memcached", "registry")
CONTAINERS = {f"{NAME}-{s}" for s in SERVICES}


# Lab hosts share the machine's filesystem: they run the berth under test (this checkout, with this interpreter), not
# whatever `berth` the environment's entry point imports (an editable install may point at another checkout).
UNDER_TEST = f"env PYTHONPATH={Path(__file__).resolve().parents[2]} {sys.executable} -m berth"


def both_in_control(lab: Lab) -> str:
    """The lab's inventory with its second host in `control` too (the lab puts it in `compute`), running the
    berth under test."""
    text = lab.inventory.read_text()
    second = lab.hosts[1]
    line = f"{second.name} ansible_host={second.address} api_address={second.address} network_interface=eth0"
    text = re.sub(r"^berth_command=.*$", f"berth_command={shlex.quote(UNDER_TEST)}", text, flags=re.MULTILINE)
    return text.replace("[network]", f"{line}\n\n[network]", 1)


def write_config(root: Path, lab: Lab) -> Path:
    config_dir = root / "etc"
    config_dir.mkdir()
    # two independent servers, not a Galera cluster: two nodes lose quorum when one host is lost, and this module
    # tests the fan-out of berth's commands (Galera and losing a controller: tests/e2e/test_ha_cloud.py)
    values = {"deployment_name": NAME, "docker_registry": lab.registry, "registry_port": PORT, "mariadb_cluster": False,
              **{enable_key(n): n in SERVICES for n in service_names()}}
    (config_dir / "globals.yml").write_text(yaml.safe_dump(values, sort_keys=False))
    assert main(["--quiet", "--config-dir", str(config_dir), "genpwd"]) == 0
    (root / "inventory").write_text(both_in_control(lab))
    return config_dir


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    main(["lab", "down", "--name", NAME])
    assert main(["lab", "up", "--hosts", "2", "--name", NAME, "--cidr", CIDR, "--registry-port", str(PORT)]) == 0
    lab = load_lab(NAME)
    root = tmp_path_factory.mktemp("multihost")
    config_dir = write_config(root, lab)
    engine = connect()
    try:
        assert main(["--quiet", "--config-dir", str(config_dir), "build", "--logs-dir", str(root / "logs"),
                     *SERVICES, "registry"]) == 0
        registry.start(engine, f"{lab.registry}/berth/registry:{TAG}", PORT, REGISTRY, volume=REGISTRY,
                       extra_address=str(lab.machine_address))
        registry.wait_ready(PORT)
        started = time.monotonic()
        assert main(["--quiet", "--config-dir", str(config_dir), "push", *SERVICES]) == 0
        print(f"push {' '.join(SERVICES)} and parents: {time.monotonic() - started:.1f}s")
        yield {"lab": lab, "config": config_dir, "inventory": root / "inventory"}
    finally:
        main(["lab", "down", "--name", NAME])
        registry.stop(engine, PORT, REGISTRY)
        if engine.volume(REGISTRY) is not None:
            engine.remove_volume(REGISTRY, force=True)
        for image in IMAGES:  # the tags this test added to the machine's images (the images stay)
            ref = f"{lab.registry}/berth/{image}:{TAG}"
            if engine.image(ref) is not None:
                engine.remove_image(ref)


def deploy(env: dict[str, Any], *extra: str) -> tuple[int, dict[str, Any], float, str]:
    """`berth -i INVENTORY deploy --yes --json` in its own process: exit status, JSON, seconds, stderr."""
    return berth_json(env, "deploy", "--yes", *extra)


def berth_text(env: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """`berth -i INVENTORY ARGS` in its own process, as an operator types it."""
    return subprocess.run([*BERTH, "--config-dir", str(env["config"]), "-i", str(env["inventory"]), *args],
                          capture_output=True, text=True, timeout=600, check=False)


def berth_json(env: dict[str, Any], *args: str) -> tuple[int, dict[str, Any], float, str]:
    """`berth -i INVENTORY --json ARGS`: exit status, JSON, seconds, stderr."""
    started = time.monotonic()
    proc = subprocess.run([*BERTH, "--config-dir", str(env["config"]), "-i", str(env["inventory"]), "--json", *args],
                          capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.monotonic() - started
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"no JSON (exit {proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-3000:]}") from None
    return proc.returncode, data, elapsed, proc.stderr


def statuses(data: dict[str, Any]) -> dict[str, str]:
    return {h["host"]: h["status"] for h in data["hosts"]}


def test_a_deploy_over_two_hosts_runs_each_hosts_containers_on_its_engine(env: dict[str, Any]) -> None:
    first, second = env["lab"].hosts
    code, data, elapsed, stderr = deploy(env)
    applied = {h["host"]: h["elapsed"] for h in data["hosts"]}  # `berth apply-plan` on the host, as it measured
    print(f"first deploy over 2 hosts: {elapsed:.1f}s; timings {data['timings']}; apply-plan on hosts {applied}")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    assert statuses(data) == {first.name: "deployed", second.name: "deployed"}
    waves = {h["host"]: h["wave"] for h in data["hosts"]}
    assert waves == {first.name: 1, second.name: 2}  # the first host is where its services are bootstrapped
    assert {i["host"] for i in data["items"]} == {first.name, second.name}
    assert CONTAINERS <= running_on(first) and CONTAINERS <= running_on(second)
    machine = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert not CONTAINERS & set(machine)


def test_a_second_deploy_changes_nothing(env: dict[str, Any]) -> None:
    code, data, elapsed, stderr = deploy(env)
    print(f"no-op deploy over 2 hosts: {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, stderr[-2000:]
    assert set(statuses(data).values()) == {"unchanged"} and data["applied"] is False
    proc = subprocess.run([*BERTH, "--config-dir", str(env["config"]), "-i", str(env["inventory"]), "status",
                           "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["containers"]
    assert {(r["host"], r["name"], r["state"], r["drift"]) for r in rows} == {
        (h.name, c, "running", "") for h in env["lab"].hosts for c in CONTAINERS}


def test_a_lost_host_fails_naming_it_the_other_completes_and_the_next_run_finishes(env: dict[str, Any]) -> None:
    first, second = env["lab"].hosts
    (env["config"] / "config" / "mariadb").mkdir(parents=True)
    (env["config"] / "config" / "mariadb" / "berth.cnf").write_text("[mysqld]\nmax_connections = 600\n")
    assert main(["lab", "kill", "--name", NAME, second.name]) == 0
    code, data, elapsed, stderr = deploy(env)
    print(f"deploy with {second.name} lost: {elapsed:.1f}s; timings {data['timings']}")
    assert code == 7, stderr
    assert statuses(data) == {first.name: "deployed", second.name: "unreachable"}
    lost = next(h for h in data["hosts"] if h["host"] == second.name)
    assert lost["message"].startswith("unreachable while observing it: ") and str(second.address) in lost["message"]
    assert f"1 of 2 host(s) did not finish: {second.name}" in stderr and f"{second.name}: unreachable" in stderr

    assert main(["lab", "up", "--hosts", "2", "--name", NAME, "--cidr", CIDR, "--registry-port", str(PORT)]) == 0
    # the host's engine restarts its containers as it boots; a plan made in the middle of that would be refused by
    # the host ("changed since its plan was made") and the run after it would finish: wait as an operator would
    wait_for(f"{second.name}'s engine restarting its containers", 60, lambda: CONTAINERS <= running_on(second), 1.0)
    code, data, elapsed, stderr = deploy(env)
    print(f"deploy after {second.name} came back: {elapsed:.1f}s; timings {data['timings']}; apply-plan on hosts "
          f"{ {h['host']: h['elapsed'] for h in data['hosts']} }")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    assert statuses(data) == {first.name: "unchanged", second.name: "deployed"}
    assert CONTAINERS <= running_on(second)


def docker_on(host: LabHost, *args: str) -> str:
    return subprocess.run(["docker", "-H", f"unix://{host.docker_socket}", *args], capture_output=True, text=True,
                          timeout=30, check=True).stdout.strip()


def started_at(host: LabHost, container: str) -> tuple[str, str]:
    """(id, start time) of a container on a host's engine: a restart keeps the id and moves the time."""
    return tuple(docker_on(host, "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", container).split())  # type: ignore


def image_of(host: LabHost, container: str) -> str:
    return docker_on(host, "inspect", "-f", "{{.Config.Image}}", container)


def history_on(host: LabHost) -> list[dict[str, Any]]:
    """The host's own history file (lab hosts have their own /var/lib/berth)."""
    path = host.dir / "root" / "var-lib-berth" / NAME / "history.json"
    return list(json.loads(path.read_text())["entries"])


def test_reconfigure_restarts_only_the_container_of_the_host_whose_override_changed(env: dict[str, Any]) -> None:
    first, second = env["lab"].hosts
    before = {h.name: started_at(h, f"{NAME}-mariadb") for h in (first, second)}
    override = env["config"] / "config" / "mariadb" / "host" / second.name / "berth.cnf"
    override.parent.mkdir(parents=True)
    override.write_text("[mysqld]\nmax_connections = 700\n")
    code, data, elapsed, stderr = berth_json(env, "reconfigure", "--yes")
    print(f"reconfigure over 2 hosts (one changed): {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, stderr[-2000:]
    assert statuses(data) == {first.name: "unchanged", second.name: "applied"}
    plan = next(h["plan"] for h in data["hosts"] if h["host"] == second.name)
    assert {(c["container"], c["action"]) for c in plan["containers"]} == {
        (f"{NAME}-mariadb", "restart"), (f"{NAME}-memcached", "noop")}
    assert started_at(first, f"{NAME}-mariadb") == before[first.name]
    again = started_at(second, f"{NAME}-mariadb")
    assert again[0] == before[second.name][0] and again[1] != before[second.name][1]  # restarted, not recreated


def test_prechecks_check_each_host_with_what_its_containers_need(env: dict[str, Any]) -> None:
    started = time.monotonic()
    proc = berth_text(env, "--json", "prechecks")
    print(f"prechecks over 2 hosts: {time.monotonic() - started:.1f}s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["ok"] and set(data["hosts"]) == {h.name for h in env["lab"].hosts}
    for host in env["lab"].hosts:
        checks = {c["name"]: c for c in data["hosts"][host.name]["checks"]}
        assert checks["engine"]["ok"] and checks["registry"]["ok"]
        assert checks["port tcp/3306"]["message"] == f"{host.address}:3306 held by its own container mariadb"
    proc = berth_text(env, "prechecks", "--limit", "nosuchhost")
    assert proc.returncode == 3 and "--limit nosuchhost: no such host or group" in proc.stderr


def test_logs_of_a_container_on_the_second_host(env: dict[str, Any]) -> None:
    second = env["lab"].hosts[1]
    started = time.monotonic()
    proc = berth_text(env, "logs", f"{second.name}/mariadb", "--tail", "30")
    print(f"logs of a container on {second.name}: {time.monotonic() - started:.1f}s")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert 0 < len(lines) <= 30 and any("mariadbd" in line or "MariaDB" in line for line in lines)
    engine = subprocess.run(["docker", "-H", f"unix://{second.docker_socket}", "logs", f"{NAME}-mariadb"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30, check=True)
    assert set(lines) <= set(engine.stdout.splitlines())  # the log the second host's engine holds
    missing = berth_text(env, "logs", f"{second.name}/nothing")
    assert missing.returncode != 0 and f"{second.name}: failed while reading the log of nothing: no container " \
        f"`nothing` in deployment {NAME}" in missing.stderr


def test_bootstrap_host_checks_versions_and_prepares_every_host(env: dict[str, Any]) -> None:
    started = time.monotonic()
    proc = berth_text(env, "--json", "bootstrap-host")
    print(f"bootstrap-host over 2 hosts: {time.monotonic() - started:.1f}s")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert {h: d["ok"] for h, d in data.items()} == {h.name: True for h in env["lab"].hosts}
    assert all(d["steps"]["engine"] == "cached" for d in data.values())  # their engines answer: left alone


def retag(lab: Lab, tag: str) -> None:
    """The pushed images under a second tag in the lab's registry (pushed through loopback, like `berth push`)."""
    for image in SERVICES:
        local = f"127.0.0.1:{PORT}/berth/{image}:{tag}"
        subprocess.run(["docker", "tag", f"{lab.registry}/berth/{image}:{TAG}", local], check=True, timeout=60)
        subprocess.run(["docker", "push", "-q", local], check=True, capture_output=True, timeout=300)
        subprocess.run(["docker", "rmi", local], check=True, capture_output=True, timeout=60)


def test_an_upgrade_one_host_at_a_time_pulls_everywhere_first_and_records_history_on_each(
        env: dict[str, Any]) -> None:
    lab = env["lab"]
    retag(lab, "zed2")
    shown = berth_text(env, "upgrade", "--tag", "zed2", "--serial", "1", "--plan")
    assert shown.returncode == 0, shown.stderr
    for host in lab.hosts:
        assert f"=== host {host.name}\nupgrade to image tag zed2:" in shown.stdout
    assert f"image {lab.registry}/berth/memcached:zed2: will be pulled first" in shown.stdout
    code, data, elapsed, stderr = berth_json(env, "upgrade", "--tag", "zed2", "--serial", "1", "--yes")
    print(f"upgrade over 2 hosts, --serial 1: {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    assert set(statuses(data).values()) == {"applied"} and "pull images" in data["timings"]
    for host in lab.hosts:
        for service in SERVICES:
            assert image_of(host, f"{NAME}-{service}") == f"{lab.registry}/berth/{service}:zed2"
        kinds = [(e["service"], e["kind"], e["state"]) for e in history_on(host)]
        assert ("memcached", "upgrade", "done") in kinds and ("mariadb", "upgrade", "done") in kinds
    code, data, _, stderr = deploy(env)  # each host keeps its upgraded services on their tag (pinned there)
    assert code == 0 and set(statuses(data).values()) == {"unchanged"}, stderr


def test_a_rollback_returns_each_host_to_its_own_previous_entry(env: dict[str, Any]) -> None:
    lab = env["lab"]
    code, data, elapsed, stderr = berth_json(env, "rollback", "memcached", "--yes")
    print(f"rollback of memcached over 2 hosts: {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    assert set(statuses(data).values()) == {"applied"}
    for host in lab.hosts:
        assert image_of(host, f"{NAME}-memcached") == f"{lab.registry}/berth/memcached:{TAG}"
        assert image_of(host, f"{NAME}-mariadb") == f"{lab.registry}/berth/mariadb:zed2"
        assert history_on(host)[-1]["kind"] == "rollback"


def test_stop_limited_to_one_host_stops_only_its_containers(env: dict[str, Any]) -> None:
    first, second = env["lab"].hosts
    code, data, elapsed, stderr = berth_json(env, "stop", "--limit", second.name, "--yes")
    print(f"stop --limit {second.name}: {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, stderr[-2000:]
    assert statuses(data) == {second.name: "applied"}
    assert not CONTAINERS & running_on(second) and CONTAINERS <= running_on(first)


def test_a_database_is_dumped_and_restored_over_the_network(env: dict[str, Any], tmp_path: Path) -> None:
    """What an upgrade's backup does when MariaDB runs on another host: here from the machine to the first host."""
    from berth.config.loader import load_config
    from berth.lifecycle import netdb

    first = env["lab"].hosts[0]
    config = load_config(env["config"], inventory_path=env["inventory"])
    server = netdb.Server(str(first.address), 3306, str(config.passwords.get("database_password")))
    with netdb.connected(server) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE IF NOT EXISTS berth_netdb")
        cursor.execute("CREATE TABLE berth_netdb.t (id INT PRIMARY KEY, v TEXT, b BLOB)")
        cursor.execute("INSERT INTO berth_netdb.t VALUES (1, 'a\\nb''c', x'00ff0a'), (2, NULL, NULL)")
    before = netdb.fingerprint(server, "berth_netdb")
    backup = netdb.dump(server, "berth_netdb", tmp_path / "berth_netdb.sql.gz")
    assert oct((tmp_path / "berth_netdb.sql.gz").stat().st_mode & 0o777) == "0o600"
    with netdb.connected(server) as conn, conn.cursor() as cursor:
        cursor.execute("DELETE FROM berth_netdb.t WHERE id = 1")
    assert netdb.row_counts(server, "berth_netdb") == {"t": 1}
    netdb.restore(server, backup)
    assert netdb.row_counts(server, "berth_netdb") == {"t": 2} and netdb.fingerprint(server, "berth_netdb") == before
    with netdb.connected(server) as conn:
        assert netdb.query(conn, "SELECT v, HEX(b) FROM berth_netdb.t WHERE id = 1") == [["a\nb'c", "00FF0A"]]


def test_destroy_leaves_nothing_of_the_deployment_on_either_engine(env: dict[str, Any]) -> None:
    code, data, elapsed, stderr = berth_json(env, "destroy", "--yes-i-really-really-mean-it")
    print(f"destroy over 2 hosts: {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    label = f"label=berth.deployment={NAME}"
    for host in env["lab"].hosts:
        assert docker_on(host, "ps", "-a", "-q", "--filter", label) == ""
        assert docker_on(host, "volume", "ls", "-q", "--filter", label) == ""
        assert docker_on(host, "network", "ls", "-q", "--filter", label) == ""
        assert not (host.dir / "root" / "var-lib-berth" / NAME / "history.json").exists()
