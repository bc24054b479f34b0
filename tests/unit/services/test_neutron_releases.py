"""Neutron's L2 wiring per release: ML2/OVS on Open vSwitch's userspace datapath for epoxy (neutron 26 has no
linuxbridge), ML2 linuxbridge for zed exactly as before; what `berth destroy` removes for each."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from berth.config.loader import load_config
from berth.lifecycle import teardown
from berth.lifecycle.render import render_desired
from berth.state.desired import DesiredState
from berth.state.facts import HostNet
from berth.state.model import load_service

OVS = {"openvswitch_db", "openvswitch_vswitchd", "neutron_openvswitch_agent"}
RUN = "unit_openvswitch_run:/run/openvswitch"


def _config_dir(root: Path, release: str) -> Path:
    from berth.cli.main import main

    root.mkdir()
    (root / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {root}/state\nopenstack_release: {release}\n"
                                      "neutron_external_interface: unit-ext0\n")
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return root


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("neutron")
    return {r: _config_dir(root / r, r) for r in ("epoxy", "zed")}


@pytest.fixture(scope="module")
def desired(dirs: dict[str, Path]) -> dict[str, DesiredState]:
    return {r: render_desired(load_config(d), {}) for r, d in dirs.items()}


def _ini(state: DesiredState, key: str, name: str) -> configparser.ConfigParser:
    container = state.container(key)
    assert container is not None
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(container.files[name])
    return parser


def _keys(state: DesiredState) -> set[str]:
    return {c.key for c in state.containers}


def test_epoxy_runs_open_vswitch_and_its_agent_instead_of_linuxbridge(desired: dict[str, DesiredState]) -> None:
    keys = _keys(desired["epoxy"])
    assert OVS <= keys and "neutron_linuxbridge_agent" not in keys


def test_zed_runs_the_linuxbridge_agent_and_no_open_vswitch(desired: dict[str, DesiredState]) -> None:
    keys = _keys(desired["zed"])
    assert "neutron_linuxbridge_agent" in keys and not OVS & keys
    unit = next(u for u in desired["zed"].services if u.name == "neutron")
    assert not [v for v in unit.volumes if "openvswitch" in v]  # no empty OVS volumes on zed hosts


def test_open_vswitch_containers_share_the_run_directory_unprivileged(desired: dict[str, DesiredState]) -> None:
    state = desired["epoxy"]
    for key in ("openvswitch_db", "openvswitch_vswitchd", "neutron_openvswitch_agent", "neutron_dhcp_agent",
                "neutron_l3_agent", "nova_compute"):
        container = state.container(key)
        assert container is not None and RUN in container.spec["volumes"], key
        assert container.spec["privileged"] is False
    switch = state.container("openvswitch_vswitchd")
    assert switch is not None
    assert switch.spec["cap_add"] == ["NET_ADMIN"] and switch.spec["devices"] == ["/dev/net/tun"]
    assert "add-port unit-ex unit-ext0" in switch.files["berth-ovs-vswitchd.sh"]
    assert "datapath_type=netdev" in switch.files["berth-ovs-vswitchd.sh"]


def test_epoxy_agents_use_ovs_on_the_userspace_datapath(desired: dict[str, DesiredState]) -> None:
    state = desired["epoxy"]
    agent = _ini(state, "neutron_openvswitch_agent", "openvswitch_agent.ini")
    assert agent["ovs"]["datapath_type"] == "netdev"
    assert agent["ovs"]["bridge_mappings"] == "physnet1:unit-ex"
    assert agent["ovs"]["ovsdb_connection"] == "unix:/run/openvswitch/db.sock"
    assert agent["agent"]["tunnel_types"] == "vxlan"
    assert agent["securitygroup"]["firewall_driver"] == "iptables_hybrid"
    for key, name in (("neutron_dhcp_agent", "dhcp_agent.ini"), ("neutron_l3_agent", "l3_agent.ini")):
        ini = _ini(state, key, name)
        assert ini["DEFAULT"]["interface_driver"] == "openvswitch" and ini["DEFAULT"]["ovs_use_veth"] == "true"
        assert ini["ovs"]["ovsdb_connection"] == "unix:/run/openvswitch/db.sock"
    ml2 = _ini(state, "neutron_server", "ml2_conf.ini")
    assert ml2["ml2"]["mechanism_drivers"] == "openvswitch,l2population"
    server = _ini(state, "neutron_server", "neutron.conf")
    assert not server.has_section("experimental") and "allow_overlapping_ips" not in server["DEFAULT"]
    assert "metadata_workers" not in _ini(state, "neutron_metadata_agent", "metadata_agent.ini")["DEFAULT"]


def test_epoxy_nova_compute_plugs_with_os_vif_ovs(desired: dict[str, DesiredState]) -> None:
    nova = desired["epoxy"].container("nova_compute")
    assert nova is not None
    assert json.loads(nova.files["config.json"])["privsep_preload"] == ["nova.privsep", "vif_plug_ovs"]
    assert _ini(desired["epoxy"], "nova_compute", "nova.conf")["os_vif_ovs"]["ovsdb_connection"] == \
        "unix:/run/openvswitch/db.sock"


def test_zed_keeps_linuxbridge_everywhere(desired: dict[str, DesiredState]) -> None:
    state = desired["zed"]
    assert _ini(state, "neutron_server", "ml2_conf.ini")["ml2"]["mechanism_drivers"] == "linuxbridge,l2population"
    assert _ini(state, "neutron_server", "neutron.conf")["experimental"]["linuxbridge"] == "true"
    for key, name in (("neutron_dhcp_agent", "dhcp_agent.ini"), ("neutron_l3_agent", "l3_agent.ini")):
        ini = _ini(state, key, name)
        assert ini["DEFAULT"]["interface_driver"] == "linuxbridge" and not ini.has_section("ovs")
    nova = state.container("nova_compute")
    assert nova is not None and not [v for v in nova.spec["volumes"] if "openvswitch" in v]
    assert json.loads(nova.files["config.json"])["privsep_preload"] == ["nova.privsep", "vif_plug_linux_bridge"]
    assert "os_vif_ovs" not in nova.files["nova.conf"]
    setup = state.container("neutron_host_setup")
    assert setup is not None and "DOCKER-USER -i brq+ -o brq+" in setup.files["berth-host-apply.sh"]


HOST = HostNet(links=("unit-ext0", "unit-ext0-p", "unit-int", "unit-tun", "unit-ex", "qbr1234", "qvo1234", "qvb1234",
                      "brq5678", "vxlan-12", "docker0", "br-0f1e2d", "tap1234", "br-int", "other-int", "ovs-netdev"),
               namespaces=("qrouter-1", "qdhcp-2", "other"),
               rules=("-A DOCKER-USER -i brq+ -o brq+ -j ACCEPT", "-A DOCKER-USER -i qbr+ -o qbr+ -j ACCEPT"),
               legacy_chains=("neutron-filter-top", "neutron-linuxbri-FORWARD", "neutron-openvswi-FORWARD"))


def test_destroy_removes_the_ovs_bridges_on_epoxy_only_and_hybrid_devices_on_both(dirs: dict[str, Path]) -> None:
    service = load_service("neutron")
    found = {r: {(o.kind, o.name) for o in teardown.find(load_config(d), service, HOST)} for r, d in dirs.items()}
    # hybrid plugs on both: a cloud rolled back from epoxy to zed keeps those of the servers epoxy ran
    assert all(("vifs", "qbr,qvo,qvb") in found[release] for release in ("epoxy", "zed"))
    ovs = {("link", n) for n in ("unit-int", "unit-tun", "unit-ex", "ovs-netdev")}
    linuxbridge = {("links", "brq,vxlan-"), ("iptables", "DOCKER-USER -i brq+ -o brq+ -j ACCEPT")}
    ovs |= {("iptables", "DOCKER-USER -i qbr+ -o qbr+ -j ACCEPT"), ("chains", "neutron-openvswi")}
    assert ovs <= found["epoxy"] and not ovs & found["zed"]
    assert linuxbridge <= found["zed"] and not linuxbridge & found["epoxy"]  # another (zed) cloud's bridges
    for release in ("epoxy", "zed"):
        assert {("link", "unit-ext0"), ("netns", "qrouter-1"), ("netns", "qdhcp-2")} <= found[release]
        # an entry rendering to "" matches nothing (not every link): docker's bridges, VM taps, other
        # deployments' OVS bridges stay
        assert not {("link", n) for n in ("docker0", "br-0f1e2d", "tap1234", "br-int", "other-int", "qbr1234")} \
            & found[release] and ("netns", "other") not in found[release]


def test_a_running_agent_gets_its_prefixed_links_swept_even_when_none_was_reported(dirs: dict[str, Path]) -> None:
    """The agent may make a bridge between the host's report and its container's removal (seen in CI)."""
    zed, service = load_config(dirs["zed"]), load_service("neutron")
    assert ("links", "brq,vxlan-") in {(o.kind, o.name) for o in teardown.find(zed, service, HostNet(), True)}
    assert not [o for o in teardown.find(zed, service, HostNet(), False) if o.kind == "links"]
    assert not [o for o in teardown.find(load_config(dirs["epoxy"]), service, HostNet(), True) if o.kind == "links"]


def test_destroy_keeps_namespaces_another_deployment_uses(dirs: dict[str, Path]) -> None:
    net = HostNet(namespaces=("qrouter-1", "qdhcp-2"), in_use_elsewhere=("qdhcp-2",))
    found = teardown.find(load_config(dirs["epoxy"]), load_service("neutron"), net)
    assert [(o.kind, o.name) for o in found] == [("netns", "qrouter-1")]


def test_removing_legacy_chains_drops_the_jumps_then_the_chains(monkeypatch: pytest.MonkeyPatch) -> None:
    listing = """-P FORWARD ACCEPT
-N neutron-filter-top
-N neutron-openvswi-FORWARD
-N neutron-openvswi-sg-chain
-A FORWARD -j neutron-filter-top
-A FORWARD -j neutron-openvswi-FORWARD
-A neutron-filter-top -j neutron-openvswi-local
-A neutron-openvswi-FORWARD -m physdev --physdev-out tap1 -m comment --comment "Direct traffic" -j neutron-openvswi-sg-chain
"""
    calls: list[list[str]] = []

    def run(argv: list[str]) -> object:
        calls.append(argv)
        import subprocess
        return subprocess.CompletedProcess(argv, 0, listing if argv[-1] == "-S" else "", "")

    monkeypatch.setattr(teardown, "_run", run)
    monkeypatch.setattr(teardown, "_legacy_tables", lambda: ["filter"])
    assert teardown.remove(teardown.HostObject("chains", "neutron-openvswi", "neutron")).endswith("removed")
    changes = [c[3:] for c in calls if c[-1] != "-S"]
    assert changes == [["-D", "FORWARD", "-j", "neutron-openvswi-FORWARD"],
                       ["-D", "neutron-filter-top", "-j", "neutron-openvswi-local"],
                       ["-F", "neutron-openvswi-FORWARD"], ["-F", "neutron-openvswi-sg-chain"],
                       ["-X", "neutron-openvswi-FORWARD"], ["-X", "neutron-openvswi-sg-chain"]]


def test_vif_devices_go_only_once_their_vm_tap_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judged when removing, after the containers (our VMs' taps went with their qemu): another deployment's
    running VM keeps its qbr/qvo/qvb."""
    deleted: list[str] = []
    monkeypatch.setattr(teardown, "links", lambda: ["qbraaa", "qvoaaa", "qvbaaa", "qbrbbb", "qvobbb", "tapbbb"])

    def run(argv: list[str]) -> object:
        import subprocess
        deleted.append(argv[-1])
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(teardown, "_run", run)
    teardown.remove(teardown.HostObject("vifs", "qbr,qvo,qvb", "neutron"))
    assert deleted == ["qbraaa", "qvoaaa", "qvbaaa"]


def test_bridges_are_named_per_deployment(desired: dict[str, DesiredState], tmp_path: Path) -> None:
    agent = _ini(desired["epoxy"], "neutron_openvswitch_agent", "openvswitch_agent.ini")["ovs"]
    assert (agent["integration_bridge"], agent["tunnel_bridge"], agent["bridge_mappings"]) == \
        ("unit-int", "unit-tun", "physnet1:unit-ex")
    assert _ini(desired["epoxy"], "neutron_dhcp_agent", "dhcp_agent.ini")["ovs"]["integration_bridge"] == "unit-int"
    assert _ini(desired["epoxy"], "nova_compute", "nova.conf")["neutron"]["ovs_bridge"] == "unit-int"
    from berth.cli.main import main

    (tmp_path / "globals.yml").write_text(f"state_dir: {tmp_path}/state\n")   # the default deployment `berth`
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    default = render_desired(load_config(tmp_path), {})
    assert _ini(default, "neutron_openvswitch_agent", "openvswitch_agent.ini")["ovs"]["integration_bridge"] == "br-int"
