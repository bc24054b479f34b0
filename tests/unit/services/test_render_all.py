"""Every shipped service renders for the all-in-one and for three hosts, and every file it writes parses.

No engine and no real hosts: the 3-host inventory uses TEST-NET addresses. Deployment-wide steps must land on
one host only; computes get their own addresses; clients name the controller.
"""

from __future__ import annotations

import ast
import configparser
import json
from collections import Counter

import pytest
import yaml

from berth.config.loader import load_config
from berth.lifecycle.render import render_desired
from berth.state.desired import DesiredContainer, DesiredState
from tests.unit.threehosts import ADDRESSES, COMPUTES, CONTROLLER, make_config_dir, three_hosts

CONTROL = ADDRESSES[CONTROLLER]


@pytest.fixture(scope="module")
def aio(tmp_path_factory: pytest.TempPathFactory) -> DesiredState:
    return render_desired(load_config(make_config_dir(tmp_path_factory.mktemp("aio"))), {}, pins={})


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DesiredState]:
    config = three_hosts(make_config_dir(tmp_path_factory.mktemp("three")))
    return {host: render_desired(config, {}, host, pins={}) for host in ADDRESSES}


def all_containers(state: DesiredState) -> list[DesiredContainer]:
    steps = [s.container for s in (*state.steps, *state.upgrade_steps) if s.container is not None]
    return [*state.containers, *steps]


def parse(name: str, text: str) -> object:
    """Parse a generated file by its kind; raises when it is malformed."""
    if name.endswith((".conf", ".ini", ".cnf", ".cfg")):
        parser = configparser.ConfigParser(strict=False, interpolation=None, allow_no_value=True)
        flat = not any(line.startswith("[") for line in text.splitlines())
        parser.read_string(("[flat]\n" if flat else "") + text)
        return parser
    if name.endswith((".yml", ".yaml")):
        return yaml.safe_load(text)
    if name.endswith(".json"):
        return json.loads(text)
    if name.endswith(".py"):
        return ast.parse(text)
    return text


def check_files(state: DesiredState) -> int:
    count = 0
    for container in all_containers(state):
        for name, text in container.files.items():
            try:
                parse(name, text)
            except (configparser.Error, yaml.YAMLError, ValueError, SyntaxError) as exc:  # say which file
                pytest.fail(f"{container.host}/{container.key}/{name} does not parse: {exc}")
            count += 1
    return count


def test_all_in_one_files_parse(aio: DesiredState) -> None:
    assert check_files(aio) > 40
    assert {"keystone", "nova_compute", "neutron_server"} <= {c.key for c in aio.containers}


def test_three_host_files_parse(hosts: dict[str, DesiredState]) -> None:
    assert all(check_files(state) for state in hosts.values())


def test_deployment_wide_steps_render_once(hosts: dict[str, DesiredState]) -> None:
    steps = [s for state in hosts.values() for s in state.steps]
    once = Counter(s.id for s in steps if s.scope == "deployment")
    assert once and max(once.values()) == 1
    assert {s.host for s in steps if s.scope == "deployment"} == {CONTROLLER}
    assert {"nova/db-sync", "nova/database-nova", "keystone/bootstrap", "glance/keystone-register"} <= set(once)
    assert not hosts[COMPUTES[0]].steps and not hosts[COMPUTES[1]].steps


def test_all_in_one_keeps_every_step(aio: DesiredState) -> None:
    ids = [s.id for s in aio.steps]
    assert len(ids) == len(set(ids)) and "mariadb/initialise" in ids and "nova/discover-hosts" in ids
    assert {s.scope for s in aio.steps if s.id == "mariadb/initialise"} == {"host"}


def test_computes_run_their_agents_with_their_own_address(hosts: dict[str, DesiredState]) -> None:
    for compute in COMPUTES:
        state = hosts[compute]
        assert {c.key for c in state.containers} == {"nova_libvirt", "nova_compute", "nova_ssh", "neutron_host_setup",
                                                     "neutron_openvswitch_agent", "openvswitch_db",
                                                     "openvswitch_vswitchd", "logrotate"}
        nova = parse("nova.conf", dict(state.container("nova_compute").files)["nova.conf"])  # type: ignore[union-attr]
        assert isinstance(nova, configparser.ConfigParser)
        assert nova["DEFAULT"]["host"] == compute and nova["DEFAULT"]["my_ip"] == ADDRESSES[compute]
        assert nova["vnc"]["server_proxyclient_address"] == ADDRESSES[compute]
        assert nova["vnc"]["novncproxy_base_url"] == f"http://{CONTROL}:6080/vnc_auto.html"
        agent = state.container("neutron_openvswitch_agent")
        assert agent is not None
        ovs = parse("openvswitch_agent.ini", agent.files["openvswitch_agent.ini"])
        assert isinstance(ovs, configparser.ConfigParser) and ovs["ovs"]["local_ip"] == ADDRESSES[compute]


def test_clients_name_the_controller(hosts: dict[str, DesiredState]) -> None:
    compute = hosts[COMPUTES[0]].container("nova_compute")
    assert compute is not None
    nova = parse("nova.conf", compute.files["nova.conf"])
    assert isinstance(nova, configparser.ConfigParser)
    assert nova["DEFAULT"]["transport_url"].endswith(f"@{CONTROL}:5672//")
    assert nova["keystone_authtoken"]["memcached_servers"] == f"{CONTROL}:11211"
    assert nova["keystone_authtoken"]["auth_url"] == f"http://{CONTROL}:5000"
    assert f"@{CONTROL}:3306/nova" in nova["database"]["connection"]
    metadata = hosts[CONTROLLER].container("neutron_metadata_agent")
    assert metadata is not None and f"nova_metadata_host = {CONTROL}" in metadata.files["metadata_agent.ini"]


def test_step_payloads_say_where_to_connect(hosts: dict[str, DesiredState]) -> None:
    steps = {s.id: s for s in hosts[CONTROLLER].steps}
    database = steps["glance/database-glance"].payload
    assert (database["host"], database["port"]) == (CONTROL, 3306)
    assert database["password"] == "glance_database_password"  # a key: the value is looked up when applied
    register = steps["glance/keystone-register"].payload
    assert register["auth_url"] == f"http://{CONTROL}:5000/v3"
    assert register["admin"]["password_key"] == "keystone_admin_password"
    assert register["endpoints"][0]["urls"] == {"public": f"http://{CONTROL}:9292", "internal": f"http://{CONTROL}:9292"}


def test_discover_hosts_waits_only_for_computes_deployed_with_it(hosts: dict[str, DesiredState],
                                                                aio: DesiredState) -> None:
    """Computes on other hosts are applied after the controller (a later wave): the step cannot wait for them, the
    scheduler maps them when they register; the all-in-one's step waits for its own compute."""
    step = next(s for s in hosts[CONTROLLER].steps if s.id == "nova/discover-hosts")
    assert step.container is not None
    assert "for host in ; do" in step.container.files["berth-discover-hosts.sh"]
    scheduler = parse("nova.conf", hosts[CONTROLLER].container("nova_scheduler").files["nova.conf"])  # type: ignore
    assert isinstance(scheduler, configparser.ConfigParser)
    assert scheduler["scheduler"]["discover_hosts_in_cells_interval"] == "20"
    mine = next(s for s in aio.steps if s.id == "nova/discover-hosts")
    assert mine.container is not None and "for host in localhost; do" in mine.container.files["berth-discover-hosts.sh"]
    alone = parse("nova.conf", aio.container("nova_scheduler").files["nova.conf"])  # type: ignore[union-attr]
    assert isinstance(alone, configparser.ConfigParser)
    assert alone["scheduler"]["discover_hosts_in_cells_interval"] == "-1"


def test_the_l2_agent_runs_on_network_hosts_and_computes(hosts: dict[str, DesiredState]) -> None:
    assert hosts[CONTROLLER].container("neutron_openvswitch_agent") is not None
    assert all(hosts[c].container("neutron_openvswitch_agent") is not None for c in COMPUTES)


def test_shared_pieces_are_rendered_once_for_all(aio: DesiredState) -> None:
    health = {c.key: c.files["berth-rpc-health.py"] for c in aio.containers if "berth-rpc-health.py" in c.files}
    assert {"nova_conductor", "neutron_dhcp_agent"} <= set(health) and len(set(health.values())) == 1
    for key in ("glance_api", "placement_api", "heat_api", "nova_api", "neutron_server"):
        container = aio.container(key)
        assert container is not None
        assert any("[keystone_authtoken]\nwww_authenticate_uri = " in text for text in container.files.values())
