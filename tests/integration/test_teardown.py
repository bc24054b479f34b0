"""Host teardown on the real kernel: interfaces, namespaces and DOCKER-USER rules a service declares are found
and removed (what `berth destroy` and `berth cleanup host` do for neutron's veth pair, brq*/vxlan-* devices,
qrouter-/qdhcp- namespaces and forwarding rule). Uses names no deployment uses (bupt*)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from berth.config.globals import globals_model
from berth.config.loader import Config
from berth.lifecycle import teardown
from berth.state.model import ServiceDef, Teardown

pytestmark = pytest.mark.integration

RULE = "DOCKER-USER -i buptbr+ -o buptbr+ -j ACCEPT"


def sh(*argv: str) -> None:
    subprocess.run(argv, check=False, capture_output=True, timeout=30)


@pytest.fixture
def objects(tmp_path: Path):
    sh("ip", "link", "add", "bupt-ext0", "type", "veth", "peer", "name", "bupt-ext0-p")
    sh("ip", "link", "add", "buptbr1", "type", "bridge")
    sh("ip", "netns", "add", "buptns-1")
    if subprocess.run(["iptables", "-n", "-L", "DOCKER-USER"], check=False, capture_output=True).returncode:
        pytest.skip("no DOCKER-USER chain (engine not started)")
    sh("iptables", "-I", *RULE.split())
    yield tmp_path
    for argv in (["ip", "link", "del", "bupt-ext0"], ["ip", "link", "del", "buptbr1"],
                 ["ip", "netns", "delete", "buptns-1"], ["iptables", "-D", *RULE.split()]):
        sh(*argv)


def test_declared_host_objects_are_found_and_removed(objects):
    config = Config(objects, globals_model()(neutron_external_interface="bupt-ext0"))
    service = ServiceDef(name="fake", teardown=Teardown(links=["{{ neutron_external_interface }}"],
                                                        link_prefixes=["buptbr"], netns_prefixes=["buptns-"],
                                                        iptables=[RULE]))
    found = teardown.find(config, service)
    assert sorted((o.kind, o.name) for o in found) == [
        ("iptables", RULE), ("link", "bupt-ext0"), ("links", "buptbr"), ("netns", "buptns-1")]
    results = [teardown.remove(o) for o in found]
    assert all("removed" in r for r in results), results
    assert "links buptbr (buptbr1): removed" in results  # the prefixed links are named when swept
    assert teardown.find(config, service) == []
    assert not [n for n in teardown.links() if n.startswith("bupt")]  # the veth peer went with its pair
