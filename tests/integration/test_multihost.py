"""`berth -i INVENTORY deploy` over two lab hosts through Ansible, for real.

Two `berth lab` hosts (own name and network, so a user's default lab is never touched), both in `control`, each
running MariaDB and Memcached; the first host is where they are bootstrapped, so the second is applied after it
(wave 2). (Keystone is left out: a second Keystone host needs the first one's Fernet keys, which berth does not
distribute yet; a Keystone on one host deploys through this path the same way.)
Images come from a registry container of the machine's engine published on the lab's .1 (its own name, volume
and port, so a user's registry is never touched): the machine pushes through loopback, the hosts pull at .1.
Checked: containers on the right engines, a second deploy changes nothing, a lost host fails the next deploy
naming it while the other host applies its part, and after the host is back the next deploy finishes the job.
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
from tests.sandbox import BERTH, wait_for

pytest.importorskip("ansible_runner")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

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
    values = {"deployment_name": NAME, "docker_registry": lab.registry, "registry_port": PORT,
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
        registry.start(engine, f"{lab.registry}/berth/registry:zed", PORT, REGISTRY, volume=REGISTRY,
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
            ref = f"{lab.registry}/berth/{image}:zed"
            if engine.image(ref) is not None:
                engine.remove_image(ref)


def deploy(env: dict[str, Any], *extra: str) -> tuple[int, dict[str, Any], float, str]:
    """`berth -i INVENTORY deploy --yes --json` in its own process: exit status, JSON, seconds, stderr."""
    started = time.monotonic()
    proc = subprocess.run([*BERTH, "--config-dir", str(env["config"]), "-i", str(env["inventory"]), "deploy",
                           "--yes", "--json", *extra], capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.monotonic() - started
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"no JSON (exit {proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-3000:]}") from None
    return proc.returncode, data, elapsed, proc.stderr


def statuses(data: dict[str, Any]) -> dict[str, str]:
    return {h["host"]: h["status"] for h in data["hosts"]}


def running_on(host: LabHost) -> set[str]:
    proc = subprocess.run(["docker", "-H", f"unix://{host.docker_socket}", "ps", "--filter", "status=running",
                           "--format", "{{.Names}}"],
                          capture_output=True, text=True, timeout=30, check=True)
    return set(proc.stdout.split())


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
