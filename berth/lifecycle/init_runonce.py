"""`berth init-runonce`: make a freshly deployed cloud usable — images, flavors, networks, router, rules, key.

Everything is find-or-create, so running it again changes nothing and takes a few seconds. One openstacksdk
session does all the API calls (one token, one catalog), with the admin credentials `berth post-deploy` wrote
into clouds.yaml. `boot_test_server` also boots `berth-test` from berth's own test guest and waits until the
guest says on its console that DHCP and the metadata service work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from berth.config.globals import is_enabled
from berth.config.loader import Config
from berth.errors import BerthError, ConfigError
from berth.guest.qemu import MARKER
from berth.lifecycle.postdeploy import CLOUD_NAME, CLOUDS, OPENRC
from berth.lifecycle.wiring import exports
from berth.private import write_private

Progress = Callable[[str], None]

EXT_NET, EXT_SUBNET = "public1", "public1-subnet"
DEMO_NET, DEMO_SUBNET, DEMO_ROUTER = "demo-net", "demo-subnet", "demo-router"
KEYPAIR = "mykey"
KEY_FILE = "berth_id_ed25519"
TEST_SERVER, TEST_FLAVOR = "berth-test", "m1.tiny"
PHYSNET = "physnet1"
# Sized for a small all-in-one host (the test guest itself needs < 64 MiB; qemu touches only what it uses).
FLAVORS = (("m1.tiny", 1, 512, 1), ("m1.small", 1, 1024, 10), ("m1.medium", 2, 2048, 20), ("m1.large", 2, 4096, 40))
# (service, container) pairs that must run before the cloud can be initialised.
REQUIRED = (("keystone", "keystone"), ("glance", "glance_api"), ("nova", "nova_api"), ("nova", "nova_compute"),
            ("neutron", "neutron_server"), ("neutron", "neutron_dhcp_agent"), ("neutron", "neutron_l3_agent"))


@dataclass(frozen=True)
class Item:
    """One resource init-runonce looked after, and whether it was created now or found."""

    kind: str
    name: str
    id: str
    action: str  # created | exists | updated


@dataclass(frozen=True)
class ServerInfo:
    name: str
    id: str
    ip: str | None
    active_seconds: float | None  # create call -> ACTIVE; None when the server already existed
    console_seconds: float | None  # create call -> marker on the console
    console_ok: bool
    instance_id_seen: bool


@dataclass
class Result:
    items: list[Item] = field(default_factory=list)
    server: ServerInfo | None = None
    openrc: str = ""
    clouds_yaml: str = ""
    horizon_url: str | None = None
    password_file: str = ""
    password_key: str = "keystone_admin_password"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- preconditions ----------------------------------------------------------------------------------------------

def check_deployed(config: Config) -> None:
    """Fail before any API call with what is missing: a disabled service, a container not running, credentials."""
    disabled = [svc for svc in dict.fromkeys(s for s, _ in REQUIRED) if not is_enabled(config.globals, svc)]
    if disabled:
        raise ConfigError(f"init-runonce needs {', '.join(disabled)}, disabled in {config.config_dir}/globals.yml",
                          hint="set " + ", ".join(f"enable_{s}: true" for s in disabled)
                          + " in globals.yml, then run `berth deploy`")
    if not (config.config_dir / CLOUDS).exists():
        raise BerthError(f"no admin credentials: {config.config_dir / CLOUDS} is missing",
                         hint="run `berth post-deploy` (it writes clouds.yaml and admin-openrc.sh)")
    if not runs_here(config):
        return  # the containers run on other hosts: Keystone accepting the credentials (connect_cloud) is the check
    from berth.engine import connect, labels
    from berth.engine.base import doing

    name = config.globals.deployment_name
    with doing("listing the deployment's containers"):
        found = connect().containers({labels.DEPLOYMENT: name})
    running = {c.labels.get(labels.CONTAINER) for c in found if c.running}
    missing = [c for _, c in REQUIRED if c not in running]
    if missing:
        raise BerthError(f"the cloud of deployment `{name}` is not deployed: container(s) not running: "
                         + ", ".join(missing), hint="run `berth deploy` (then `berth post-deploy`) first")


def runs_here(config: Config) -> bool:
    """Whether this machine's engine runs the cloud's control services (the all-in-one, or local hosts only)."""
    from berth.lifecycle.wiring import hosts_for

    inventory = config.inventory
    if inventory is None or inventory.is_all_in_one:
        return True
    return all(inventory.hosts[h].is_local for h in hosts_for(config, "control") if h in inventory.hosts)


def connect_cloud(config: Config) -> Any:
    """One openstacksdk session from clouds.yaml (environment and other clouds.yaml files are ignored)."""
    import openstack

    entry = yaml.safe_load((config.config_dir / CLOUDS).read_text())["clouds"][CLOUD_NAME]
    conn = openstack.connect(load_yaml_config=False, load_envvars=False, auth=entry["auth"],
                             region_name=entry.get("region_name"), identity_api_version="3",
                             interface=entry.get("interface", "public"), cacert=entry.get("cacert"))
    try:
        conn.authorize()
    except Exception as exc:
        raise BerthError(f"Keystone at {entry['auth']['auth_url']} did not accept the admin credentials: {exc}",
                         hint="run `berth deploy` and `berth post-deploy` (clouds.yaml may be stale)") from exc
    return conn


# -- resources --------------------------------------------------------------------------------------------------

def ensure_images(conn: Any, progress: Progress) -> list[Item]:
    """The test guest's kernel, ramdisk and machine image, found by name and content.

    A non-active leftover is deleted. An active image whose content (Glance's md5 checksum) or whose kernel or
    ramdisk reference differs from the guest just built is replaced: the new one takes the name, the old one is
    renamed `<name>-<its id's first 8>` and kept, because servers booted from it may still need it (a hard reboot
    or a migration reads the kernel and ramdisk from Glance again).
    """
    from berth.guest import build_test_guest
    from berth.guest.glance import image_specs

    artifacts = build_test_guest(progress=progress)
    ids: dict[str, str] = {}
    items = []
    for spec in image_specs(artifacts):
        found = list(conn.image.images(name=spec.name))
        for stale in (i for i in found if i.status != "active"):
            conn.image.delete_image(stale, ignore_missing=True)
        props = {**spec.properties, **{key: ids[ref] for key, ref in spec.refs.items()}}
        active = [i for i in found if i.status == "active"]
        current = [i for i in active if _same_image(i, spec.path, props)]
        if current:
            ids[spec.name] = current[0].id
            items.append(Item("image", spec.name, current[0].id, "exists"))
            continue
        for old in active:
            conn.image.update_image(old, name=f"{spec.name}-{old.id[:8]}")
        progress(f"uploading image {spec.name}")
        image = conn.image.create_image(spec.name, filename=str(spec.path), disk_format=spec.disk_format,
                                        container_format=spec.container_format, meta=props, wait=True)
        conn.image.update_image(image, visibility="public")
        ids[spec.name] = image.id
        items.append(Item("image", spec.name, image.id, "updated" if active else "created"))
    return items


def _same_image(image: Any, path: Path, props: dict[str, str]) -> bool:
    """Whether a Glance image holds this file's bytes and the properties (kernel/ramdisk ids) it must have."""
    import hashlib

    digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    def value(key: str) -> Any:  # openstacksdk has attributes for the known properties (kernel_id, ...)
        found = getattr(image, key, None)
        return found if found is not None else (image.properties or {}).get(key)

    return image.checksum == digest and all(str(value(k)) == str(v) for k, v in props.items())


def ensure_flavors(conn: Any) -> list[Item]:
    items = []
    for name, vcpus, ram, disk in FLAVORS:
        flavor = conn.compute.find_flavor(name, ignore_missing=True)
        action = "exists"
        if flavor is None:
            flavor = conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
            action = "created"
        items.append(Item("flavor", name, flavor.id, action))
    return items


def _find_or_create(kind: str, find: Callable[[], Any], create: Callable[[], Any]) -> tuple[Any, Item]:
    found = find()
    obj = found if found is not None else create()
    return obj, Item(kind, obj.name, obj.id, "exists" if found is not None else "created")


def ensure_networks(conn: Any, config: Config) -> list[Item]:
    """Provider network + subnet (no DHCP), demo tenant network + subnet, and a router joining them."""
    g = config.globals
    net = conn.network
    first, last = g.external_network_range.split(":")
    ext, i1 = _find_or_create("network", lambda: net.find_network(EXT_NET), lambda: net.create_network(
        name=EXT_NET, is_router_external=True, provider_network_type="flat", provider_physical_network=PHYSNET))
    _ext_sub, i2 = _find_or_create("subnet", lambda: net.find_subnet(EXT_SUBNET, network_id=ext.id),
                                  lambda: net.create_subnet(
                                      network_id=ext.id, name=EXT_SUBNET, ip_version=4,
                                      cidr=str(g.external_network_cidr), gateway_ip=g.external_network_gateway,
                                      is_dhcp_enabled=False, allocation_pools=[{"start": first, "end": last}]))
    demo, i3 = _find_or_create("network", lambda: net.find_network(DEMO_NET),
                               lambda: net.create_network(name=DEMO_NET))
    demo_sub, i4 = _find_or_create("subnet", lambda: net.find_subnet(DEMO_SUBNET, network_id=demo.id),
                                   lambda: net.create_subnet(network_id=demo.id, name=DEMO_SUBNET, ip_version=4,
                                                             cidr=str(g.demo_network_cidr), dns_nameservers=[]))
    router, i5 = _find_or_create("router", lambda: net.find_router(DEMO_ROUTER), lambda: net.create_router(
        name=DEMO_ROUTER, external_gateway_info={"network_id": ext.id}))
    items = [i1, i2, i3, i4, i5]
    if not (router.external_gateway_info or {}).get("network_id"):
        router = net.update_router(router, external_gateway_info={"network_id": ext.id})
        items[-1] = Item("router", DEMO_ROUTER, router.id, "updated")
    ports = net.ports(device_id=router.id, device_owner="network:router_interface")
    if not any(ip.get("subnet_id") == demo_sub.id for p in ports for ip in p.fixed_ips or []):
        net.add_interface_to_router(router, subnet_id=demo_sub.id)
        items.append(Item("router-interface", f"{DEMO_ROUTER}:{DEMO_SUBNET}", router.id, "created"))
    return items


def _default_group(conn: Any) -> Any:
    """The admin project's `default` security group (Neutron creates it on the project's first request)."""
    for _ in range(10):
        groups = list(conn.network.security_groups(name="default", project_id=conn.current_project_id))
        if groups:
            return groups[0]
        time.sleep(1)
    raise BerthError("the admin project has no `default` security group",
                     hint="check neutron_server's log (`berth logs neutron_server`)")


def ensure_rules(conn: Any) -> list[Item]:
    """Ingress ICMP and SSH (IPv4, from anywhere) on the admin project's default group."""
    group = _default_group(conn)
    wanted: dict[str, dict[str, Any]] = {
        "icmp": {"protocol": "icmp"}, "ssh": {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}}
    items = []
    for label, spec in wanted.items():
        def same(rule: dict[str, Any], spec: dict[str, Any] = spec) -> bool:
            return (rule.get("direction") == "ingress" and rule.get("ethertype") == "IPv4"
                    and rule.get("remote_ip_prefix") in (None, "0.0.0.0/0")
                    and all(rule.get(k) == v for k, v in spec.items()))

        existing = [r for r in group.security_group_rules or [] if same(r)]
        if existing:
            items.append(Item("security-group-rule", f"default:{label}", existing[0]["id"], "exists"))
            continue
        rule = conn.network.create_security_group_rule(security_group_id=group.id, direction="ingress",
                                                       ethertype="IPv4", remote_ip_prefix="0.0.0.0/0", **spec)
        items.append(Item("security-group-rule", f"default:{label}", rule.id, "created"))
    return items


def key_pair_files(config_dir: Path) -> tuple[Path, str]:
    """The ed25519 key in the config dir (made once, private part mode 0600) and its OpenSSH public line."""
    private, public = config_dir / KEY_FILE, config_dir / f"{KEY_FILE}.pub"
    if private.exists() and public.exists():
        return private, public.read_text().strip()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode() + " berth-admin"
    write_private(private, pem)
    public.write_text(line + "\n")
    return private, line


def ensure_keypair(conn: Any, config_dir: Path) -> Item:
    private, line = key_pair_files(config_dir)
    found = conn.compute.find_keypair(KEYPAIR, ignore_missing=True)
    if found is not None:
        same = (found.public_key or "").split()[:2] == line.split()[:2]
        return Item("keypair", KEYPAIR, str(private), "exists" if same else "exists (another key; kept)")
    conn.compute.create_keypair(name=KEYPAIR, public_key=line)
    return Item("keypair", KEYPAIR, str(private), "created")


# -- the test server --------------------------------------------------------------------------------------------

def _poll(what: str, timeout: float, interval: float, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise BerthError(f"timed out after {timeout:.0f}s waiting for {what}",
                             hint="see `berth logs nova_compute` and `berth logs neutron_linuxbridge_agent`")
        time.sleep(interval)


def _active(conn: Any, server_id: str) -> Any:
    server = conn.compute.get_server(server_id)
    if server.status == "ERROR":
        fault = (server.fault or {}).get("message", "no fault recorded")
        raise BerthError(f"server {TEST_SERVER} ({server_id}) went to ERROR: {fault}",
                         hint="see `berth logs nova_compute`; `openstack server delete berth-test` and re-run")
    return server if server.status == "ACTIVE" else None


def _console_lines(conn: Any, server_id: str) -> dict[str, str] | None:
    """The guest's BERTH-* lines once the marker is on the console (key: the word after BERTH-).

    Reading the console is an RPC call to nova-compute: just after the host (or its engine) restarted, nova-compute
    may still be resuming its guests and the call times out (HTTP 500, MessagingTimeout). That is "not yet", not
    a failure: the poll asks again until its own deadline.
    """
    from openstack import exceptions

    try:
        output = conn.compute.get_server_console_output(server_id).get("output") or ""
    except exceptions.HttpException as exc:
        if exc.status_code is not None and exc.status_code < 500:
            raise
        return None
    if MARKER not in output:
        return None
    lines = [ln.strip() for ln in output.splitlines() if ln.strip().startswith("BERTH-")]
    return {ln.split()[0]: (ln.split(maxsplit=1) + [""])[1] for ln in lines}


def boot_test_server(conn: Any, progress: Progress, timeout: float = 300) -> ServerInfo:
    """Boot `berth-test` unless it runs already (one in ERROR is replaced); wait for ACTIVE and the marker."""
    from berth.guest.glance import DISK_IMAGE

    server = conn.compute.find_server(TEST_SERVER, ignore_missing=True)
    if server is not None and server.status == "ERROR":
        progress(f"replacing {TEST_SERVER} (status ERROR)")
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)
        server = None
    if server is not None and server.status == "SHUTOFF":
        progress(f"starting {TEST_SERVER} (status SHUTOFF)")
        conn.compute.start_server(server)
        server = _poll(f"{TEST_SERVER} to become ACTIVE", timeout, 0.5, lambda: _active(conn, server.id))
    start = time.monotonic()
    active_s = None
    if server is None:
        image = conn.image.find_image(DISK_IMAGE)
        flavor = conn.compute.find_flavor(TEST_FLAVOR)
        network = conn.network.find_network(DEMO_NET)
        progress(f"booting {TEST_SERVER} ({TEST_FLAVOR}, {DEMO_NET})")
        server = conn.compute.create_server(name=TEST_SERVER, image_id=image.id, flavor_id=flavor.id,
                                            networks=[{"uuid": network.id}], key_name=KEYPAIR)
        server = _poll(f"{TEST_SERVER} to become ACTIVE", timeout, 0.5, lambda: _active(conn, server.id))
        active_s = time.monotonic() - start
        progress(f"{TEST_SERVER} ACTIVE after {active_s:.1f}s; waiting for the guest's console marker")
    lines = _poll(f"the marker {MARKER} on {TEST_SERVER}'s console", timeout, 1.0,
                  lambda: _console_lines(conn, server.id))
    console_s = time.monotonic() - start if active_s is not None else None
    ip = lines.get("BERTH-IP") or None
    if ip in (None, "none"):
        ports = list(conn.network.ports(device_id=server.id))
        ip = next((f["ip_address"] for p in ports for f in p.fixed_ips or []), None)
    return ServerInfo(TEST_SERVER, server.id, ip, active_s, console_s, True,
                      lines.get("BERTH-INSTANCE-ID") == server.id)


# -- the whole job ----------------------------------------------------------------------------------------------

def horizon_url(config: Config) -> str | None:
    if not is_enabled(config.globals, "horizon"):
        return None
    return str(exports(config)["horizon_url"])


def init_runonce(config: Config, *, boot: bool = False, progress: Progress = lambda _m: None) -> Result:
    check_deployed(config)
    conn = connect_cloud(config)
    result = Result(openrc=str(config.config_dir / OPENRC), clouds_yaml=str(config.config_dir / CLOUDS),
                    horizon_url=horizon_url(config), password_file=str(config.config_dir / "passwords.yml"))
    try:
        result.items += ensure_images(conn, progress)
        result.items += ensure_flavors(conn)
        result.items += ensure_networks(conn, config)
        result.items += ensure_rules(conn)
        result.items.append(ensure_keypair(conn, config.config_dir))
        if boot:
            result.server = boot_test_server(conn, progress)
    finally:
        conn.close()
    return result
