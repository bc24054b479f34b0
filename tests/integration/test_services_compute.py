"""Nova and Neutron deployed for real: services and agents up, the host mapped, networks wired, a server booted.

The module deploys its own deployment (own name, API address, provider interface and VNI range, so other
deployments on the same machine are not disturbed), and removes everything it made at the end: OpenStack
resources first (so the agents remove their bridges and namespaces), then containers, volumes, and the host
interfaces, bridges and namespaces that are left.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from berth.config.globals import GlobalsBase
from berth.guest.qemu import MARKER
from tests import sandbox
from tests.sandbox import wait_for

# extended: tests/e2e/aio/test_cloud.py boots, pings and restarts servers on the same services (CI's time budget)
pytestmark = [pytest.mark.integration, pytest.mark.extended]

DEPLOYMENT = "berthcmpit"
API_ADDRESS = "127.0.0.32"
EXT_IF = "berthcit-ext0"
VNI_RANGE = "7001:7100"
EPMD_PORT = 4387  # its own Erlang ports: an all-in-one cloud left running holds 4369/25672
SERVICES = ["mariadb", "rabbitmq", "memcached", "keystone", "glance", "placement", "nova", "neutron"]
# the L2 agent of the release it deploys (the default): ML2/OVS on epoxy, linuxbridge on zed
L2_AGENT = {"epoxy": "Open vSwitch agent", "zed": "Linux bridge agent"}[
    str(GlobalsBase.model_fields["openstack_release"].default)]


def berth(config_dir: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*sandbox.BERTH, "--config-dir", str(config_dir), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"berth {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def write_config(config_dir: Path) -> None:
    state = config_dir / "state"
    data: dict[str, Any] = {
        "deployment_name": DEPLOYMENT, "api_address": API_ADDRESS, "state_dir": str(state),
        "log_dir": str(config_dir / "log"), "neutron_external_interface": EXT_IF,
        "tenant_network_vni_range": VNI_RANGE,
        "rabbitmq_epmd_port": EPMD_PORT, "rabbitmq_dist_port": EPMD_PORT + 21300,
    }
    data.update({f"enable_{name}": True for name in SERVICES})
    data.update({"enable_heat": False, "enable_horizon": False})
    (config_dir / "globals.yml").write_text(yaml.safe_dump(data))


def remove_deployment(client: docker.DockerClient) -> None:
    """Containers and volumes labelled with this deployment (also what an earlier, interrupted run left)."""
    sandbox.remove_deployment(client, DEPLOYMENT)


def remove_host_leftovers(network_ids: list[str], router_ids: list[str]) -> None:
    """What the agents made on the host for this deployment's networks, plus the provider veth pair."""
    for net in network_ids:
        subprocess.run(["ip", "netns", "delete", f"qdhcp-{net}"], capture_output=True, check=False)
        subprocess.run(["ip", "link", "delete", f"brq{net[:11]}"], capture_output=True, check=False)
    for router in router_ids:
        subprocess.run(["ip", "netns", "delete", f"qrouter-{router}"], capture_output=True, check=False)
    vni_first, vni_last = (int(x) for x in VNI_RANGE.split(":"))
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith("vxlan-") and name[6:].isdigit() and vni_first <= int(name[6:]) <= vni_last:
            subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
    subprocess.run(["ip", "link", "delete", EXT_IF], capture_output=True, check=False)
    subprocess.run(["ip", "addr", "delete", f"{API_ADDRESS}/32", "dev", "lo"], capture_output=True, check=False)


def connect_cloud(config_dir: Path) -> Any:
    import openstack

    passwords = yaml.safe_load((config_dir / "passwords.yml").read_text())
    return openstack.connect(auth_url=f"http://{API_ADDRESS}:5000/v3", username="admin",
                             password=passwords["keystone_admin_password"], project_name="admin",
                             user_domain_name="Default", project_domain_name="Default", region_name="RegionOne")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    client = docker.from_env()
    remove_deployment(client)
    config_dir = tmp_path_factory.mktemp("berth-compute")
    write_config(config_dir)
    berth(config_dir, "genpwd")
    berth(config_dir, "build", *SERVICES, timeout=3600)
    start = time.monotonic()
    berth(config_dir, "deploy", "--yes")
    info: dict[str, Any] = {"config_dir": config_dir, "deploy_seconds": time.monotonic() - start,
                            "networks": [], "routers": []}
    berth(config_dir, "post-deploy")
    try:
        yield info
    finally:
        _teardown(client, config_dir, info)


def _teardown(client: docker.DockerClient, config_dir: Path, info: dict[str, Any]) -> None:
    try:
        cloud = connect_cloud(config_dir)
        for server in cloud.compute.servers():
            cloud.compute.delete_server(server)
            cloud.compute.wait_for_delete(server, wait=120)
        for router in cloud.network.routers():
            info["routers"].append(router.id)
            for port in cloud.network.ports(device_id=router.id, device_owner="network:router_interface"):
                cloud.network.remove_interface_from_router(router, port_id=port.id)
            cloud.network.delete_router(router)
        for net in cloud.network.networks():
            info["networks"].append(net.id)
            cloud.network.delete_network(net)
        time.sleep(5)  # the agents remove their namespaces and bridges
    except Exception as exc:  # noqa: BLE001 - clean up the host whatever state the cloud is in
        print(f"cloud cleanup incomplete: {exc}")
    # berth's own teardown: on epoxy also the OVS bridges, qbr/qvo/qvb devices and the agent's legacy chains
    subprocess.run([*sandbox.BERTH, "--config-dir", str(config_dir), "destroy", "--yes-i-really-really-mean-it"],
                   capture_output=True, text=True, timeout=600, check=False)
    remove_deployment(client)
    remove_host_leftovers(info["networks"], info["routers"])


@pytest.fixture(scope="module")
def cloud(deployment: dict[str, Any]) -> Any:
    return connect_cloud(deployment["config_dir"])


def test_compute_services_are_up(cloud: Any, deployment: dict[str, Any]) -> None:
    print(f"deploy took {deployment['deploy_seconds']:.1f}s")
    services = wait_for("compute services listed", 60, lambda: [s for s in cloud.compute.services()] or None)
    binaries = {s.binary: s for s in services}
    assert {"nova-conductor", "nova-scheduler", "nova-compute"} <= set(binaries), binaries
    assert all(s.state == "up" and s.status == "enabled" for s in services), [(s.binary, s.state) for s in services]


def test_network_agents_are_alive(cloud: Any) -> None:
    wanted = {L2_AGENT, "DHCP agent", "L3 agent", "Metadata agent"}

    def alive() -> list[Any] | None:
        agents = list(cloud.network.agents())
        ok = {a.agent_type for a in agents if a.is_alive}
        return agents if wanted <= ok else None

    agents = wait_for("all four network agents alive", 90, alive)
    hosts = {a.host for a in agents}
    assert len(hosts) == 1, f"nova and neutron must share one host name: {hosts}"


def test_hypervisor_lists_the_compute_host(cloud: Any) -> None:
    hypervisors = list(cloud.compute.hypervisors(details=True))
    assert len(hypervisors) == 1 and hypervisors[0].state == "up", hypervisors
    assert hypervisors[0].hypervisor_type == "QEMU"


def test_tenant_network_router_and_provider_network(cloud: Any) -> None:
    ext = cloud.network.create_network(name="cmp-ext", is_router_external=True, provider_network_type="flat",
                                       provider_physical_network="physnet1")
    cloud.network.create_subnet(network_id=ext.id, name="cmp-ext-subnet", ip_version=4, cidr="192.0.2.0/24",
                                gateway_ip="192.0.2.1", is_dhcp_enabled=False,
                                allocation_pools=[{"start": "192.0.2.150", "end": "192.0.2.199"}])
    net = cloud.network.create_network(name="cmp-demo")
    assert net.provider_network_type == "vxlan"
    first, last = (int(x) for x in VNI_RANGE.split(":"))
    assert first <= net.provider_segmentation_id <= last
    subnet = cloud.network.create_subnet(network_id=net.id, name="cmp-demo-subnet", ip_version=4,
                                         cidr="10.0.0.0/24", dns_nameservers=[])
    router = cloud.network.create_router(name="cmp-router", external_gateway_info={"network_id": ext.id})
    cloud.network.add_interface_to_router(router, subnet_id=subnet.id)
    wait_for("the router namespace appears on the host", 60, lambda: Path(f"/run/netns/qrouter-{router.id}").exists())
    wait_for("the DHCP namespace appears on the host", 60, lambda: Path(f"/run/netns/qdhcp-{net.id}").exists())
    wait_for("router ports ACTIVE", 60,
             lambda: all(p.status == "ACTIVE" for p in cloud.network.ports(device_id=router.id)) or None)


@pytest.mark.e2e
def test_server_boots_and_prints_the_marker(cloud: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    from berth.guest import build_test_guest
    from berth.guest.glance import image_specs

    artifacts = build_test_guest(tmp_path_factory.mktemp("guest"))
    ids: dict[str, str] = {}
    for spec in image_specs(artifacts, prefix="cmp-"):
        props = {**spec.properties, **{k: ids[v] for k, v in spec.refs.items()}}
        image = cloud.create_image(spec.name, filename=str(spec.path), disk_format=spec.disk_format,
                                   container_format=spec.container_format, wait=True, meta=props)
        ids[spec.name] = image.id
    flavor = cloud.compute.create_flavor(name="cmp-tiny", ram=128, vcpus=1, disk=1)
    net = cloud.network.find_network("cmp-demo")
    assert net is not None, "test_tenant_network_router_and_provider_network must run first"
    start = time.monotonic()
    server = cloud.compute.create_server(name="cmp-vm", image_id=ids["cmp-berth-test-guest"], flavor_id=flavor.id,
                                         networks=[{"uuid": net.id}])
    server = cloud.compute.wait_for_server(server, status="ACTIVE", wait=180, interval=1)
    active = time.monotonic() - start
    console = wait_for("the marker on the console", 120,
                       lambda: (out := cloud.compute.get_server_console_output(server)["output"]) and MARKER in out
                       and out)
    print(f"server ACTIVE after {active:.1f}s; console:\n{console[-800:]}")
    assert "BERTH-IP 10.0.0." in console
    assert server.id in console, "the guest read its own instance id from the metadata service"


@pytest.mark.e2e
def test_libvirt_config_change_restarts_compute_and_the_guest_comes_back(cloud: Any,
                                                                         deployment: dict[str, Any]) -> None:
    """A change to libvirt's own config restarts nova_libvirt, which stops the guests' qemu; the plan restarts
    nova_compute after it (`restart_with`), and nova-compute starts the guest again."""
    import json

    server = cloud.compute.find_server("cmp-vm")
    assert server is not None, "test_server_boots_and_prints_the_marker must run first"
    config_dir: Path = deployment["config_dir"]
    override = config_dir / "config" / "nova" / "nova_libvirt" / "libvirtd.conf"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text("max_clients = 4999\n")  # a flat key = value file: merged option by option
    try:
        plan = json.loads(berth(config_dir, "--json", "reconfigure", "--plan", "nova").stdout)["plan"]
        actions = {c["key"]: c for c in plan["changes"] if c["action"] != "noop"}
        assert set(actions) == {"nova_libvirt", "nova_compute"}, actions
        assert actions["nova_compute"]["action"] == "restart" and actions["nova_compute"]["follows"] == [
            "nova_libvirt"]
        berth(config_dir, "reconfigure", "--yes", "nova")
        rendered = config_dir / "state" / DEPLOYMENT / "config" / "nova_libvirt" / "libvirtd.conf"
        assert "max_clients = 4999" in rendered.read_text() and "listen_tls = 0" in rendered.read_text()
        libvirt = f"{DEPLOYMENT}-nova_libvirt"
        wait_for("the guest's qemu running again", 180, lambda: subprocess.run(
            ["docker", "exec", libvirt, "pgrep", "-f", server.id], capture_output=True, check=False).returncode == 0)
    finally:
        override.unlink()
        berth(config_dir, "reconfigure", "--yes", "nova")
