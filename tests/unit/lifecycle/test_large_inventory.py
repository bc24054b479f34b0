"""The inventory-to-plan mapping for a larger inventory: 3 controllers, 2 network hosts, 40 computes (no engine).

Each host gets exactly the containers of its groups, with its own address; deployment-wide steps land once, on the
first controller; clients everywhere name the controllers (no VIP: the first one first); the waves put the first controller alone
first; the L2 agent is on network hosts and computes, nowhere else.
"""

from __future__ import annotations

from collections import Counter

import pytest

from berth.cli.main import main
from berth.config.loader import Config, load_config
from berth.lifecycle.hostplans import host_plans
from berth.plan.hostplan import HostPlan
from berth.remote import targets

CONTROLS = [f"ctl{i:02d}" for i in range(1, 4)]
NETWORKS = [f"net{i:02d}" for i in range(1, 3)]
COMPUTES = [f"cmp{i:03d}" for i in range(1, 41)]
# epoxy (the default release): ML2/OVS, Open vSwitch beside the L2 agent on every host that plugs ports
L2 = {"neutron_openvswitch_agent", "openvswitch_db", "openvswitch_vswitchd", "neutron_host_setup"}
COMPUTE_CONTAINERS = {"nova_compute", "nova_libvirt", "nova_ssh", "logrotate"} | L2
NETWORK_CONTAINERS = {"neutron_dhcp_agent", "neutron_l3_agent", "neutron_metadata_agent", "logrotate"} | L2


def address(host: str) -> str:
    """198.51.100.0/24 for controllers and network hosts, 203.0.113.0/24 for computes (TEST-NET ranges)."""
    everyone = CONTROLS + NETWORKS
    if host in everyone:
        return f"198.51.100.{10 + everyone.index(host)}"
    return f"203.0.113.{10 + COMPUTES.index(host)}"


def inventory() -> str:
    def group(name: str, hosts: list[str]) -> str:
        return f"[{name}]\n" + "".join(f"{h} ansible_host={address(h)} network_interface=eth0\n" for h in hosts)

    return "\n".join([group("control", CONTROLS), group("network", NETWORKS), group("compute", COMPUTES),
                      "[storage]\n", group("monitoring", CONTROLS[:1]), "[deployment]\nctl01\n"])


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = tmp_path_factory.mktemp("large")
    (root / "globals.yml").write_text(f"deployment_name: big\nstate_dir: {root}/state\nlog_dir: {root}/log\n")
    (root / "multinode").write_text(inventory())
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return load_config(root, inventory_path=root / "multinode")


@pytest.fixture(scope="module")
def plans(config: Config) -> dict[str, HostPlan]:
    return {p.host: p for p in host_plans(config)}


def keys(plan: HostPlan) -> set[str]:
    return {c.key for c in plan.desired.containers}


def test_every_host_gets_exactly_the_containers_of_its_groups(plans: dict[str, HostPlan]) -> None:
    assert set(plans) == set(CONTROLS + NETWORKS + COMPUTES)
    assert all(keys(plans[h]) == COMPUTE_CONTAINERS for h in COMPUTES)
    assert all(keys(plans[h]) == NETWORK_CONTAINERS for h in NETWORKS)
    for host in CONTROLS:
        assert {"mariadb", "keystone", "nova_api", "neutron_server", "horizon"} <= keys(plans[host])
        assert not {"nova_compute", "neutron_l3_agent", "neutron_openvswitch_agent"} & keys(plans[host])


def test_each_host_binds_its_own_address(plans: dict[str, HostPlan]) -> None:
    for host in ("cmp001", "cmp040", "net02"):
        agent = plans[host].desired.container("neutron_openvswitch_agent")
        assert agent is not None
        assert f"local_ip = {address(host)}\n" in agent.files["openvswitch_agent.ini"]
    nova = plans["cmp017"].desired.container("nova_compute")
    assert nova is not None
    text = nova.files["nova.conf"]
    assert f"my_ip = {address('cmp017')}\n" in text and "host = cmp017\n" in text
    assert f"@{address('ctl01')}:5672" in text  # brokers: every controller's, the first one first


def test_deployment_wide_steps_run_once_on_the_first_controller(plans: dict[str, HostPlan]) -> None:
    steps = [(p.host, s) for p in plans.values() for s in p.desired.steps if s.scope == "deployment"]
    assert steps and Counter(s.id for _, s in steps).most_common(1)[0][1] == 1
    assert {host for host, _ in steps} == {"ctl01"}
    assert not [s for h in COMPUTES + NETWORKS for s in plans[h].desired.steps]


def test_the_first_controller_is_alone_in_the_first_wave(config: Config) -> None:
    running = targets.services_by_host(config)
    waves = targets.waves(list(running), targets.waits_for(config, running))
    assert waves[0] == ["ctl01"]
    assert sorted(h for wave in waves[1:] for h in wave) == sorted(CONTROLS[1:] + NETWORKS + COMPUTES)


def test_plans_ship_as_json_and_hold_only_their_own_credentials(plans: dict[str, HostPlan], config: Config) -> None:
    from berth.plan.codec import from_data, to_data

    compute = plans["cmp040"]
    assert from_data(HostPlan, to_data(compute)) == compute
    assert compute.credentials == {}  # computes run no database or registration step
    assert "keystone_admin_password" in plans["ctl01"].credentials
