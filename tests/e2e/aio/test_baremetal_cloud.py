"""Ironic and Magnum in the shared all-in-one cloud (conftest.py's `cloud`, with `enable_ironic` and
`enable_magnum`): the checks of tests/e2e/baremetal_checks.py that Ironic's and Magnum's own deployment
(tests/integration/test_ironic_magnum.py) runs, plus what only a cloud with Nova and Neutron can show: Magnum
checks a cluster template's flavor against Nova and its external network against Neutron (`public1` and
`m1.tiny`, made by init-runonce), refusing names that do not exist. No cluster is built: that needs a Fedora
CoreOS image and servers that reach the internet, which this host has neither of (docs/services.md)."""

from __future__ import annotations

from typing import Any

import pytest

from berth.lifecycle.init_runonce import EXT_NET, TEST_FLAVOR
from tests.e2e import baremetal_checks as checks

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def conn(cloud: dict[str, Any]) -> Any:
    return cloud["env"].sdk()


def test_ironic_deploys_and_undeploys_a_fake_hardware_node(conn: Any) -> None:
    checks.ironic_serves_fake_hardware(conn)
    figures = checks.node_round_trip(conn)
    print("; ".join(f"{what} took {seconds:.1f}s" for what, seconds in figures.items()))


def test_magnum_validates_a_cluster_template_against_glance_nova_and_neutron(conn: Any) -> None:
    checks.magnum_conductor_up(conn)
    checks.trustee_domain_ready(conn)
    figures = checks.cluster_template_round_trip(conn, external_network=EXT_NET, flavor=TEST_FLAVOR)
    print("; ".join(f"{what} took {seconds:.1f}s" for what, seconds in figures.items()))
