"""A whole-cloud deployment for end-to-end tests and the cloud benchmark: config, CLI helpers, full teardown.

Each user names its own deployment, loopback address, Erlang ports, provider interface and VNI range, so it
never touches another deployment's containers, bridges or VXLAN devices. Teardown deletes OpenStack resources
first (so the agents remove their namespaces and bridges), then `berth destroy`, then whatever is still left
on the host for this deployment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from berth.config.globals import GlobalsBase
from tests.sandbox import BERTH

REPO = Path(__file__).resolve().parents[2]
# What the default release runs as Neutron's L2 agent: ML2/OVS on epoxy (neutron 26 has no linuxbridge)
RELEASE = str(GlobalsBase.model_fields["openstack_release"].default)
L2_AGENT_TYPE = {"epoxy": "Open vSwitch agent", "zed": "Linux bridge agent"}[RELEASE]
L2_AGENT_CONTAINERS = {"epoxy": {"neutron_openvswitch_agent", "openvswitch_db", "openvswitch_vswitchd"},
                       "zed": {"neutron_linuxbridge_agent"}}[RELEASE]
VENV_BIN = Path(sys.prefix) / "bin"
AIO_ADDRESS = "127.0.0.51"  # the e2e all-in-one cloud's (tests/e2e/aio/conftest.py)


@dataclass(frozen=True)
class CloudEnv:
    deployment: str
    api_address: str
    ext_if: str
    vni_range: str
    epmd_port: int
    dist_port: int
    config_dir: Path

    def globals(self) -> dict[str, Any]:
        return {"deployment_name": self.deployment, "api_address": self.api_address,
                "rabbitmq_epmd_port": self.epmd_port, "rabbitmq_dist_port": self.dist_port,
                "state_dir": str(self.config_dir / "state"), "log_dir": str(self.config_dir / "log"),
                "neutron_external_interface": self.ext_if, "tenant_network_vni_range": self.vni_range}

    def write_globals(self, extra: dict[str, Any] | None = None) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "globals.yml").write_text(yaml.safe_dump({**self.globals(), **(extra or {})}))

    def env(self) -> dict[str, str]:
        """Environment for scripts/aio.sh and the CLIs: this config dir, this virtualenv first on PATH."""
        return {**os.environ, "BERTH_CONFIG_DIR": str(self.config_dir), "BERTH_VENV": sys.prefix,
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}

    def aio(self, log: Path, timeout: float = 3600) -> tuple[int, float, str]:
        """Run the README's main command; returns exit status, seconds and its output (also written to `log`)."""
        start = time.monotonic()
        proc = subprocess.run(["bash", str(REPO / "scripts" / "aio.sh")], cwd=REPO, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)
        out = proc.stdout + proc.stderr
        log.write_text(out)
        return proc.returncode, time.monotonic() - start, out

    def berth(self, *args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*BERTH, "--config-dir", str(self.config_dir), *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check:
            assert proc.returncode == 0, f"berth {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    def openstack(self, *args: str, timeout: float = 300) -> str:
        """The real `openstack` CLI with the admin-openrc.sh the deploy wrote."""
        script = '. "$1"; shift; exec openstack "$@"'
        proc = subprocess.run(["bash", "-c", script, "_", str(self.config_dir / "admin-openrc.sh"), *args],
                              env=self.env(), capture_output=True, text=True, timeout=timeout, check=False)
        assert proc.returncode == 0, f"openstack {' '.join(args)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        return proc.stdout

    def sdk(self) -> Any:
        import openstack

        entry = yaml.safe_load((self.config_dir / "clouds.yaml").read_text())["clouds"]["berth-admin"]
        return openstack.connect(load_yaml_config=False, load_envvars=False, auth=entry["auth"],
                                 region_name=entry["region_name"], identity_api_version="3")

    # -- teardown ---------------------------------------------------------------------------------------------

    def delete_cloud_resources(self) -> tuple[list[str], list[str]]:
        """Servers, routers and networks through the API, so the agents remove their bridges and namespaces."""
        networks: list[str] = []
        routers: list[str] = []
        try:
            conn = self.sdk()
            for server in list(conn.compute.servers(all_projects=True)):
                conn.compute.delete_server(server)
            for server in list(conn.compute.servers(all_projects=True)):
                conn.compute.wait_for_delete(server, wait=120)
            for router in conn.network.routers():
                routers.append(router.id)
                for port in conn.network.ports(device_id=router.id, device_owner="network:router_interface"):
                    conn.network.remove_interface_from_router(router, port_id=port.id)
                conn.network.delete_router(router)
            for net in conn.network.networks():
                networks.append(net.id)
                conn.network.delete_network(net)
            time.sleep(5)
        except Exception as exc:  # noqa: BLE001 - clean the host whatever state the cloud is in
            print(f"cloud cleanup incomplete: {exc}")
        return networks, routers

    def remove_containers(self) -> None:
        """Containers and volumes labelled with this deployment (also an interrupted earlier run's)."""
        import docker

        from tests.sandbox import remove_deployment

        remove_deployment(docker.from_env(), self.deployment)

    def remove_host_leftovers(self, networks: list[str], routers: list[str]) -> None:
        def ip(*args: str) -> None:
            subprocess.run(["ip", *args], capture_output=True, check=False)

        for net in networks:
            ip("netns", "delete", f"qdhcp-{net}")
            ip("link", "delete", f"brq{net[:11]}")
        for router in routers:
            ip("netns", "delete", f"qrouter-{router}")
        first, last = (int(x) for x in self.vni_range.split(":"))
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith("vxlan-") and name[6:].isdigit() and first <= int(name[6:]) <= last:
                ip("link", "delete", name)
        ip("link", "delete", self.ext_if)
        ip("addr", "delete", f"{self.api_address}/32", "dev", "lo")
        if not self._other_neutron_runs():  # the forwarding rule is host-wide: keep it while another uses it
            subprocess.run(["iptables", "-D", "DOCKER-USER", "-i", "brq+", "-o", "brq+", "-j", "ACCEPT"],
                           capture_output=True, check=False)

    def _other_neutron_runs(self) -> bool:
        import docker

        found = docker.from_env().containers.list(filters={"label": "berth.container=neutron_host_setup"})
        return any(c.labels.get("berth.deployment") != self.deployment for c in found)

    def teardown(self, include_data: bool = False) -> None:
        """`include_data`: also the host directories services keep data in (Ceph's stores: docs/storage.md)."""
        networks, routers = ([], []) if not (self.config_dir / "clouds.yaml").exists() \
            else self.delete_cloud_resources()
        if (self.config_dir / "globals.yml").exists():
            self.berth("destroy", "--yes-i-really-really-mean-it", *(["--include-data"] if include_data else []),
                       timeout=600, check=False)
        self.remove_containers()
        self.remove_host_leftovers(networks, routers)
