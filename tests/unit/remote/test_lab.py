"""The lab's plan: names, addresses, refusals, the inventory it writes and the commands that build it. Pure."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from berth.cli.main import main
from berth.config.inventory import parse_ini_inventory
from berth.errors import ExitCode
from berth.remote import labplan
from berth.remote.labplan import LabUsageError, plan_lab

ROOT = Path("/nowhere/lab")


def test_default_lab_has_three_hosts_from_dot_11_and_the_machine_at_dot_1() -> None:
    lab = plan_lab(state_root=ROOT)
    assert [h.name for h in lab.hosts] == ["lab1", "lab2", "lab3"]
    assert [str(h.address) for h in lab.hosts] == ["198.51.100.11", "198.51.100.12", "198.51.100.13"]
    assert lab.machine_address == IPv4Address("198.51.100.1")
    assert lab.registry == "198.51.100.1:4000"
    assert [h.netns for h in lab.hosts] == ["berth-lab-lab1", "berth-lab-lab2", "berth-lab-lab3"]
    assert lab.fabric_netns == "berth-lab-lab-fabric" and lab.machine_link == "blab-lab"
    assert lab.hosts[1].dir == ROOT / "lab" / "hosts" / "lab2"


def test_names_fit_linux_interface_names() -> None:
    lab = plan_lab("abcdefgh", 40, "203.0.113.0/24", state_root=ROOT)
    names = [lab.machine_link, *(h.fabric_link for h in lab.hosts)]
    assert max(len(n) for n in names) <= 15


@pytest.mark.parametrize("cidr", ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "203.0.113.0/25"])
def test_test_net_ranges_are_accepted(cidr: str) -> None:
    assert str(labplan.parse_cidr(cidr)) == cidr


@pytest.mark.parametrize("cidr", ["10.0.0.0/24", "192.168.1.0/24", "198.51.0.0/16", "8.8.8.0/24", "2001:db8::/64"])
def test_other_ranges_are_refused_naming_the_allowed_ones(cidr: str) -> None:
    with pytest.raises(LabUsageError) as caught:
        labplan.parse_cidr(cidr)
    assert f"refusing CIDR {cidr}" in caught.value.message
    assert "198.51.100.0/24" in caught.value.message and caught.value.exit_code == ExitCode.USAGE


def test_malformed_cidr_is_a_usage_error() -> None:
    with pytest.raises(LabUsageError, match="invalid CIDR"):
        labplan.parse_cidr("198.51.100.5/24")


@pytest.mark.parametrize("name", ["", "Lab", "lab1", "1lab", "averylongname", "la-b"])
def test_bad_lab_names_are_refused(name: str) -> None:
    with pytest.raises(LabUsageError, match="invalid lab name"):
        plan_lab(name, state_root=ROOT)


def test_a_network_too_small_for_the_hosts_is_refused() -> None:
    with pytest.raises(LabUsageError, match="too small"):
        plan_lab("lab", 5, "203.0.113.0/28", state_root=ROOT)
    with pytest.raises(LabUsageError, match="between 1 and"):
        plan_lab("lab", 0, state_root=ROOT)


@pytest.mark.parametrize("count, expected", [
    (1, [("control", "network", "compute", "monitoring")]),
    (2, [("control", "network", "monitoring"), ("compute",)]),
    (3, [("control", "network", "monitoring"), ("compute",), ("compute",)]),
])
def test_layout_first_host_controls_the_rest_compute(count: int, expected: list[tuple[str, ...]]) -> None:
    assert labplan.layout(count) == expected


def test_several_controllers_for_an_ha_lab_survive_the_record() -> None:
    lab = plan_lab("ha", 4, "203.0.113.0/26", state_root=ROOT, controllers=3)
    assert [h.groups for h in lab.hosts] == [("control", "network", "monitoring")] * 3 + [("compute",)]
    assert labplan.lab_from_json(labplan.lab_to_json(lab), ROOT) == lab and lab.controllers == 3
    assert labplan.layout(2, 2) == [("control", "network", "compute", "monitoring")] * 2
    with pytest.raises(LabUsageError, match="--controllers must be between 1 and the number of hosts"):
        labplan.layout(3, 4)


def test_inventory_is_what_berth_reads_with_every_standard_group() -> None:
    lab = plan_lab(state_root=ROOT)
    inventory = parse_ini_inventory(labplan.inventory_text(lab), Path("inventory"))
    assert inventory.problems() == []
    assert inventory.hosts_in("control") == ["lab1"] and inventory.hosts_in("network") == ["lab1"]
    assert inventory.hosts_in("compute") == ["lab2", "lab3"] and inventory.hosts_in("storage") == []
    assert inventory.hosts_in("deployment") == ["lab-deploy"]
    lab2 = inventory.hosts["lab2"].vars
    assert lab2["ansible_host"] == "198.51.100.12" and lab2["api_address"] == "198.51.100.12"
    assert lab2["network_interface"] == "eth0" and lab2["ansible_user"] == "root"
    assert lab2["ansible_python_interpreter"] == "/usr/bin/python3"
    assert lab2["ansible_ssh_private_key_file"] == str(ROOT / "lab" / "id_ed25519")
    assert f"UserKnownHostsFile={ROOT}/lab/known_hosts" in lab2["ansible_ssh_common_args"]
    assert lab2["berth_command"] == "berth"
    deploy = inventory.hosts["lab-deploy"].vars
    assert deploy["ansible_connection"] == "local" and deploy["ansible_host"] == "198.51.100.1"


def test_the_inventory_tells_hosts_to_run_the_berth_that_made_the_lab() -> None:
    """Lab hosts share the machine's filesystem: the same program runs there, at the same path."""
    text = labplan.inventory_text(plan_lab(state_root=ROOT), "/srv/berth env/bin/berth")
    inventory = parse_ini_inventory(text, Path("inventory"))
    assert inventory.hosts["lab1"].vars["berth_command"] == "/srv/berth env/bin/berth"


def test_fabric_commands_keep_the_bridge_in_its_own_namespace() -> None:
    lab = plan_lab("ci", 2, "203.0.113.0/24", state_root=ROOT)
    commands = [" ".join(c) for c in labplan.fabric_commands(lab)]
    assert commands[0] == "ip netns add berth-lab-ci-fabric"
    assert "ip -n berth-lab-ci-fabric link add br0 type bridge" in commands
    assert ("ip link add blab-ci address 02:00:cb:00:71:01 type veth peer name machine netns berth-lab-ci-fabric"
            in commands)
    assert commands[-2:] == ["ip addr add 203.0.113.1/24 dev blab-ci", "ip link set blab-ci up"]


def test_host_commands_give_it_lo_and_eth0_with_a_fixed_mac_and_no_route_out() -> None:
    lab = plan_lab("ci", 2, "203.0.113.0/24", state_root=ROOT)
    commands = [" ".join(c) for c in labplan.host_link_commands(lab, lab.hosts[1])]
    assert commands == [
        "ip netns add berth-lab-ci2",
        "ip -n berth-lab-ci-fabric link add ci2 type veth peer name eth0 address 02:00:cb:00:71:0c netns berth-lab-ci2",
        "ip -n berth-lab-ci-fabric link set ci2 master br0",
        "ip -n berth-lab-ci-fabric link set ci2 up",
        "ip -n berth-lab-ci2 link set lo up",
        "ip -n berth-lab-ci2 addr add 203.0.113.12/24 dev eth0",
        "ip -n berth-lab-ci2 link set eth0 up",
    ]
    assert not any("route" in c for c in commands)


def test_boot_enters_the_network_namespace_then_new_mount_uts_pid_namespaces_under_an_init() -> None:
    lab = plan_lab("ci", 1, "203.0.113.0/24", state_root=ROOT)
    host = lab.hosts[0]
    command = labplan.boot_command(host, "/usr/bin/docker-init")
    assert command[:2] == ["nsenter", "--net=/run/netns/berth-lab-ci1"]
    assert command[2:9] == ["unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc"]
    assert command[9:] == ["/usr/bin/docker-init", "--", "/bin/sh", str(host.boot_script), "ci1", "203.0.113.11",
                           str(host.dir)]


def test_teardown_deletes_host_namespaces_then_the_machine_link_and_the_fabric() -> None:
    lab = plan_lab("ci", 2, "203.0.113.0/24", state_root=ROOT)
    assert [" ".join(c) for c in labplan.teardown_commands(lab)] == [
        "ip netns delete berth-lab-ci1", "ip netns delete berth-lab-ci2", "ip link delete blab-ci",
        "ip netns delete berth-lab-ci-fabric"]


def test_engine_config_uses_host_networking_its_own_cgroup_and_the_lab_registry() -> None:
    lab = plan_lab("ci", 1, "203.0.113.0/24", registry_port=4100, state_root=ROOT)
    config = labplan.daemon_json(lab, lab.hosts[0])
    assert config["bridge"] == "none" and config["iptables"] is False
    assert config["cgroup-parent"] == "/berth-lab-ci1"
    assert config["insecure-registries"] == ["203.0.113.1:4100"]


def test_every_host_resolves_every_lab_host_name() -> None:
    lab = plan_lab("ci", 3, "203.0.113.0/24", state_root=ROOT)
    text = labplan.hosts_file(lab, lab.hosts[1])
    assert "127.0.0.1 localhost\n" in text and "203.0.113.1 ci-deploy\n" in text
    assert all(f"{h.address} {h.name}\n" in text for h in lab.hosts)


def test_sshd_listens_on_the_host_address_only_with_keys_only() -> None:
    host = plan_lab("ci", 1, "203.0.113.0/24", state_root=ROOT).hosts[0]
    text = labplan.sshd_config(host)
    assert "ListenAddress 203.0.113.11:22\n" in text and "PasswordAuthentication no\n" in text
    assert text.count("ListenAddress") == 1


def test_ssh_uses_the_lab_key_and_known_hosts_never_the_users() -> None:
    lab = plan_lab("ci", 1, "203.0.113.0/24", state_root=ROOT)
    command = labplan.ssh_command(lab, lab.hosts[0], "true")
    assert command[:5] == ["ssh", "-F", "/dev/null", "-i", str(ROOT / "ci" / "id_ed25519")]
    assert f"UserKnownHostsFile={ROOT}/ci/known_hosts" in command and command[-2:] == ["root@203.0.113.11", "true"]
    known = labplan.known_hosts_text(lab, {"ci1": "ssh-ed25519 AAAAkey ci1-host-key\n"})
    assert known == "ci1,203.0.113.11 ssh-ed25519 AAAAkey\n"


def test_the_record_round_trips() -> None:
    lab = plan_lab("ci", 2, "203.0.113.0/24", registry_port=4100, state_root=ROOT)
    assert labplan.lab_from_json(labplan.lab_to_json(lab), ROOT) == lab


def test_unknown_host_names_the_hosts() -> None:
    with pytest.raises(LabUsageError) as caught:
        plan_lab("lab", 2, state_root=ROOT).host("lab9")
    assert caught.value.hint == "its hosts: lab1, lab2"


def test_cli_refuses_a_cidr_outside_test_net_before_touching_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "up", "--name", "zz", "--cidr", "10.1.0.0/24"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "refusing CIDR 10.1.0.0/24" in err and "hint:" in err


def test_lab_help_says_what_the_lab_is_honest_for(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "up", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "share this machine's kernel, /usr and CPUs" in out and "not for per-host packages or kernels" in out


def test_a_failed_host_is_named_with_the_last_lines_of_its_logs(tmp_path: Path) -> None:
    from berth.remote.lab import host_failed

    host = plan_lab("ci", 1, "203.0.113.0/24", state_root=tmp_path).hosts[0]
    host.boot_log.parent.mkdir(parents=True)
    host.boot_log.write_text("boot ci1: starting dockerd\n")
    host.dockerd_log.write_text("".join(f"line {n}\n" for n in range(20)) + "failed to start daemon: boom\n")
    err = host_failed(host, "it stopped while booting")
    assert err.message == "lab host ci1 failed: it stopped while booting"
    assert "  boot ci1: starting dockerd" in err.details and err.details[-1] == "  failed to start daemon: boom"
    assert "  line 12" not in err.details and str(host.dockerd_log) in (err.hint or "")


def test_registry_refuses_to_publish_on_an_address_berth_does_not_own(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "start", "--address", "192.0.2.2"]) == ExitCode.CONFIG
    assert "refusing to publish the registry on 192.0.2.2" in capsys.readouterr().err
