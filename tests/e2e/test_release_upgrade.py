"""OpenStack Zed -> 2025.1 (Epoxy) and back, for real: `berth upgrade --release epoxy` on a running Zed cloud with
resources in it, then `berth rollback --release zed --restore-database`.

The cloud is its own deployment (`berthrel` on 127.0.0.57, own Erlang ports, provider interface and VNI range),
deployed from Zed images and populated by `init-runonce --boot-test-server` (networks, router, floating IPs, a
running server) plus a user, a project, an image and a security group made here. Every check uses the real
`openstack` CLI; the server's liveness is ICMP from its router's namespace. Tests run in file order and share the
one cloud; the module removes everything the deployment made at the end, also when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cloud_env import CloudEnv
from tests.e2e.migration import pinger
from tests.sandbox import wait_for

pytestmark = pytest.mark.e2e

NAME = "berthrel"
STATE: dict[str, Any] = {}  # what earlier tests made, for the later ones


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudEnv]:
    work = tmp_path_factory.mktemp("berth-release")
    env = CloudEnv(NAME, "127.0.0.57", "berthrel-ext0", "8601:8700", 4457, 25757, work / "config")
    env.remove_containers()
    env.write_globals({"openstack_release": "zed"})
    try:
        env.berth("genpwd")
        env.berth("build", "enabled")
        env.berth("deploy", "--yes")
        env.berth("post-deploy")
        env.berth("init-runonce", "--boot-test-server", timeout=900)
        yield env
    finally:
        env.teardown()


def _json(env: CloudEnv, *args: str) -> Any:
    return json.loads(env.openstack(*args, "-f", "json"))


def _release_in_globals(env: CloudEnv, release: str) -> None:
    """What the operator does once the release changed: globals.yml names it (or leaves it out)."""
    path = env.config_dir / "globals.yml"
    values = yaml.safe_load(path.read_text())
    values["openstack_release"] = release
    path.write_text(yaml.safe_dump(values))


def _images(env: CloudEnv) -> dict[str, str]:
    out = subprocess.run(["docker", "ps", "--filter", f"label=berth.deployment={NAME}", "--format",
                          '{{.Label "berth.container"}} {{.Image}}'], capture_output=True, text=True, check=True)
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.strip())


def _max_microversion(env: CloudEnv) -> str:
    rows = _json(env, "versions", "show", "--service", "compute", "--status", "CURRENT")
    return str(rows[0]["Max Microversion"])


def _alive(env: CloudEnv, server: str) -> Callable[[], bool]:
    shown = _json(env, "server", "show", server)
    address = re.findall(r"10\.0\.0\.\d+", json.dumps(shown["addresses"]))[0]
    return pinger(env.openstack, address, ["docker"], NAME)


def _resources(env: CloudEnv) -> dict[str, set[str]]:
    return {"projects": {p["Name"] for p in _json(env, "project", "list")},
            "users": {u["Name"] for u in _json(env, "user", "list")},
            "images": {i["Name"] for i in _json(env, "image", "list")},
            "networks": {n["Name"] for n in _json(env, "network", "list")},
            "routers": {r["Name"] for r in _json(env, "router", "list")},
            "security groups": {g["Name"] for g in _json(env, "security", "group", "list")},
            "servers": {s["Name"] for s in _json(env, "server", "list")}}


def test_zed_cloud_with_resources(cloud: CloudEnv) -> None:
    env = cloud
    env.openstack("project", "create", "rel-project")
    env.openstack("user", "create", "--project", "rel-project", "--password", os.urandom(8).hex(), "rel-user")
    data = env.config_dir.parent / "rel.raw"
    data.write_bytes(os.urandom(1 << 20))
    env.openstack("image", "create", "--file", str(data), "--disk-format", "raw", "--container-format", "bare",
                  "rel-image")
    env.openstack("security", "group", "create", "rel-sg")
    STATE["before"] = _resources(env)
    assert {"berth-test"} <= STATE["before"]["servers"] and "demo-router" in STATE["before"]["routers"]
    STATE["zed_microversion"] = _max_microversion(env)
    assert STATE["zed_microversion"] == "2.93"  # Zed's newest compute microversion
    wait_for("the Zed test server answers ping", 120, _alive(env, "berth-test"))
    assert all(ref.endswith(":zed") for ref in _images(env).values())


def test_upgrade_refuses_an_unsupported_pair_and_plans_first(cloud: CloudEnv) -> None:
    proc = cloud.berth("upgrade", "--release", "zed", "--yes", check=False)
    assert proc.returncode != 0 and "already runs OpenStack zed" in proc.stdout + proc.stderr
    plan = cloud.berth("upgrade", "--release", "epoxy", "--plan").stdout
    assert "upgrade OpenStack zed -> epoxy" in plan and "keystone:" in plan and "neutron:" in plan
    assert all(ref.endswith(":zed") for ref in _images(cloud).values()), "--plan changed something"


def test_upgrade_to_epoxy(cloud: CloudEnv) -> None:
    start = time.monotonic()
    proc = cloud.berth("upgrade", "--release", "epoxy", "--yes", timeout=3600)
    STATE["upgrade_seconds"] = time.monotonic() - start
    print(f"berth upgrade --release epoxy: {STATE['upgrade_seconds']:.1f}s")
    assert "to OpenStack epoxy" in proc.stdout
    images = _images(cloud)
    infra = {"mariadb", "rabbitmq", "memcached", "logrotate"}
    assert all(ref.endswith(":zed") for key, ref in images.items() if key in infra), images
    assert all(ref.endswith(":epoxy") for key, ref in images.items() if key not in infra), images
    _release_in_globals(cloud, "epoxy")
    assert "nothing to do" in cloud.berth("deploy", "--yes").stdout  # the upgrade left the final configuration


def test_everything_survives_the_upgrade(cloud: CloudEnv) -> None:
    env = cloud
    after = _resources(env)
    for kind, names in STATE["before"].items():
        assert names <= after[kind], f"{kind} lost in the upgrade: {names - after[kind]}"
    assert _max_microversion(env) == "2.100"  # 2025.1's newest compute microversion
    identity = _json(env, "versions", "show", "--service", "identity")
    assert any(v["Version"] == "3.14" and v["Status"] == "CURRENT" for v in identity), identity
    network = _json(env, "versions", "show", "--service", "network")
    assert any(v["Status"] == "CURRENT" for v in network), network
    agents = wait_for("the Epoxy network agents alive", 180, lambda: _agents_alive(env))
    assert "Open vSwitch agent" in agents and "Linux bridge agent" not in agents, agents
    server = _json(env, "server", "show", "berth-test")
    assert server["status"] == "ACTIVE", server
    wait_for("the server from before the upgrade answers ping", 300, _alive(env, "berth-test"))


def _agents_alive(env: CloudEnv) -> set[str] | None:
    agents = _json(env, "network", "agent", "list")
    alive = {a["Agent Type"] for a in agents if a["Alive"] in (True, ":-)")}
    return alive if len(alive) >= 4 and len(alive) == len({a["Agent Type"] for a in agents}) else None


def test_a_new_server_boots_on_epoxy(cloud: CloudEnv) -> None:
    env = cloud
    created = _json(env, "server", "create", "--image", "berth-test-guest", "--flavor", "m1.tiny", "--network",
                    "demo-net", "--wait", "rel-after")
    assert created["status"] == "ACTIVE", created
    wait_for("the new server answers ping", 300, _alive(env, "rel-after"))


@pytest.mark.extended  # the release rollback: ~4 min of CI's 60 (a service's rollback: test_upgrade.py)
def test_rollback_without_restore_database_refuses(cloud: CloudEnv) -> None:
    proc = cloud.berth("rollback", "--release", "zed", "--yes", check=False)
    assert proc.returncode != 0 and "--restore-database" in proc.stdout + proc.stderr
    assert all(ref.endswith((":epoxy", ":zed")) for ref in _images(cloud).values())
    assert _max_microversion(cloud) == "2.100", "the refused rollback changed something"


@pytest.mark.extended  # the release rollback: ~4 min of CI's 60 (a service's rollback: test_upgrade.py)
def test_rollback_to_zed_restores_the_databases(cloud: CloudEnv) -> None:
    env = cloud
    start = time.monotonic()
    proc = env.berth("rollback", "--release", "zed", "--restore-database", "--yes", timeout=3600)
    print(f"berth rollback --release zed --restore-database: {time.monotonic() - start:.1f}s")
    assert "to OpenStack zed" in proc.stdout
    assert re.search(r"lost in nova\.instances: \d+ row", proc.stdout), proc.stdout[-3000:]
    assert all(ref.endswith(":zed") for ref in _images(env).values()), _images(env)
    _release_in_globals(env, "zed")
    assert "nothing to do" in env.berth("deploy", "--yes").stdout
    assert _max_microversion(env) == "2.93"
    after = _resources(env)
    for kind, names in STATE["before"].items():
        assert names <= after[kind], f"{kind} lost in the rollback: {names - after[kind]}"
    assert "rel-after" not in after["servers"]  # made after the upgrade: its rows are gone with the restore
    agents = wait_for("the Zed network agents alive", 180, lambda: _agents_alive(env))
    assert "Linux bridge agent" in agents and "Open vSwitch agent" not in agents, agents
    wait_for("the server from before the upgrade answers ping on Zed again", 300, _alive(env, "berth-test"))


@pytest.mark.extended  # the release rollback: ~4 min of CI's 60 (a service's rollback: test_upgrade.py)
def test_history_tells_the_story(cloud: CloudEnv) -> None:
    table = cloud.berth("history").stdout
    assert "upgrade" in table and "rollback" in table
    assert Path(cloud.config_dir / "state" / NAME / "release").read_text().strip() == "zed"
