"""RabbitMQ on several control hosts renders one cluster, and every OpenStack service then declares quorum queues;
one control host renders as it always did (classic queues, `rabbit@localhost`-style node names, an AMQP check).

No engine and no hosts: inventories with TEST-NET addresses.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

from berth.config.loader import load_config
from berth.lifecycle.render import render_desired
from berth.state.desired import DesiredContainer, DesiredState
from tests.unit.threehosts import make_config_dir

CONTROLS = {"control01": "198.51.100.11", "control02": "198.51.100.12", "control03": "198.51.100.13"}
COMPUTE = ("compute01", "198.51.100.21")


def inventory(controls: dict[str, str]) -> str:
    lines = [f"{name} ansible_host={address}" for name, address in controls.items()]
    return "\n".join(["[control]", *lines, "[network:children]", "control", "[compute]",
                      f"{COMPUTE[0]} ansible_host={COMPUTE[1]}", "[storage]", "[monitoring]", "[deployment]",
                      next(iter(controls)), ""])


def render_hosts(root: Path, controls: dict[str, str], globals_text: str = "") -> dict[str, DesiredState]:
    make_config_dir(root, globals_text)
    (root / "multinode").write_text(inventory(controls))
    config = load_config(root, inventory_path=root / "multinode")
    return {host: render_desired(config, {}, host, pins={}) for host in [*controls, COMPUTE[0]]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DesiredState]:
    return render_hosts(tmp_path_factory.mktemp("cluster"), CONTROLS)


@pytest.fixture(scope="module")
def zed_cluster(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DesiredState]:
    return render_hosts(tmp_path_factory.mktemp("zed"), CONTROLS, "openstack_release: zed\n")


@pytest.fixture(scope="module")
def aio(tmp_path_factory: pytest.TempPathFactory) -> DesiredState:
    return render_desired(load_config(make_config_dir(tmp_path_factory.mktemp("aio"))), {}, pins={})


def rabbitmq(state: DesiredState) -> DesiredContainer:
    container = state.container("rabbitmq")
    assert container is not None
    return container


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(text)
    return parser


def messaging_files(state: DesiredState) -> dict[str, configparser.ConfigParser]:
    """Every configuration file of the host that names a transport_url, by container/file."""
    return {f"{c.key}/{name}": ini(text) for c in state.containers for name, text in c.files.items()
            if "\ntransport_url = " in text}


def node(address: str) -> str:
    return f"rabbit-unit@{address}"


def test_every_control_host_runs_a_node_named_by_its_address(cluster: dict[str, DesiredState]) -> None:
    for host, address in CONTROLS.items():
        env = rabbitmq(cluster[host]).spec["environment"]
        assert env["RABBITMQ_NODENAME"] == node(address) and env["RABBITMQ_USE_LONGNAME"] == "true"
        assert env["ERL_EPMD_ADDRESS"] == address
        assert env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"].endswith("{" + address.replace(".", ",") + "}")
    assert cluster[COMPUTE[0]].container("rabbitmq") is None


def test_every_node_lists_every_peer_and_pauses_in_a_minority(cluster: dict[str, DesiredState]) -> None:
    confs = {rabbitmq(cluster[h]).files["rabbitmq.conf"] for h in CONTROLS}
    for host, address in CONTROLS.items():
        conf = rabbitmq(cluster[host]).files["rabbitmq.conf"]
        assert f"listeners.tcp.1 = {address}:5672" in conf
        assert "cluster_formation.peer_discovery_backend = classic_config" in conf
        assert [line.split(" = ")[1] for line in conf.splitlines()
                if line.startswith("cluster_formation.classic_config.nodes.")] == [node(a) for a in CONTROLS.values()]
        assert "cluster_partition_handling = pause_minority" in conf
    assert len(confs) == 3  # each binds its own address; the rest is the same


def test_two_nodes_heal_instead_of_pausing(tmp_path: Path) -> None:
    two = dict(list(CONTROLS.items())[:2])
    conf = rabbitmq(render_hosts(tmp_path, two)["control02"]).files["rabbitmq.conf"]
    assert "cluster_partition_handling = autoheal" in conf and "= pause_minority" not in conf


def test_the_health_check_asks_for_membership_of_the_first_hosts_cluster(cluster: dict[str, DesiredState]) -> None:
    for host in CONTROLS:
        kind, program, code = rabbitmq(cluster[host]).health
        assert (kind, program) == ("cmd", "python3") and code.startswith("-c")
        ast.parse(code.removeprefix("-c"))  # valid Python
        assert f'SEED = "{node(CONTROLS["control01"])}"' in code
        assert "cluster_status" in code and "running_nodes" in code


def test_every_node_grows_the_queues_once_per_data_volume(cluster: dict[str, DesiredState]) -> None:
    for host, address in CONTROLS.items():
        step = next(s for s in cluster[host].steps if s.id == "rabbitmq/grow-queues")
        assert step.scope == "host" and step.phase == "after" and step.stamp_volumes == ("unit_rabbitmq",)
        assert step.container is not None
        assert '"rabbitmq-queues",\n    "grow",\n    "' + node(address) in step.container.files["config.json"]
    assert not [s for s in cluster[COMPUTE[0]].steps if s.service == "rabbitmq"]


def test_the_transport_url_lists_every_node(cluster: dict[str, DesiredState]) -> None:
    files = messaging_files(cluster[COMPUTE[0]])
    assert files
    for conf in files.values():
        url = conf["DEFAULT"]["transport_url"]
        assert [part.rsplit("@", 1)[1] for part in url.removeprefix("rabbit://").removesuffix("//").split(",")] == [
            f"{a}:5672" for a in CONTROLS.values()]


@pytest.mark.parametrize("release", ["epoxy", "zed"])
def test_every_service_with_a_transport_url_declares_quorum_queues(
        release: str, cluster: dict[str, DesiredState], zed_cluster: dict[str, DesiredState]) -> None:
    states = cluster if release == "epoxy" else zed_cluster
    files = {f"{host}:{name}": conf for host, state in states.items() for name, conf in messaging_files(state).items()}
    services = {name.split(":")[1].split("_")[0] for name in files}
    assert {"nova", "neutron", "heat"} <= services, services
    for name, conf in files.items():
        section = conf["oslo_messaging_rabbit"]
        assert section["rabbit_quorum_queue"] == "true", name
        # an option of oslo.messaging 16 (epoxy); Zed's 14.0 would refuse to start on no option but ignore it
        assert section.get("rabbit_transient_quorum_queue") == ("true" if release == "epoxy" else None), name
    nova = files["control01:nova_conductor/nova.conf"]["oslo_messaging_rabbit"]
    assert nova["heartbeat_in_pthread"] == "false"  # nova's own option stays


def test_one_host_keeps_classic_queues_and_its_single_node(aio: DesiredState) -> None:
    container = rabbitmq(aio)
    env = container.spec["environment"]
    assert env["RABBITMQ_NODENAME"] == "rabbit-unit@localhost" and "RABBITMQ_USE_LONGNAME" not in env
    assert container.health == ("tcp", env["ERL_EPMD_ADDRESS"], "5672")
    assert "cluster" not in container.files["rabbitmq.conf"]
    assert container.files["rabbitmq.conf"].endswith("disk_free_limit.absolute = 200MB\n")
    assert not [s for s in aio.steps if s.service == "rabbitmq"]
    files = messaging_files(aio)
    assert {"nova_conductor/nova.conf", "neutron_server/neutron.conf", "heat_engine/heat.conf"} <= set(files)
    for name, conf in files.items():
        assert not conf.has_option("oslo_messaging_rabbit", "rabbit_quorum_queue"), name
    nova = aio.container("nova_conductor").files["nova.conf"]  # type: ignore[union-attr]
    assert "[oslo_messaging_rabbit]\nheartbeat_in_pthread = false\n\n[upgrade_levels]" in nova
    assert not files["neutron_server/neutron.conf"].has_section("oslo_messaging_rabbit")
    assert "[oslo_messaging_notifications]\ndriver = noop\n\n[oslo_policy]" in \
        aio.container("heat_engine").files["heat.conf"]  # type: ignore[union-attr]


def test_one_control_host_among_several_hosts_is_no_cluster(tmp_path: Path) -> None:
    states = render_hosts(tmp_path, dict(list(CONTROLS.items())[:1]))
    container = rabbitmq(states["control01"])
    assert container.spec["environment"]["RABBITMQ_NODENAME"] == "rabbit-unit@localhost"
    assert not any("rabbit_quorum_queue" in text for state in states.values() for c in state.containers
                   for text in c.files.values())
