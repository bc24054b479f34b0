"""Ironic and Magnum through their APIs with openstacksdk, as both their tests call them: Ironic's and Magnum's own
deployment (tests/integration/test_ironic_magnum.py: no Nova, no Neutron) and the shared all-in-one e2e cloud
(tests/e2e/aio/test_baremetal_cloud.py: with Nova, Neutron and its public network).

Ironic runs the `fake-hardware` type only (no BMC, no PXE, no DHCP): a node is enrolled, managed, provided
(cleaned), deployed with a Glance image to `active` and undeployed back to `available`; the conductor reads the
image from Glance on the way. Magnum makes cluster templates: the image's `os_distro` decides the driver; with
Nova and Neutron present, the flavor and the external network are checked against them too. No cluster is built:
that needs a Fedora CoreOS image and servers that reach the internet (docs/services.md, "Ironic and Magnum").

Every function removes what it made, also when it fails, and returns the seconds its steps took.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from openstack import exceptions

from tests.sandbox import wait_for

FAKE_INTERFACES = ("bios", "boot", "console", "deploy", "inspect", "management", "power", "raid", "rescue",
                   "vendor")
# what berth enables besides the fake interfaces: nothing to do for a node's networks and volumes
NOOP_INTERFACES = ("network", "storage")
TRUSTEE_DOMAIN, TRUSTEE_ADMIN = "magnum", "magnum_trustee_domain_admin"
COREOS = "fedora-coreos"  # the os_distro of Magnum's in-tree Kubernetes driver (k8s_fedora_coreos_v1)
TIMEOUT = 300  # a state change on a loaded 2-core host: the fake interfaces are instant, RPC and locks are not


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def glance_image(conn: Any, name: str, **properties: str) -> Iterator[Any]:
    """A small image (a few KiB of zeros; nothing boots it) with `properties`, deleted afterwards."""
    image = conn.image.create_image(name=name, disk_format="raw", container_format="bare", data=b"\0" * 4096,
                                    allow_duplicates=True, **properties)
    try:
        wait_for(f"image {name} active", TIMEOUT, lambda: conn.image.get_image(image).status == "active")
        yield conn.image.get_image(image)
    finally:
        conn.image.delete_image(image, ignore_missing=True)


def timed(figures: dict[str, float], what: str, action: Callable[[], Any]) -> Any:
    start = time.monotonic()
    result = action()
    figures[what] = time.monotonic() - start
    return result


# -- Ironic ----------------------------------------------------------------------------------------------------


def ironic_serves_fake_hardware(conn: Any) -> None:
    """A conductor is alive and offers `fake-hardware` (the only hardware type berth enables)."""
    wait_for("an ironic conductor alive", TIMEOUT,
             lambda: [c for c in conn.baremetal.conductors() if c.alive])
    drivers = {d.name: d for d in conn.baremetal.drivers(details=True)}
    assert set(drivers) == {"fake-hardware"}, sorted(drivers)
    assert drivers["fake-hardware"].default_deploy_interface == "fake"


def set_state(conn: Any, node: Any, target: str, expected: str) -> Any:
    """Ask for `target` and wait for the node to settle in `expected` (a failure names Ironic's last error)."""
    conn.baremetal.set_node_provision_state(node, target)

    def settled() -> Any:
        current = conn.baremetal.get_node(node.id)
        assert not current.provision_state.endswith("failed"), (current.provision_state, current.last_error)
        return current if current.provision_state == expected and current.target_provision_state is None else None

    return wait_for(f"node {node.name} {expected} after {target}", TIMEOUT, settled, interval=1.0)


def set_power(conn: Any, node: Any, target: str) -> Any:
    conn.baremetal.set_node_power_state(node, target)
    return wait_for(f"node {node.name} {target}", TIMEOUT,
                    lambda: (found := conn.baremetal.get_node(node.id)).power_state == target
                    and found.target_power_state is None and found, interval=1.0)


def remove_node(conn: Any, node: Any) -> None:
    """Delete the node; one a failed check left deployed is put in maintenance first (Ironic deletes no active
    node otherwise)."""
    try:
        conn.baremetal.delete_node(node, ignore_missing=True)
    except exceptions.ConflictException:
        conn.baremetal.set_node_maintenance(node, reason="berth test clean-up")
        conn.baremetal.delete_node(node, ignore_missing=True)


def node_round_trip(conn: Any) -> dict[str, float]:
    """Enroll a fake-hardware node, manage, provide (cleaning), deploy a Glance image to `active` (the conductor
    reads the image to know it is a whole-disk one), power it on, undeploy (cleaning again) back to `available`,
    power it off; the node is deleted at the end."""
    figures: dict[str, float] = {}
    name = unique("berth-bm")
    with glance_image(conn, f"{name}-image") as image:
        node = conn.baremetal.create_node(name=name, driver="fake-hardware",
                                          properties={"cpus": 1, "memory_mb": 1024, "local_gb": 10,
                                                      "cpu_arch": "x86_64"})
        try:
            assert node.provision_state == "enroll", node.provision_state
            for kind in FAKE_INTERFACES:
                assert getattr(node, f"{kind}_interface") == "fake", (kind, getattr(node, f"{kind}_interface"))
            for kind in NOOP_INTERFACES:
                assert getattr(node, f"{kind}_interface") == "noop", (kind, getattr(node, f"{kind}_interface"))
            timed(figures, "enroll -> manageable", lambda: set_state(conn, node, "manage", "manageable"))
            timed(figures, "manageable -> available (cleaned)", lambda: set_state(conn, node, "provide", "available"))
            conn.baremetal.update_node(node, instance_info={"image_source": image.id, "root_gb": 1})
            # a PATCH leaves parent_node alone (trixie's ironic-api set it to the node itself: berth's image fix)
            assert conn.baremetal.get_node(node.id).parent_node is None
            results = conn.baremetal.validate_node(node, required=None)
            for kind in ("boot", "deploy", "power", "management", "network"):
                assert results[kind].result, (kind, results[kind].reason)
            active = timed(figures, "available -> active", lambda: set_state(conn, node, "active", "active"))
            # Ironic asked Glance: the image has no kernel and ramdisk, so it is a whole-disk image
            assert active.driver_internal_info.get("is_whole_disk_image") is True, active.driver_internal_info
            assert active.instance_info["image_source"] == image.id
            # the fake deploy leaves the power alone: the conductor switches it through the fake power interface
            timed(figures, "power on", lambda: set_power(conn, node, "power on"))
            timed(figures, "active -> available (undeployed, cleaned)",
                  lambda: set_state(conn, node, "deleted", "available"))
            undeployed = timed(figures, "power off", lambda: set_power(conn, node, "power off"))
            assert not undeployed.instance_info.get("image_source"), undeployed.instance_info
        finally:
            remove_node(conn, node)
    assert conn.baremetal.find_node(name) is None
    return figures


# -- Magnum ----------------------------------------------------------------------------------------------------


def magnum_conductor_up(conn: Any) -> None:
    """magnum-conductor reports `up` in Magnum's service list (its periodic heartbeat in the database)."""
    def up() -> list[str]:
        coim = conn.container_infrastructure_management
        return [s.host for s in coim.services() if s.binary == "magnum-conductor" and s.state == "up"]

    wait_for("magnum-conductor up", TIMEOUT, up)


def trustee_domain_ready(conn: Any) -> None:
    """The domain where Magnum makes each cluster's trustee user, and its admin with the admin role on it."""
    identity = conn.identity
    domain = identity.find_domain(TRUSTEE_DOMAIN, ignore_missing=False)
    assert domain.is_enabled
    user = identity.find_user(TRUSTEE_ADMIN, domain_id=domain.id, ignore_missing=False)
    admin = identity.find_role("admin", ignore_missing=False)
    assert identity.validate_user_has_domain_role(domain, user, admin)


def refused(action: Callable[[], Any]) -> str:
    """The message of the 400 Magnum answers `action` with (AssertionError when it succeeds)."""
    try:
        made = action()
    except exceptions.BadRequestException as exc:
        # Magnum says why in the body's `errors` (openstacksdk's message is only "Bad Request")
        return exc.response.text if exc.response is not None else str(exc)
    raise AssertionError(f"Magnum accepted what it should refuse: {made}")


def cluster_template_round_trip(conn: Any, external_network: str | None = None,
                                flavor: str | None = None) -> dict[str, float]:
    """A Kubernetes cluster template on a Glance image whose `os_distro` is fedora-coreos: Magnum reads the image
    (the distro picks its driver), stores the template, lists and deletes it. An image without `os_distro` is
    refused (no driver for it). With `external_network` and `flavor` (a cloud with Neutron and Nova), the template names them and
    Magnum checks both; names that do not exist are refused."""
    figures: dict[str, float] = {}
    coim = conn.container_infrastructure_management
    name = unique("berth-k8s")
    with glance_image(conn, f"{name}-coreos", os_distro=COREOS) as image, \
            glance_image(conn, f"{name}-plain") as plain:
        common: dict[str, Any] = {"coe": "kubernetes", "server_type": "vm", "network_driver": "flannel"}
        if external_network:
            common["external_network_id"] = external_network
        if flavor:
            common.update(flavor_id=flavor, master_flavor_id=flavor)
        template = timed(figures, "cluster template created",
                         lambda: coim.create_cluster_template(name=name, image_id=image.id, **common))
        try:
            found = coim.get_cluster_template(template.id)
            assert (found.cluster_distro, found.coe, found.image_id) == (COREOS, "kubernetes", image.id)
            if external_network:
                assert found.external_network_id == external_network
            if flavor:
                assert (found.flavor_id, found.master_flavor_id) == (flavor, flavor)
            assert template.id in {t.id for t in coim.cluster_templates()}
            message = refused(lambda: coim.create_cluster_template(name=f"{name}-plain", image_id=plain.id,
                                                                   **common))
            # no os_distro, no driver: Magnum knows no (server type, distro, COE) it could build
            assert "Cluster type (vm, None, kubernetes) not supported" in message, message
            if external_network:
                missing = refused(lambda: coim.create_cluster_template(
                    name=f"{name}-nonet", image_id=image.id, **{**common, "external_network_id": unique("none")}))
                assert "Unable to find external network" in missing, missing  # Magnum asked Neutron
            if flavor:
                missing = refused(lambda: coim.create_cluster_template(
                    name=f"{name}-noflavor", image_id=image.id, **{**common, "flavor_id": unique("none")}))
                assert "Unable to find flavor" in missing, missing  # Magnum asked Nova
        finally:
            coim.delete_cluster_template(template, ignore_missing=True)
        assert coim.find_cluster_template(name) is None
    return figures
