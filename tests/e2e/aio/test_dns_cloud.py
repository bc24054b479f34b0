"""DNS in the shared all-in-one cloud (conftest.py's `cloud`, with Designate and BIND): Designate's services are
up, BIND answers with authority what the API made and nothing else (no recursion: a name it has no zone for is
refused, not looked up), and a deleted zone stops answering. The deeper checks (rndc key, BIND's parsed
configuration, a no-op re-deploy) run on Designate's own deployment: tests/integration/test_designate.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests import dns
from tests.e2e.cloud_env import AIO_ADDRESS as ADDRESS
from tests.sandbox import wait_for

pytestmark = pytest.mark.e2e

# the services that report a heartbeat (the API under uwsgi runs no heartbeat loop: its health check is HTTP)
DESIGNATE_SERVICES = {"central", "producer", "worker", "mdns"}


@pytest.fixture(scope="module")
def conn(cloud: dict[str, Any]) -> Any:
    return cloud["env"].sdk()


def test_designate_services_are_up_and_bind_looks_nothing_up(cloud: dict[str, Any], conn: Any) -> None:
    wait_for("designate services UP", 120,
             lambda: DESIGNATE_SERVICES <= {s.service_name for s in conn.dns.service_statuses() if s.status == "UP"})
    assert dns.rcode(ADDRESS, cloud["dns_port"], "debian.org.", "A", "+recurse") == "REFUSED"


def test_a_record_made_through_the_api_is_answered_by_bind(cloud: dict[str, Any], conn: Any) -> None:
    figures = dns.record_round_trip(conn.dns, ADDRESS, cloud["dns_port"])
    print("; ".join(f"{what} took {seconds:.1f}s" for what, seconds in figures.items()))


def test_a_port_with_a_dns_name_is_published_in_designate_by_neutron(cloud: dict[str, Any], conn: Any) -> None:
    figures = dns.port_round_trip(conn, ADDRESS, cloud["dns_port"])
    print("; ".join(f"{what} took {seconds:.1f}s" for what, seconds in figures.items()))
