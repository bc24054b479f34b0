"""A whole cloud over three `berth lab` hosts through Ansible, end to end (issue 12's acceptance list).

e2e1 is control + network (MariaDB, RabbitMQ, Memcached, every API, Horizon, the L3/DHCP/metadata agents),
e2e2 and e2e3 are computes (nova-compute, libvirt, the L2 agent). Images come from a registry container of the
machine's engine published on the lab's .1 (pushed once, pulled by each host's own engine: nothing is built on a
host). Checked with the real clients: a server on each compute, on two networks joined by a router, pings the
other (guest → VXLAN → router on e2e1 → VXLAN → guest); a fourth host joins as a compute, runs a server, and is
removed again; a host's engine killed in the middle of a deploy fails that host by name while the other
completes, and the next run finishes the job; a compute's and then the control host's engine stopped and started
again (a host reboot) bring the APIs and the running server back; `destroy` leaves nothing on any host and `lab
down` nothing on the machine.

The hosts share the machine's kernel, /usr and its 2 CPUs (docs/lab.md): timings printed here are lab figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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
from tests.labs import docker_on, kill_engine, processes_of, running_on, traces
from tests.sandbox import BERTH, wait_for

pytest.importorskip("ansible_runner")
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

NAME = "e2e"  # lab and deployment
CIDR = "203.0.113.128/25"
PORT = 4020
REGISTRY = f"berth_registry_{NAME}"
# Zed: Epoxy's ML2/OVS runs on Open vSwitch's userspace datapath, whose VXLAN needs the tunnel address on an OVS
# bridge; tenant traffic between lab hosts does not flow yet (a server on a compute gets no DHCP lease), so the
# many-host cloud stays on Zed's linuxbridge until it does (docs/upgrade.md, "Limits")
RELEASE = "zed"
L2_AGENT_TYPE = "Linux bridge agent"
L2_AGENT_CONTAINERS = {"neutron_linuxbridge_agent"}
CONTROL = {"mariadb", "rabbitmq", "memcached", "keystone", "glance_api", "placement_api", "nova_api",
           "nova_scheduler", "nova_conductor", "nova_novncproxy", "neutron_server", "neutron_dhcp_agent",
           "neutron_l3_agent", "neutron_metadata_agent", "heat_api", "heat_engine", "horizon"} | L2_AGENT_CONTAINERS
COMPUTE = {"nova_compute", "nova_libvirt", "nova_ssh", "neutron_host_setup", "logrotate",
           "log_forwarder"} | L2_AGENT_CONTAINERS


class Cloud:
    """The lab, the config dir and inventory on the deployment host (this machine), and CLI helpers."""

    def __init__(self, lab: Lab, root: Path) -> None:
        self.lab, self.root = lab, root
        self.config = root / "etc"
        self.inventory = root / "inventory"

    def host(self, name: str) -> LabHost:
        return self.lab.host(name)

    def refresh(self) -> None:
        """The lab's inventory as `berth lab up` (re)wrote it: what an operator would copy."""
        self.lab = load_lab(NAME)
        self.inventory.write_text(self.lab.inventory.read_text())

    def berth(self, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BERTH, "--config-dir", str(self.config), "-i", str(self.inventory), *args],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def deploy(self, *extra: str) -> tuple[int, dict[str, Any], float, str]:
        return self.deploy_like("deploy", *extra)

    def deploy_like(self, command: str, *extra: str, yes: str = "--yes") -> tuple[int, dict[str, Any], float, str]:
        """A changing command over the hosts, confirmed, with --json: exit status, its JSON, seconds, stderr."""
        started = time.monotonic()
        proc = self.berth("--json", command, yes, *extra)
        elapsed = time.monotonic() - started
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"no JSON (exit {proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-3000:]}") \
                from None
        return proc.returncode, data, elapsed, proc.stderr

    def client(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """The `openstack` CLI of berth's environment with the admin clouds.yaml post-deploy wrote."""
        env = {"OS_CLOUD": "berth-admin", "OS_CLIENT_CONFIG_FILE": str(self.config / "clouds.yaml")}
        return subprocess.run([str(Path(BERTH[0]).parent / "openstack"), *args], capture_output=True, text=True,
                              timeout=timeout, env=env, check=False)

    def openstack(self, *args: str, timeout: float = 300) -> Any:
        """A command that prints a value (`-f json`), parsed."""
        proc = self.client(*args, "-f", "json", timeout=timeout)
        assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr[-2000:]}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def act(self, *args: str, timeout: float = 300) -> None:
        """A command that prints nothing (add, delete, migrate ...)."""
        proc = self.client(*args, timeout=timeout)
        assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr[-2000:]}"

    def text(self, *args: str) -> str:
        """A command's output as text (what tests/e2e/migration.py's runner returns)."""
        proc = self.client(*args)
        assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr[-2000:]}"
        return proc.stdout

    def console(self, server: str) -> str:
        proc = self.client("console", "log", "show", server, timeout=120)
        return proc.stdout if proc.returncode == 0 else ""


def statuses(data: dict[str, Any]) -> dict[str, str]:
    return {h["host"]: h["status"] for h in data["hosts"]}


def write_config(root: Path, lab: Lab) -> Path:
    config = root / "etc"
    config.mkdir()
    (config / "globals.yml").write_text(yaml.safe_dump({"deployment_name": NAME, "docker_registry": lab.registry,
                                                        "registry_port": PORT, "openstack_release": RELEASE,
                                                        "enable_central_logging": True},
                                                       sort_keys=False))
    assert main(["--quiet", "--config-dir", str(config), "genpwd"]) == 0
    return config


def image_tags(lab: Lab) -> list[str]:
    """The machine's image tags in the lab registry's name (added by this module's build, removed at the end)."""
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True, check=True).stdout.split()
    return [ref for ref in out if ref.startswith(f"{lab.registry}/")]


KEEP = os.environ.get("BERTH_E2E_KEEP") == "1"  # developers: keep the lab and reuse it in the next run
KEPT = Path("/var/tmp/berth-e2e-multihost")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    reuse = KEEP and (KEPT / "etc" / "passwords.yml").exists() and (Path("/var/lib/berth/lab") / NAME).exists()
    started = time.monotonic()
    if not reuse:
        main(["lab", "down", "--name", NAME])
        assert main(["lab", "up", "--hosts", "3", "--name", NAME, "--cidr", CIDR, "--registry-port", str(PORT)]) == 0
        print(f"lab up (3 hosts): {time.monotonic() - started:.1f}s")
    lab = load_lab(NAME)
    root = KEPT if KEEP else tmp_path_factory.mktemp("multihost-cloud")
    if not reuse:
        shutil.rmtree(root / "etc", ignore_errors=True)
        # the deployment's state of an earlier run on this machine (its history, its recorded release)
        shutil.rmtree(Path("/var/lib/berth") / NAME, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        write_config(root, lab)
    env = Cloud(lab, root)
    env.refresh()
    engine = connect()
    try:
        if not reuse:
            push_images(env, engine)
        code, data, elapsed, stderr = env.deploy()
        print(f"first deploy over 3 hosts (images pulled by each host): {elapsed:.1f}s; timings {data['timings']}")
        assert code == 0, json.dumps(data["hosts"], indent=1)[-4000:] + stderr[-3000:]
        assert env.berth("post-deploy").returncode == 0
        runonce = env.berth("init-runonce")
        assert runonce.returncode == 0, runonce.stdout[-2000:] + runonce.stderr[-2000:]
        print(f"lab up to a usable 3-host cloud: {time.monotonic() - started:.1f}s")
        if reuse:
            forget_test_resources(env)
        else:
            assert statuses(data) == {"e2e1": "deployed", "e2e2": "deployed", "e2e3": "deployed"}
        yield env
    finally:
        if not KEEP:
            remove_lab(engine, lab)


def remove_lab(engine: Any, lab: Lab) -> None:
    """The lab, its registry container and volume, and the image tags made for it: nothing of it stays."""
    main(["lab", "down", "--name", NAME])
    registry.stop(engine, PORT, REGISTRY)
    if engine.volume(REGISTRY) is not None:
        engine.remove_volume(REGISTRY, force=True)
    for ref in image_tags(lab):
        engine.remove_image(ref)


def push_images(env: Cloud, engine: Any) -> None:
    """The enabled services' images, tagged for the lab registry (cached builds: only tags), pushed once; each
    host pulls."""
    assert main(["--quiet", "--config-dir", str(env.config), "build", "--logs-dir", str(env.root / "logs"), "enabled",
                 "registry"]) == 0
    registry.start(engine, f"{env.lab.registry}/berth/registry:{RELEASE}", PORT, REGISTRY, volume=REGISTRY,
                   extra_address=str(env.lab.machine_address))
    registry.wait_ready(PORT)
    pushed = time.monotonic()
    assert main(["--quiet", "--config-dir", str(env.config), "push", "enabled"]) == 0
    print(f"push the enabled services' images to the lab registry: {time.monotonic() - pushed:.1f}s")


def forget_test_resources(env: Cloud) -> None:
    """What an earlier kept run of this module made in the cloud (servers, the second network)."""
    for server in env.openstack("server", "list", "--all-projects"):
        if server["Name"].startswith("e2e-"):
            env.act("server", "delete", "--wait", server["ID"])
    env.client("router", "remove", "subnet", "demo-router", "e2e-subnet2")
    env.client("network", "delete", "e2e-net2")


def containers_on(host: LabHost) -> set[str]:
    return {n.removeprefix(f"{NAME}-") for n in running_on(host)}


def test_each_host_runs_the_containers_of_its_groups(cloud: Cloud) -> None:
    assert CONTROL <= containers_on(cloud.host("e2e1"))
    assert not {"nova_compute", "nova_libvirt"} & containers_on(cloud.host("e2e1"))
    for compute in ("e2e2", "e2e3"):
        assert containers_on(cloud.host(compute)) == COMPUTE
    machine = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert not [n for n in machine if n.startswith(f"{NAME}-")]


def test_a_second_deploy_changes_nothing_and_status_shows_every_host(cloud: Cloud) -> None:
    code, data, elapsed, stderr = cloud.deploy()
    print(f"no-op deploy over 3 hosts: {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, stderr[-2000:]
    assert set(statuses(data).values()) == {"unchanged"} and data["applied"] is False
    proc = cloud.berth("status", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)["containers"]
    assert {r["host"] for r in rows} == {"e2e1", "e2e2", "e2e3"}
    assert all(r["state"] == "running" and not r["drift"] for r in rows), [r for r in rows if r["drift"]]


def test_the_cloud_sees_both_computes_and_every_agent(cloud: Cloud) -> None:
    hypervisors = wait_for("both computes up", 120, lambda: (found := cloud.openstack("hypervisor", "list"))
                           and len([h for h in found if h["State"] == "up"]) == 2 and found)
    assert {h["Hypervisor Hostname"] for h in hypervisors} == {"e2e2", "e2e3"}
    assert {h["Host IP"] for h in hypervisors} == {str(cloud.host("e2e2").address), str(cloud.host("e2e3").address)}

    def agents() -> list[dict[str, Any]] | None:
        found = cloud.openstack("network", "agent", "list")
        alive = {(a["Host"], a["Agent Type"]) for a in found if a["Alive"] in (True, ":-)")}
        wanted = {("e2e1", t) for t in (L2_AGENT_TYPE, "DHCP agent", "L3 agent", "Metadata agent")}
        wanted |= {(h, L2_AGENT_TYPE) for h in ("e2e2", "e2e3")}
        return found if wanted <= alive else None

    wait_for("every network agent alive on its host", 120, agents)


def boot(cloud: Cloud, name: str, network: str, host: str, user_data: Path | None = None) -> dict[str, Any]:
    """A test guest on `host` (admin's `nova:HOST` zone), ACTIVE."""
    extra = ["--user-data", str(user_data)] if user_data else []
    created = cloud.openstack("server", "create", "--image", "berth-test-guest", "--flavor", "m1.tiny",
                              "--network", network, "--availability-zone", f"nova:{host}", *extra, name)

    def active() -> dict[str, Any] | None:
        shown = cloud.openstack("server", "show", created["id"])
        assert shown["status"] != "ERROR", shown.get("fault")
        return shown if shown["status"] == "ACTIVE" else None

    shown = wait_for(f"{name} ACTIVE on {host}", 180, active)
    assert shown["OS-EXT-SRV-ATTR:host"] == host
    return shown


def address_of(server: dict[str, Any]) -> str:
    addresses = server["addresses"]
    return next(iter(addresses.values()))[0] if isinstance(addresses, dict) else addresses.split("=")[1]


def console_lines(cloud: Cloud, server: dict[str, Any], wanted: str, timeout: float = 240) -> str:
    return wait_for(f"{wanted!r} on {server['name']}'s console", timeout,
                    lambda: (out := cloud.console(server["id"])) and wanted in out and out, interval=3)


@pytest.fixture(scope="module")
def servers(cloud: Cloud) -> dict[str, dict[str, Any]]:
    """`a` on e2e2 in demo-net, `b` on e2e3 in a second network behind the same router; b pings a."""
    net = cloud.openstack("network", "create", "e2e-net2")
    cloud.openstack("subnet", "create", "--network", net["id"], "--subnet-range", "10.0.2.0/24", "e2e-subnet2")
    cloud.act("router", "add", "subnet", "demo-router", "e2e-subnet2")
    a = boot(cloud, "e2e-a", "demo-net", "e2e2")
    user_data = cloud.root / "ping-a"
    # 10.0.0.250 has no server: the negative control proves `ok` is not printed for any address
    user_data.write_text(f"berth-ping {address_of(a)}\nberth-ping 10.0.0.250\n")
    b = boot(cloud, "e2e-b", "e2e-net2", "e2e3", user_data)
    return {"a": a, "b": b}


def test_the_central_logs_hold_every_hosts_lines(cloud: Cloud) -> None:
    """enable_central_logging over the lab: both computes' nova-compute lines reach the monitoring host (e2e1)
    and are found from the deployment host (read there through Ansible, masked here), each host named."""
    def computes_seen() -> set[str]:
        proc = cloud.berth("--json", "logs", "--all", "--service", "nova", "--since", "2h")
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = json.loads(proc.stdout)
        assert {r["host"] for r in rows if r["container"] == "nova-api"} <= {"e2e1"}
        return {r["host"] for r in rows if r["container"] == "nova-compute"}

    wait_for("nova-compute lines of e2e2 and e2e3 in the central logs", 120,
             lambda: computes_seen() >= {"e2e2", "e2e3"})


def test_servers_on_each_compute_get_dhcp_and_metadata(cloud: Cloud, servers: dict[str, dict[str, Any]]) -> None:
    for server in servers.values():
        console = console_lines(cloud, server, "BERTH-INSTANCE-ID")
        assert f"BERTH-IP {address_of(server)}" in console, console[-1500:]
        assert f"BERTH-INSTANCE-ID {server['id']}" in console, console[-1500:]


def test_a_server_pings_the_other_compute_through_the_router(cloud: Cloud,
                                                             servers: dict[str, dict[str, Any]]) -> None:
    a, b = servers["a"], servers["b"]
    console = console_lines(cloud, b, f"BERTH-PING {address_of(a)} ")
    assert f"BERTH-PING {address_of(a)} ok" in console, console[-1500:]
    control = console_lines(cloud, b, "BERTH-PING 10.0.0.250 ", timeout=240)
    assert "BERTH-PING 10.0.0.250 failed" in control, control[-1500:]


def test_a_server_moves_between_computes_cold_and_live(cloud: Cloud, servers: dict[str, dict[str, Any]]) -> None:
    """Cold migration (nova_ssh between the computes), then live migration (qemu+ssh), of the server on e2e2;
    it answers ping from its router after each (tests/e2e/migration.py says what each must show)."""
    from tests.e2e.migration import migrate_checks, pinger

    a = servers["a"]
    network_host = ["docker", "-H", f"unix://{cloud.host('e2e1').docker_socket}"]
    alive = pinger(cloud.text, address_of(a), network_host, NAME)
    assert wait_for("server a answers ping from its router", 120, alive)
    assert not pinger(cloud.text, "10.0.0.254", network_host, NAME)()  # the probe fails for an unused address
    times = migrate_checks(cloud.text, a["id"], alive)
    print("migrations of a test guest between two lab computes: "
          + ", ".join(f"{kind} {runs[0]:.1f}s" for kind, runs in times.items() if runs))
    where = cloud.openstack("server", "show", a["id"])["OS-EXT-SRV-ATTR:host"]
    instance = cloud.openstack("server", "show", a["id"])["OS-EXT-SRV-ATTR:instance_name"]
    for compute in ("e2e2", "e2e3"):
        listed = docker_on(cloud.host(compute), "exec", f"{NAME}-nova_libvirt", "virsh", "-c", "qemu:///system",
                           "list", "--all")
        assert (instance in listed) == (compute == where), (compute, where, listed)


def test_a_fourth_host_joins_as_a_compute_and_runs_a_server(cloud: Cloud) -> None:
    assert main(["lab", "up", "--hosts", "4", "--name", NAME, "--cidr", CIDR, "--registry-port", str(PORT)]) == 0
    cloud.refresh()
    code, data, elapsed, stderr = cloud.deploy("--limit", "e2e4")
    print(f"deploy --limit e2e4 (a new compute): {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    assert statuses(data) == {"e2e4": "deployed"}
    assert containers_on(cloud.host("e2e4")) == COMPUTE
    # the scheduler maps the new compute into the cell once it registers (discover_hosts_in_cells_interval)
    server = wait_for("a server scheduled on e2e4", 180, lambda: _try_boot(cloud, "e2e-d", "e2e4"), interval=10)
    assert server["OS-EXT-SRV-ATTR:host"] == "e2e4"


def _try_boot(cloud: Cloud, name: str, host: str) -> dict[str, Any] | None:
    """Boot on `host`; None (and the server deleted) while the host is not mapped into the cell yet."""
    try:
        return boot(cloud, name, "demo-net", host)
    except AssertionError:
        for server in cloud.openstack("server", "list", "--name", f"^{name}$"):
            cloud.act("server", "delete", "--wait", server["ID"])
        return None


def test_remove_host_refuses_while_a_server_runs_there_then_takes_the_host_out(cloud: Cloud) -> None:
    refused = cloud.berth("remove-host", "e2e4", "--yes")
    assert refused.returncode != 0 and "e2e-d" in refused.stderr and "--migrate" in refused.stderr, refused.stderr
    assert containers_on(cloud.host("e2e4")) == COMPUTE  # nothing was changed
    started = time.monotonic()
    proc = cloud.berth("remove-host", "e2e4", "--migrate", "--yes")
    print(f"remove-host e2e4 --migrate (one server moved): {time.monotonic() - started:.1f}s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    moved = cloud.openstack("server", "show", "e2e-d")
    assert moved["status"] == "ACTIVE" and moved["OS-EXT-SRV-ATTR:host"] in ("e2e2", "e2e3")
    leftovers = docker_on(cloud.host("e2e4"), "ps", "-a", "--format", "{{.Names}}").split()
    leftovers += docker_on(cloud.host("e2e4"), "volume", "ls", "--format", "{{.Name}}").split()
    assert not [n for n in leftovers if n.startswith((f"{NAME}-", f"{NAME}_"))], leftovers
    assert "e2e4" not in {h["Hypervisor Hostname"] for h in cloud.openstack("hypervisor", "list")}
    assert "e2e4" not in {s["Host"] for s in cloud.openstack("compute", "service", "list")}
    assert "e2e4" not in {a["Host"] for a in cloud.openstack("network", "agent", "list")}
    # the operator deletes the host from the inventory; the cloud's deploy then plans nothing anywhere
    text = cloud.inventory.read_text()
    cloud.inventory.write_text("\n".join(line for line in text.splitlines() if not line.startswith("e2e4 ")) + "\n")
    code, data, _elapsed, stderr = cloud.deploy()
    assert code == 0 and set(statuses(data).values()) == {"unchanged"}, stderr[-2000:]


def retag(cloud: Cloud, tag: str) -> list[str]:
    """Nova's pushed images under a second tag in the lab registry (through loopback, like `berth push`)."""
    done = []
    for ref in image_tags(cloud.lab):
        name = ref.split("/")[-1]
        if name.startswith("nova-") and name.endswith(":zed"):
            local = f"127.0.0.1:{PORT}/berth/{name.removesuffix(':zed')}:{tag}"
            subprocess.run(["docker", "tag", ref, local], check=True, timeout=60)
            subprocess.run(["docker", "push", "-q", local], check=True, capture_output=True, timeout=600)
            subprocess.run(["docker", "rmi", local], check=True, capture_output=True, timeout=60)
            done.append(name)
    return done


def created(host: LabHost, name: str) -> str:
    return docker_on(host, "inspect", "--format", "{{.Created}}", f"{NAME}-{name}").strip()


@pytest.mark.extended  # ~3 min of CI's 60; the HA e2e's rolling upgrade behind the VIP stays in the default run
def test_a_rolling_upgrade_of_the_computes_one_host_at_a_time(cloud: Cloud,
                                                              servers: dict[str, dict[str, Any]]) -> None:
    """nova on the computes to a new tag, `--serial 1`: e2e3 changes only after e2e2 is done; the controller
    stays; the server on e2e2 runs again afterwards (qemu lives in nova_libvirt: its swap stops the guest and the
    new nova-compute resumes it) and a new server on the other compute reaches it."""
    assert retag(cloud, "zed2")
    code, data, elapsed, stderr = cloud.deploy_like("upgrade", "nova", "--tag", "zed2", "--limit", "compute",
                                                    "--serial", "1")
    print(f"upgrade nova --limit compute --serial 1: {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    assert statuses(data) == {"e2e2": "applied", "e2e3": "applied"}
    for compute in ("e2e2", "e2e3"):
        image = docker_on(cloud.host(compute), "inspect", "--format", "{{.Config.Image}}", f"{NAME}-nova_compute")
        assert image.strip().endswith("/berth/nova-compute:zed2")
    assert docker_on(cloud.host("e2e1"), "inspect", "--format", "{{.Config.Image}}",
                     f"{NAME}-nova_api").strip().endswith(":zed")
    first = max(created(cloud.host("e2e2"), c) for c in ("nova_compute", "nova_libvirt"))
    second = min(created(cloud.host("e2e3"), c) for c in ("nova_compute", "nova_libvirt"))
    assert first < second, (first, second)
    a = servers["a"]
    wait_for("server a ACTIVE again", 180, lambda: cloud.openstack("server", "show", a["id"])["status"] == "ACTIVE")
    user_data = cloud.root / "ping-a-again"
    user_data.write_text(f"berth-ping {address_of(a)}\n")
    probe = boot(cloud, "e2e-c", "e2e-net2", "e2e3", user_data)
    console = console_lines(cloud, probe, f"BERTH-PING {address_of(a)} ")
    assert f"BERTH-PING {address_of(a)} ok" in console, console[-1500:]
    code, data, _elapsed, stderr = cloud.deploy()  # the computes keep their upgraded tag (pinned on each host)
    assert code == 0 and set(statuses(data).values()) == {"unchanged"}, stderr[-2000:]


def test_an_engine_killed_mid_deploy_fails_that_host_and_the_next_run_finishes(cloud: Cloud) -> None:
    """A configuration change for both computes; e2e3's engine is killed while `berth apply-plan` runs there."""
    for compute in ("e2e2", "e2e3"):
        override = cloud.config / "config" / "nova" / "host" / compute / "nova_compute" / "nova.conf"
        override.parent.mkdir(parents=True, exist_ok=True)
        override.write_text("[DEFAULT]\nreserved_host_memory_mb = 256\n")
    victim = cloud.host("e2e3")
    killed: list[int] = []

    def kill_when_applying() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            if any("apply-plan" in cmd for cmd in processes_of(victim).values()):
                time.sleep(1.0)  # the apply is under way: its first container change is being made
                killed.extend(kill_engine(victim))
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_when_applying, daemon=True)
    killer.start()
    code, data, elapsed, stderr = cloud.deploy("--limit", "e2e2,e2e3")
    killer.join(timeout=10)
    print(f"deploy with e2e3's engine killed mid-apply: {elapsed:.1f}s; timings {data['timings']}")
    assert killed, "the apply on e2e3 was never seen"
    assert code == 7, stderr[-2000:]
    assert statuses(data) == {"e2e2": "deployed", "e2e3": "failed"}
    failed = next(h for h in data["hosts"] if h["host"] == "e2e3")
    assert "e2e3" in stderr and failed["message"], failed

    assert main(["lab", "up", "--hosts", "4", "--name", NAME, "--cidr", CIDR, "--registry-port", str(PORT)]) == 0
    wait_for("e2e3's engine restarting its containers", 120,
             lambda: {"nova_libvirt"} | L2_AGENT_CONTAINERS <= containers_on(victim), 2.0)
    code, data, elapsed, stderr = cloud.deploy("--limit", "e2e2,e2e3")
    print(f"the next deploy after e2e3 came back: {elapsed:.1f}s; timings {data['timings']}")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    assert statuses(data) == {"e2e2": "unchanged", "e2e3": "deployed"}
    assert containers_on(victim) == COMPUTE
    assert not [n for n in docker_on(victim, "ps", "-a", "--format", "{{.Names}}").split() if n.endswith("--aside")]
    code, data, _elapsed, stderr = cloud.deploy()
    assert code == 0 and set(statuses(data).values()) == {"unchanged"}, stderr[-2000:]


def test_engine_restarts_bring_back_the_cloud_and_its_servers(cloud: Cloud,
                                                              servers: dict[str, dict[str, Any]]) -> None:
    """As at a host reboot: the engine of the compute running server a is stopped (every container of the host
    stops at once, the guest's qemu with libvirt) and started again, then the control host's; each time every API
    answers again and the server is ACTIVE and answers ping again (nova-compute starts the guests that ran:
    `resume_guests_state_on_host_boot`). The seconds each took are printed (bench/bench_engine_restart.py: medians).
    """
    from tests.e2e import engine_restart
    from tests.e2e.migration import pinger

    a = cloud.openstack("server", "show", servers["a"]["id"])
    network_host = ["docker", "-H", f"unix://{cloud.host('e2e1').docker_socket}"]
    alive = pinger(cloud.text, address_of(a), network_host, NAME)
    assert wait_for("server a answers ping before the restarts", 120, alive)
    for name in (a["OS-EXT-SRV-ATTR:host"], "e2e1"):
        took = engine_restart.restart(cloud.host(name), cloud.client, a["id"], alive)
        print(f"engine restart of {took.line()}")
    code, data, _elapsed, stderr = cloud.deploy()  # the engines brought everything back: nothing to do
    assert code == 0 and set(statuses(data).values()) == {"unchanged"}, stderr[-2000:]


def in_host(host: LabHost, *argv: str) -> str:
    """A command in the host's own mount and network namespaces (its /run/netns, its links)."""
    init = host.pid_file.read_text().split()[0]
    return subprocess.run(["nsenter", "-t", init, "-m", "-n", *argv], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def test_destroy_leaves_nothing_of_the_deployment_on_any_host(cloud: Cloud) -> None:
    if KEEP:
        pytest.skip("BERTH_E2E_KEEP=1 keeps the cloud for the next run")
    code, data, elapsed, stderr = cloud.deploy_like("destroy", yes="--yes-i-really-really-mean-it")
    print(f"destroy over 3 hosts: {elapsed:.1f}s; timings {data.get('timings')}")
    assert code == 0, json.dumps(data.get("hosts"), indent=1)[-3000:] + stderr[-2000:]
    for name in ("e2e1", "e2e2", "e2e3"):
        host = cloud.host(name)
        left = docker_on(host, "ps", "-a", "--format", "{{.Names}}").split()
        left += docker_on(host, "volume", "ls", "--format", "{{.Name}}").split()
        assert not [n for n in left if n.startswith((f"{NAME}-", f"{NAME}_"))], (name, left)
        links = [line.split(":")[1].strip() for line in in_host(host, "ip", "-o", "link").splitlines()]
        assert not [n for n in links if n.startswith(("brq", "vxlan-", "tap", "berth-ext"))], (name, links)
        assert not [n for n in in_host(host, "ip", "netns", "list").split() if n.startswith(("qrouter-", "qdhcp-"))]


def test_lab_down_leaves_nothing_on_the_machine(cloud: Cloud) -> None:
    if KEEP:
        pytest.skip("BERTH_E2E_KEEP=1 keeps the lab for the next run")
    assert traces(NAME)
    assert main(["lab", "down", "--name", NAME]) == 0
    assert traces(NAME) == []
