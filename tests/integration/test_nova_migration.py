"""Moving a server between two compute hosts of a real multi-host berth cloud: cold and live migration.

`migrate_checks()` is the part a 3-host end-to-end module calls with its own cloud: it needs an `openstack`
runner (the real CLI, admin credentials) and a liveness probe of the guest. Run standalone, this module makes
its own cloud on `berth lab` hosts (lab `mig`: mig1 control + network, mig2 and mig3 compute, registry on the
lab's .1 port 4030), boots berth's test guest and migrates it; everything is removed afterwards. With
BERTH_MIGRATION_CLOUD=DIR it uses a cloud already deployed from DIR (`DIR/etc` config, `DIR/inventory`; made
by the same steps, e.g. by hand) and leaves it running.

What each migration must show: the server ACTIVE on the other compute, nova's migration record confirmed
(cold) or completed (live), and the guest answering ping from its router afterwards; a cold migration boots the
guest again (its marker on the new console). At the end the guest's libvirt domain is on its host only.

berth's test guest ignores ACPI power-off, so nova waits `shutdown_timeout` (60 s) for a clean shutdown before
every cold migration. The standalone test boots its own server from the test guest image with the image property
`os_shutdown_timeout=0`, so its figures are the migration's own work; a server booted without it takes 60 s
longer per cold migration.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sandbox import BERTH, wait_for

pytest.importorskip("ansible_runner")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

NAME, CIDR, PORT = "mig", "198.51.100.0/25", 4030
REGISTRY = f"berth_registry_{NAME}"
REGISTRY_ADDRESS = f"198.51.100.1:{PORT}"  # the lab's .1: the machine tags the images it pushes with it
GUEST_IMAGE = "berth-test-guest"  # init-runonce's test guest (kernel and ramdisk as AKI/ARI images)
SERVER = "mig-vm"
MARKER = "BERTH-TEST-GUEST-OK"
LIVE_API = "2.30"  # block_migration=auto (2.25): the instances directory is each host's own volume

Runner = Callable[..., str]


# -- the helper for any multi-host cloud ----------------------------------------------------------------------


def server_state(openstack: Runner, server: str) -> dict[str, Any]:
    """`openstack server show` as JSON: status, host (OS-EXT-SRV-ATTR:host) and the rest."""
    data: dict[str, Any] = json.loads(openstack("server", "show", "-f", "json", server))
    return data


def host_of(state: dict[str, Any]) -> str:
    """The compute host the server is on (admin view)."""
    return str(state["OS-EXT-SRV-ATTR:host"])


def _settled(openstack: Runner, server: str, statuses: tuple[str, ...]) -> dict[str, Any] | None:
    """The server's state once its status is one of `statuses` and no task runs; ERROR fails at once."""
    state = server_state(openstack, server)
    assert state["status"] != "ERROR", f"{server} went to ERROR: {state.get('fault')}"
    return state if state["status"] in statuses and not state.get("OS-EXT-STS:task_state") else None


def cold_migrate(openstack: Runner, server: str, timeout: float = 600) -> tuple[float, dict[str, Any]]:
    """`server migrate` then `server migrate confirm`: seconds from the call to ACTIVE on the new host."""
    started = time.monotonic()
    openstack("server", "migrate", server)
    wait_for(f"{server} in VERIFY_RESIZE", timeout, lambda: _settled(openstack, server, ("VERIFY_RESIZE",)), 1.0)
    openstack("server", "migration", "confirm", server)
    state = wait_for(f"{server} ACTIVE after confirm", timeout, lambda: _settled(openstack, server, ("ACTIVE",)), 1.0)
    return time.monotonic() - started, state


def live_migrate(openstack: Runner, server: str, timeout: float = 600) -> tuple[float, dict[str, Any]]:
    """`server migrate --live-migration` (block migration chosen by nova): seconds from the call to ACTIVE."""
    before = host_of(server_state(openstack, server))
    started = time.monotonic()
    openstack("--os-compute-api-version", LIVE_API, "server", "migrate", "--live-migration", server)

    def moved() -> dict[str, Any] | None:
        state = _settled(openstack, server, ("ACTIVE",))
        return state if state is not None and host_of(state) != before else None

    state = wait_for(f"{server} ACTIVE on another host than {before}", timeout, moved, 1.0)
    return time.monotonic() - started, state


def last_migration(openstack: Runner, server: str) -> dict[str, Any]:
    """The server's newest migration record (type, status, source and destination)."""
    rows = json.loads(openstack("--os-compute-api-version", "2.59", "server", "migration", "list", "--server",
                                server, "-f", "json"))
    assert rows, f"no migration recorded for {server}"
    return max(rows, key=lambda r: r["Id"])  # type: ignore[no-any-return]


def recorded_seconds(record: dict[str, Any]) -> float:
    """How long nova's migration record says it took: created (the API call) to its last update (done)."""
    def stamp(text: str) -> float:
        return time.mktime(time.strptime(text.split(".")[0], "%Y-%m-%dT%H:%M:%S"))

    return stamp(record["Updated At"]) - stamp(record["Created At"])


def migrate_checks(openstack: Runner, server: str, alive: Callable[[], bool], rounds: int = 1,
                   live: bool = True) -> dict[str, list[float]]:
    """Cold-migrate (and live-migrate) `server` between two computes `rounds` times each; seconds per run.

    `alive()` says whether the guest answers (e.g. ping from its router's namespace). Each cold migration must
    land on another host and boot the guest there (its marker on the new console); each live migration must
    land on another host with the guest running on. Returns wall-clock seconds (the CLI call to ACTIVE, polled
    with the CLI) under "cold"/"live" and nova's own record of each under "cold_recorded"/"live_recorded".
    """
    times: dict[str, list[float]] = {"cold": [], "cold_recorded": [], "live": [], "live_recorded": []}
    for _ in range(rounds):
        before = host_of(server_state(openstack, server))
        seconds, state = cold_migrate(openstack, server)
        record = last_migration(openstack, server)
        assert host_of(state) != before and record["Type"] == "migration", (before, state, record)
        assert record["Status"] == "confirmed", record
        wait_for(f"{server}'s marker on its new console", 180,
                 lambda: MARKER in openstack("console", "log", "show", server))
        wait_for(f"{server} answers after the cold migration", 120, alive)
        times["cold"].append(seconds)
        times["cold_recorded"].append(recorded_seconds(record))
        if live:
            seconds, state = live_migrate(openstack, server)
            record = last_migration(openstack, server)
            assert record["Type"] == "live-migration" and record["Status"] == "completed", record
            wait_for(f"{server} answers after the live migration", 120, alive)
            times["live"].append(seconds)
            times["live_recorded"].append(recorded_seconds(record))
    return times


def boot_server(openstack: Runner, name: str = SERVER) -> dict[str, Any]:
    """A server from the test guest that nova powers off at once (`os_shutdown_timeout=0`, kept in the
    instance's own metadata at boot; the image gets its property back right after)."""
    openstack("image", "set", "--property", "os_shutdown_timeout=0", GUEST_IMAGE)
    try:
        created: dict[str, Any] = json.loads(openstack(
            "server", "create", "--image", GUEST_IMAGE, "--flavor", "m1.tiny", "--network", "demo-net", "--wait",
            "-f", "json", name))
    finally:
        openstack("image", "unset", "--property", "os_shutdown_timeout", GUEST_IMAGE)
    assert created["status"] == "ACTIVE", created
    return created


# -- a cloud of its own on berth lab hosts ----------------------------------------------------------------------


def _run(*argv: str, timeout: float = 1800) -> str:
    """Run a command; fail the test with its output's tail when it fails."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _berth(root: Path, *args: str, inventory: bool = True, timeout: float = 1800) -> str:
    """This berth with the cloud's config dir (and its inventory)."""
    where = ["-i", str(root / "inventory")] if inventory else []
    return _run(*BERTH, "--config-dir", str(root / "etc"), *where, *args, timeout=timeout)


def same_berth_on_hosts(inventory: str) -> str:
    """The lab's inventory with its hosts running the berth this test runs (interpreter and PYTHONPATH): the
    hosts apply the plans this code made (lab hosts share the machine's filesystem)."""
    command = " ".join(BERTH)
    if os.environ.get("PYTHONPATH"):
        command = f"env PYTHONPATH={os.environ['PYTHONPATH']} {command}"
    return re.sub(r"^berth_command=.*$", f'berth_command="{command}"', inventory, flags=re.MULTILINE)


def make_cloud(root: Path) -> None:
    """Lab `mig` (3 hosts), a config dir, every image built and pushed to a registry at the lab's .1, the
    cloud deployed over the lab, admin-openrc.sh written and the test guest booted."""
    from berth.engine import connect
    from berth.images import registry
    from berth.remote.lab import load_lab

    _run(*BERTH, "lab", "up", "--hosts", "3", "--name", NAME, "--cidr", CIDR, "--registry-port", str(PORT))
    lab = load_lab(NAME)
    (root / "etc").mkdir(parents=True, exist_ok=True)
    values = {"deployment_name": NAME, "docker_registry": lab.registry, "registry_port": PORT}
    (root / "etc" / "globals.yml").write_text(yaml.safe_dump(values))
    (root / "inventory").write_text(same_berth_on_hosts(lab.inventory.read_text()))
    _berth(root, "--quiet", "genpwd", inventory=False)
    _berth(root, "--quiet", "build", "--logs-dir", str(root / "logs"), "all", "registry", inventory=False)
    engine = connect()
    registry.start(engine, f"{lab.registry}/berth/registry:zed", PORT, REGISTRY, volume=REGISTRY,
                   extra_address=str(lab.machine_address))
    registry.wait_ready(PORT)
    _berth(root, "--quiet", "push", inventory=False)
    _berth(root, "deploy", "--yes")
    _berth(root, "post-deploy")
    _berth(root, "init-runonce", "--boot-test-server")


def remove_cloud() -> None:
    """Lab down (its hosts' engines, containers and volumes go with it), the registry and its volume, and the
    machine's image tags naming that registry (an image with no other name goes with its tag)."""
    from berth.engine import connect
    from berth.images import registry

    subprocess.run([*BERTH, "lab", "down", "--name", NAME], capture_output=True, timeout=300, check=False)
    engine = connect()
    registry.stop(engine, PORT, REGISTRY)
    if engine.volume(REGISTRY) is not None:
        engine.remove_volume(REGISTRY, force=True)
    listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                            text=True, timeout=60, check=True).stdout.split()
    for ref in listed:
        if ref.startswith(f"{REGISTRY_ADDRESS}/"):
            try:
                engine.remove_image(ref)
            except Exception as exc:  # noqa: BLE001 - the lab and the registry are gone; a tag left is reported
                print(f"{ref} left: {exc}")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    given = os.environ.get("BERTH_MIGRATION_CLOUD")
    if given:
        yield Path(given)
        return
    root = tmp_path_factory.mktemp("migration")
    remove_cloud()
    try:
        make_cloud(root)
        yield root
    finally:
        remove_cloud()


def openstack_of(root: Path) -> Runner:
    """The real `openstack` CLI with the cloud's admin-openrc.sh."""
    venv_bin = Path(BERTH[0]).parent

    def run(*args: str) -> str:
        script = '. "$1"; shift; exec "$0" "$@"'
        return _run("bash", "-c", script, str(venv_bin / "openstack"), str(root / "etc" / "admin-openrc.sh"),
                    *args, timeout=300)

    return run


def lab_docker(host: str, lab: str = NAME) -> list[str]:
    """The docker CLI of one lab host's engine."""
    return ["docker", "-H", f"unix:///var/lib/berth/lab/{lab}/hosts/{host}/docker.sock"]


# One ICMP echo exchange (the agents' images have python3 but no ping); exit 0 when the guest answered.
ICMP_ECHO = """
import socket, struct, sys, time
def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(2)
for seq in range(3):
    head = struct.pack("!BBHHH", 8, 0, 0, 0xBE27, seq) + b"berth-migration!"
    sock.sendto(head[:2] + struct.pack("!H", checksum(head)) + head[4:], (sys.argv[1], 0))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            reply, (source, _) = sock.recvfrom(1024)
        except socket.timeout:
            break
        icmp = reply[(reply[0] & 0x0F) * 4:]
        if source == sys.argv[1] and icmp[0] == 0 and icmp[4:6] == b"\\xbe\\x27":
            sys.exit(0)
sys.exit(1)
"""


def pinger(openstack: Runner, ip: str, lab: str = NAME, network_host: str = f"{NAME}1",
           deployment: str = NAME) -> Callable[[], bool]:
    """Whether `ip` answers ping from the demo router's namespace: run in the L3 agent's container on the
    network host of lab `lab` (the namespace lives in that lab host's mount namespace)."""
    router = json.loads(openstack("router", "show", "demo-router", "-f", "json"))["id"]
    command = [*lab_docker(network_host, lab), "exec", f"{deployment}-neutron_l3_agent", "ip", "netns", "exec",
               f"qrouter-{router}", "python3", "-c", ICMP_ECHO, ip]
    return lambda: subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0


def demo_ip(openstack: Runner, server: str) -> str:
    """The server's demo-net address (init-runonce's tenant network, 10.0.0.0/24)."""
    addresses = json.dumps(server_state(openstack, server)["addresses"])
    found = re.findall(r"10\.0\.0\.\d+", addresses)
    assert found, f"no demo-net address in {addresses}"
    return found[0]


def guests_on(host: str) -> str:
    """`virsh list --all` of one compute's libvirt."""
    return _run(*lab_docker(host), "exec", f"{NAME}-nova_libvirt", "virsh", "-c", "qemu:///system", "list",
                "--all")


def test_migrations_move_the_guest_between_computes(cloud: Path) -> None:
    openstack = openstack_of(cloud)
    computes = {h["Host"] for h in json.loads(openstack("compute", "service", "list", "--service", "nova-compute",
                                                          "-f", "json")) if h["State"] == "up"}
    assert len(computes) >= 2, computes
    boot_server(openstack)
    try:
        alive = pinger(openstack, demo_ip(openstack, SERVER))
        assert wait_for("the server answers ping", 120, alive)
        assert not pinger(openstack, "10.0.0.254")()  # the probe fails for an address nobody has
        times = migrate_checks(openstack, SERVER, alive, rounds=int(os.environ.get("BERTH_MIGRATION_ROUNDS", "1")))
        instance = server_state(openstack, SERVER)["OS-EXT-SRV-ATTR:instance_name"]
        where = {host for host in computes if instance in guests_on(host)}
        assert where == {host_of(server_state(openstack, SERVER))}, where
    finally:
        openstack("server", "delete", "--wait", SERVER)
    for kind, runs in times.items():
        print(f"{kind}: {', '.join(f'{s:.1f}' for s in runs)} s (median {statistics.median(runs):.1f} s)")
