"""`berth lab` for real: two hosts with their own hostnames, interfaces, engines and sshd; a container on one host
reaches a server on the other; a killed host shows down; `lab down` leaves nothing behind.

Uses its own lab name and 203.0.113.0/26 so a user's default lab (198.51.100.0/24) is never touched. No image is
pulled: the probe image is bash and its libraries from this machine, imported into the host's engine.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.cli.main import main
from berth.remote.lab import load_lab
from berth.remote.labplan import Lab, LabHost, ssh_command
from tests.labs import traces

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAME = "blt"
CIDR = "203.0.113.0/26"  # the multi-host e2e uses 203.0.113.128/25; .80 is this machine kind's apt mirror
PROBE = "blt-probe:1"
SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8080)); s.listen(5)
while True:
    c, _ = s.accept(); c.sendall(b"hello from " + sys.argv[2].encode() + b"\\n"); c.close()
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    main(["lab", "down", "--name", NAME])  # a known state, whatever an earlier run left
    started = time.monotonic()
    assert main(["lab", "up", "--hosts", "2", "--name", NAME, "--cidr", CIDR]) == 0
    print(f"lab up --hosts 2: {time.monotonic() - started:.1f}s")
    yield load_lab(NAME)
    main(["lab", "down", "--name", NAME])


def ssh(lab: Lab, host: LabHost, command: str) -> str:
    proc = subprocess.run(ssh_command(lab, host, command), capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def docker(host: LabHost, *args: str, data: bytes | None = None) -> str:
    proc = subprocess.run(["docker", "-H", f"unix://{host.docker_socket}", *args], input=data, capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().strip()


def test_each_host_has_its_own_hostname_interfaces_engine_and_docker_root(lab: Lab) -> None:
    ids = set()
    for host in lab.hosts:
        assert ssh(lab, host, "hostname") == host.name
        assert ssh(lab, host, "ls /sys/class/net").split() == ["eth0", "lo"]
        assert ssh(lab, host, "ip -4 -o addr show dev eth0").split()[3] == f"{host.address}/{lab.network.prefixlen}"
        assert ssh(lab, host, "stat -c %i /var/lib/docker") != str(os.stat("/var/lib/docker").st_ino)
        ids.add(docker(host, "info", "--format", "{{.ID}}"))
    ids.add(subprocess.run(["docker", "info", "--format", "{{.ID}}"], capture_output=True, text=True,
                           check=True).stdout.strip())
    assert len(ids) == 3  # two lab engines and the machine's, all different


def test_up_again_leaves_a_healthy_lab_as_it_is(lab: Lab) -> None:
    pids = [h.pid_file.read_text() for h in lab.hosts]
    started = time.monotonic()
    assert main(["lab", "up", "--hosts", "2", "--name", NAME, "--cidr", CIDR]) == 0
    assert time.monotonic() - started < 10
    assert [h.pid_file.read_text() for h in lab.hosts] == pids


def test_vxlan_between_hosts(lab: Lab) -> None:
    """A VXLAN tunnel over eth0 (what neutron's tenant networks use); overlay addresses stay inside the hosts."""
    overlay = {lab.hosts[0].name: "198.51.100.201", lab.hosts[1].name: "198.51.100.202"}
    for host, peer in (lab.hosts, lab.hosts[::-1]):
        ssh(lab, host, f"ip link add vxblt type vxlan id 4242 dstport 4789 remote {peer.address} dev eth0 && "
                       f"ip addr add {overlay[host.name]}/24 dev vxblt && ip link set vxblt up")
    assert "1 received" in ssh(lab, lab.hosts[0], f"ping -c 1 -W 5 {overlay[lab.hosts[1].name]}")
    for host in lab.hosts:
        ssh(lab, host, "ip link delete vxblt")


def ansible_program() -> Path:
    """ansible-core from the `multinode` extra, which scripts/test.sh installs with the test extra."""
    program = Path(sys.executable).parent / "ansible"
    assert program.exists(), f"{program} is missing: run the tests with scripts/test.sh (pip extra `multinode`)"
    return program


def test_ansible_reaches_every_host_of_the_inventory(lab: Lab) -> None:
    env = {**os.environ, "ANSIBLE_DEPRECATION_WARNINGS": "false", "ANSIBLE_HOME": str(lab.state_dir / "ansible")}
    proc = subprocess.run([str(ansible_program()), "-i", str(lab.inventory), "all", "-m", "ping"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in [*(h.name for h in lab.hosts), f"{NAME}-deploy"]:
        assert f"{name} | SUCCESS" in proc.stdout


def probe_rootfs() -> bytes:
    """bash and the libraries it links, as a tar for `docker import`: enough for a /dev/tcp client."""
    bash = "/bin/bash"
    libs = [w for line in subprocess.run(["ldd", bash], capture_output=True, text=True, check=True).stdout.splitlines()
            for w in line.split() if w.startswith("/")]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in [bash, *libs]:
            tar.add(os.path.realpath(path), arcname=path.lstrip("/"))
    return buffer.getvalue()


def wait_listening(address: str, port: int) -> None:
    for _ in range(100):
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex((address, port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {address}:{port}")


def test_a_container_on_host1_reaches_a_server_on_host2(lab: Lab) -> None:
    one, two = lab.hosts
    docker(one, "import", "-", PROBE, data=probe_rootfs())
    assert PROBE in docker(one, "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert PROBE not in docker(two, "images", "--format", "{{.Repository}}:{{.Tag}}")
    server = subprocess.Popen(["nsenter", f"--net=/run/netns/{two.netns}", sys.executable, "-c", SERVER,
                               str(two.address), two.name])
    try:
        wait_listening(str(two.address), 8080)
        script = f'exec 3<>/dev/tcp/{two.address}/8080 && read -r line <&3 && echo "$line"'
        out = docker(one, "run", "--rm", "--network", "host", PROBE, "/bin/bash", "-c", script)
        assert out == f"hello from {two.name}"
    finally:
        server.kill()
        server.wait()


def status(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    capsys.readouterr()
    code = main(["lab", "status", "--name", NAME, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_killed_host_shows_down(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, before = status(capsys)
    assert code == 0 and all(h["healthy"] for h in before["hosts"])
    assert main(["lab", "kill", lab.hosts[0].name]) == 0
    code, after = status(capsys)
    one, two = after["hosts"]
    assert code == 1
    assert one["init_pid"] is None and one["engine"] is None and one["ssh"] is False and not one["healthy"]
    assert two["healthy"]


def test_up_boots_a_lost_host_again_with_its_disk(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "up", "--hosts", "2", "--name", NAME, "--cidr", CIDR]) == 0
    code, after = status(capsys)
    assert code == 0 and all(h["healthy"] for h in after["hosts"])
    assert PROBE in docker(lab.hosts[0], "images", "--format", "{{.Repository}}:{{.Tag}}")


def test_down_leaves_no_namespace_link_mount_process_or_state(lab: Lab) -> None:
    assert traces(NAME) != []
    started = time.monotonic()
    assert main(["lab", "down", "--name", NAME]) == 0
    print(f"lab down: {time.monotonic() - started:.1f}s")
    assert traces(NAME) == []
    assert main(["lab", "down", "--name", NAME]) == 0  # idempotent


def test_down_sweeps_a_partial_lab_without_a_record() -> None:
    """As after an `up` interrupted early: a namespace and the machine link, nothing recorded."""
    subprocess.run(["ip", "netns", "add", f"berth-lab-{NAME}1"], check=True)
    subprocess.run(["ip", "link", "add", f"blab-{NAME}", "type", "veth", "peer", "name", f"blab-{NAME}-p"],
                   check=True)
    assert main(["lab", "down", "--name", NAME]) == 0
    assert traces(NAME) == []
