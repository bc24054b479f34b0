"""Ceph over three `berth lab` hosts through Ansible, for real: three monitors in one quorum, three OSDs, pools
keeping three copies; then `berth -i INVENTORY upgrade ceph --tag T` swaps every monitor one host at a time, then
every manager, then every OSD (service.yml `serial_across_hosts`), and the quorum is never lost meanwhile.

The lab is the e2e lab's address range and registry port (203.0.113.128/25, 4020) under its own name and the
upper /26: do not run it at the same time as tests/e2e/test_multihost_cloud.py. Lab hosts have their own
/var/lib/berth, so each host's monitor store and OSD file live there (ceph_data_dir). They share the machine's
kernel, disk and 2 CPUs (docs/lab.md): the figures printed here are lab figures.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
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
from tests.labs import docker_on, running_on
from tests.sandbox import BERTH, TAG

pytest.importorskip("ansible_runner")
# extended: the module takes ~4.5 min with the upgrade left out (lab, push, a deploy over 3 hosts), more than CI's
# budget has left (measured figures: docs/storage.md, "Ceph on three lab hosts")
pytestmark = [pytest.mark.integration, pytest.mark.extended, pytest.mark.timeout(1800)]

NAME = "e2es"
CIDR = "203.0.113.192/26"
PORT = 4020
REGISTRY = f"berth_registry_{NAME}"
DAEMONS = ("ceph_mon", "ceph_mgr", "ceph_osd")
UPGRADE_TAG = "berth-upgrade-test"
# the hosts run the berth under test (this checkout, this interpreter), not whatever `berth` is installed
UNDER_TEST = f"env PYTHONPATH={Path(__file__).resolve().parents[2]} {sys.executable} -m berth"


def storage_inventory(lab: Lab) -> str:
    """The lab's inventory with every host in `storage`, running the berth under test."""
    text = re.sub(r"^berth_command=.*$", f"berth_command={shlex.quote(UNDER_TEST)}", lab.inventory.read_text(),
                  flags=re.MULTILINE)
    hosts = "\n".join(f"{h.name} ansible_host={h.address} api_address={h.address} network_interface=eth0"
                      for h in lab.hosts)
    return text.replace("[storage]\n", f"[storage]\n{hosts}\n", 1)


def write_config(root: Path, lab: Lab) -> Path:
    config_dir = root / "etc"
    config_dir.mkdir()
    values = {"deployment_name": NAME, "docker_registry": lab.registry, "registry_port": PORT,
              "ceph_data_dir": "/var/lib/berth/data-ceph", "ceph_osd_size_gb": 2,
              **{enable_key(n): n == "ceph" for n in service_names()}}
    (config_dir / "globals.yml").write_text(yaml.safe_dump(values, sort_keys=False))
    assert main(["--quiet", "--config-dir", str(config_dir), "genpwd"]) == 0
    (root / "inventory").write_text(storage_inventory(lab))
    return config_dir


def berth_json(env: dict[str, Any], *args: str, timeout: float = 1200) -> tuple[int, dict[str, Any], float, str]:
    """`berth -i INVENTORY --json ARGS` in its own process: exit status, JSON, seconds, stderr."""
    started = time.monotonic()
    proc = subprocess.run([*BERTH, "--config-dir", str(env["config"]), "-i", str(env["inventory"]), "--json", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    elapsed = time.monotonic() - started
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"no JSON (exit {proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-3000:]}") from None
    return proc.returncode, data, elapsed, proc.stderr


def ceph(host: LabHost, *args: str, timeout: float = 60) -> Any:
    """A `ceph` command with the admin key in the host's monitor container; its JSON answer."""
    out = docker_on(host, "exec", f"{NAME}-ceph_mon", "ceph", "--connect-timeout", "20", *args, "--format", "json",
                    timeout=timeout)
    return json.loads(out or "null")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    main(["lab", "down", "--name", NAME])
    started = time.monotonic()
    assert main(["lab", "up", "--hosts", "3", "--name", NAME, "--cidr", CIDR, "--registry-port", str(PORT)]) == 0
    print(f"lab up (3 hosts): {time.monotonic() - started:.1f}s")
    lab = load_lab(NAME)
    root = tmp_path_factory.mktemp("ceph-multihost")
    config_dir = write_config(root, lab)
    engine = connect()
    try:
        assert main(["--quiet", "--config-dir", str(config_dir), "build", "--logs-dir", str(root / "logs"), "ceph",
                     "registry"]) == 0
        registry.start(engine, f"{lab.registry}/berth/registry:{TAG}", PORT, REGISTRY, volume=REGISTRY,
                       extra_address=str(lab.machine_address))
        registry.wait_ready(PORT)
        pushed = time.monotonic()
        assert main(["--quiet", "--config-dir", str(config_dir), "push", "ceph"]) == 0
        print(f"push ceph and its parents: {time.monotonic() - pushed:.1f}s")
        env = {"lab": lab, "config": config_dir, "inventory": root / "inventory"}
        code, data, elapsed, stderr = berth_json(env, "deploy", "--yes")
        assert code == 0, json.dumps(data.get("hosts"), indent=1)[-4000:] + stderr[-3000:]
        print(f"ceph deploy over 3 hosts (3 mon, 3 mgr, 3 OSD on 2 GiB files, pools, keys; images pulled by each "
              f"host): {elapsed:.1f}s; timings {data['timings']}")
        yield env
    finally:
        main(["lab", "down", "--name", NAME])
        registry.stop(engine, PORT, REGISTRY)
        if engine.volume(REGISTRY) is not None:
            engine.remove_volume(REGISTRY, force=True)
        for image in ("base", "ceph", "registry"):  # the tags this test added to the machine's images
            for tag in (TAG, UPGRADE_TAG):
                ref = f"{lab.registry}/berth/{image}:{tag}"
                if engine.image(ref) is not None:
                    engine.remove_image(ref)


def test_three_monitors_in_quorum_three_osds_up_and_three_copies(env: dict[str, Any]) -> None:
    hosts = env["lab"].hosts
    for host in hosts:
        assert {f"{NAME}-{d}" for d in DAEMONS} <= running_on(host)
    names = [h.name for h in hosts]

    def whole() -> dict[str, Any] | None:
        status = ceph(hosts[0], "status")
        osds = status["osdmap"]
        ready = sorted(status["quorum_names"]) == sorted(names) and osds["num_up_osds"] == osds["num_osds"] == 3
        return status if ready and status["health"]["status"] == "HEALTH_OK" else None

    deadline = time.monotonic() + 300
    status = None
    while status is None and time.monotonic() < deadline:
        status = whole()
        if status is None:
            time.sleep(5)
    last = ceph(hosts[0], "status")
    assert status is not None, json.dumps({k: last.get(k) for k in ("health", "quorum_names", "osdmap")})[-3000:]
    # each monitor binds its own host's address
    mons = {m["name"]: m["public_addr"] for m in ceph(hosts[1], "mon", "dump")["mons"]}
    assert {n: a.split(":")[0] for n, a in mons.items()} == {h.name: str(h.address) for h in hosts}
    pools = {p["pool_name"]: (p["size"], p["min_size"]) for p in ceph(hosts[2], "osd", "pool", "ls", "detail")}
    assert {pools[p] for p in ("images", "volumes", "backups", "vms")} == {(3, 2)}


def started_at(host: LabHost, daemon: str) -> str:
    return docker_on(host, "inspect", "--format", "{{.State.StartedAt}}", f"{NAME}-{daemon}").strip()


def test_an_upgrade_goes_daemon_by_daemon_across_hosts_and_never_loses_the_quorum(env: dict[str, Any]) -> None:
    """Every monitor, one host at a time, then every manager, then every OSD; a poller asks the cluster for its
    quorum all along (through whichever monitor answers): never fewer than two monitors of three in it."""
    lab = env["lab"]
    hosts = lab.hosts
    # the same image under another tag: every daemon is swapped
    subprocess.run(["docker", "tag", f"{lab.registry}/berth/ceph:{TAG}", f"{lab.registry}/berth/ceph:{UPGRADE_TAG}"],
                   check=True)
    registry.push(connect(), f"{lab.registry}/berth/ceph:{UPGRADE_TAG}")  # through loopback, as `berth push`
    seen: list[tuple[float, int]] = []  # (time, monitors in the quorum) of every answer
    unanswered: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        turn = 0
        while not stop.is_set():
            host = hosts[turn % len(hosts)]
            turn += 1
            try:
                seen.append((time.monotonic(), len(ceph(host, "quorum_status", timeout=30)["quorum_names"])))
            except (AssertionError, ValueError, subprocess.TimeoutExpired):
                unanswered.append(time.monotonic())  # that host's monitor is being swapped
            time.sleep(0.5)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        code, data, elapsed, stderr = berth_json(env, "upgrade", "ceph", "--tag", UPGRADE_TAG, "--yes")
    finally:
        stop.set()
        poller.join(60)
    assert code == 0, json.dumps(data.get("hosts"), indent=1)[-4000:] + stderr[-3000:]
    print(f"ceph upgrade over 3 hosts, one daemon at a time: {elapsed:.1f}s; timings {data['timings']}; "
          f"{len(seen)} quorum answers (fewest monitors in one: {min((n for _t, n in seen), default=0)}), "
          f"{len(unanswered)} polls unanswered")
    starts = {(h.name, d): started_at(h, d) for h in hosts for d in DAEMONS}
    for host in hosts:
        for daemon in DAEMONS:
            ref = docker_on(host, "inspect", "--format", "{{.Config.Image}}", f"{NAME}-{daemon}").strip()
            assert ref.endswith(f":{UPGRADE_TAG}"), (host.name, daemon, ref)
    # every monitor (re)started before any manager, every manager before any OSD
    for earlier, later in (("ceph_mon", "ceph_mgr"), ("ceph_mgr", "ceph_osd")):
        assert max(starts[(h.name, earlier)] for h in hosts) < min(starts[(h.name, later)] for h in hosts), starts
    assert seen and min(n for _t, n in seen) >= 2, seen
    assert sorted(ceph(hosts[0], "quorum_status")["quorum_names"]) == sorted(h.name for h in hosts)
    osds = ceph(hosts[1], "status")["osdmap"]
    assert osds["num_up_osds"] == osds["num_osds"] == 3
    # each host recorded the upgrade (its history entry pins the tag): a deploy keeps every daemon where it is
    code, data, elapsed, stderr = berth_json(env, "deploy", "--yes")
    assert code == 0 and {h["host"]: h["status"] for h in data["hosts"]} == dict.fromkeys(
        (h.name for h in hosts), "unchanged"), json.dumps(data.get("hosts"), indent=1)[-3000:] + stderr[-2000:]
