"""Mistral and Zaqar in the shared all-in-one cloud (conftest.py's `cloud`, with `enable_mistral`, `enable_zaqar`
and `enable_redis`): a workflow lists Nova's servers with the caller's token and reaches SUCCESS with the names Nova
itself lists (a server is created for it, so the list is not empty, and deleted again), and a Zaqar queue's
messages are posted, claimed and deleted. The same checks (tests/e2e/workflow_checks.py) run on the services' own
deployment, with Glance's images as the listed API: tests/integration/test_mistral_zaqar.py (Redis' password and
binding, a no-op re-deploy). Named to run before test_then_no_secret_leaked.py, which must come last."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e import workflow_checks

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def conn(cloud: dict[str, Any]) -> Any:
    return cloud["env"].sdk()


def test_a_workflow_lists_novas_servers_and_succeeds(conn: Any) -> None:
    image = conn.image.find_image("berth-test-guest", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    network = conn.network.find_network("demo-net", ignore_missing=False)
    server = conn.compute.create_server(name=f"e2e-workflow-{time.monotonic_ns()}", image_id=image.id,
                                        flavor_id=flavor.id, networks=[{"uuid": network.id}])
    try:
        seconds = workflow_checks.check_servers_listed(conn)
        print(f"workflow listing servers: created, SUCCESS and removed in {seconds:.1f}s")
    finally:
        conn.compute.delete_server(server.id, ignore_missing=True)
        conn.compute.wait_for_delete(server, wait=300)


def test_a_workflow_lists_glances_images_and_succeeds(conn: Any) -> None:
    seconds = workflow_checks.check_images_listed(conn)
    print(f"workflow listing images: created, SUCCESS and removed in {seconds:.1f}s")


def test_a_message_is_posted_claimed_and_deleted(conn: Any) -> None:
    figures = workflow_checks.check_queue_round_trip(conn)
    print("; ".join(f"{what} after {seconds:.2f}s" for what, seconds in figures.items()))
