"""The globals.yml model: every key has a default, so a nearly empty file works.

`enable_<service>` keys are not listed here: they are added per service folder by `globals_model()`,
so adding a service never touches this file.
"""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
from functools import lru_cache
from ipaddress import IPv4Network, ip_address
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from berth.errors import ConfigError
from berth.services.registry import default_enabled, enable_key, service_names

SIOCGIFADDR = 0x8915  # Linux ioctl: the first IPv4 address of an interface


class ImagePackages(BaseModel):
    """Per-image package customisation (`image_packages: {keystone: {append: [...], remove: [...]}}`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    append: list[str] = Field(default_factory=list)
    """Debian packages added to the image."""
    remove: list[str] = Field(default_factory=list)
    """Packages of the recipe left out of the image."""


class GlobalsBase(BaseModel):
    """Keys of globals.yml. Docstrings of fields double as `berth config validate` explanations and docs."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    # identity of this deployment: labels, state directory, test isolation
    deployment_name: str = Field("berth", pattern=r"^[a-z][a-z0-9-]{0,30}$")
    """Name of this deployment: container labels and names, state directory (tests use their own)."""
    state_dir: str = "/var/lib/berth"
    """Generated config and history, per deployment below it."""
    log_dir: str = "/var/log/berth"
    """Container logs on the host, per service below it."""

    # addresses
    network_interface: str = "lo"
    """Interface whose address the APIs bind to (all-in-one: loopback)."""
    api_address: str | None = None
    """Address the APIs bind to; default: the first IPv4 address of `network_interface`."""
    api_interface_address_family: Literal["ipv4"] = "ipv4"
    """Address family of the API address."""
    neutron_external_interface: str = "berth-ext0"
    """Interface for provider/external networks; berth creates this veth pair end when it is missing."""
    neutron_plugin_agent: Literal["linuxbridge", "openvswitch"] = "linuxbridge"
    """Neutron L2 agent."""
    tenant_network_vni_range: str = Field("1:1000", pattern=r"^\d+:\d+$")
    """VXLAN VNI range of tenant networks, `first:last`."""

    # images
    docker_registry: str = ""
    """Registry images are pushed to and pulled from, e.g. `127.0.0.1:4000`; empty: images stay local."""
    docker_registry_insecure: bool = True
    """Talk plain HTTP to `docker_registry`."""
    image_namespace: str = Field("berth", pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$")
    """First part of image names: `<registry>/<namespace>/<image>:<tag>`."""
    image_tag: str = Field("zed", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    """Tag of the images berth builds and deploys."""
    openstack_release: Literal["zed"] = "zed"
    """OpenStack release."""
    base_distro: Literal["debian"] = "debian"
    """Distribution of the images."""
    base_distro_release: Literal["bookworm"] = "bookworm"
    """Distribution release of the images."""
    base_image: str | None = None
    """Base image; default: debian:bookworm when present in the engine, else built with debootstrap."""
    debian_mirror: str | None = None
    """Debian mirror used in image builds; default: the host's configured apt mirror."""
    image_packages: dict[str, ImagePackages] = Field(default_factory=dict)
    """Per image: `append` / `remove` package lists."""
    registry_port: int = Field(4000, ge=1, le=65535)
    """Port of the local registry berth can run."""

    # compute
    nova_compute_virt_type: Literal["auto", "kvm", "qemu"] = "auto"
    """Hypervisor: `auto` uses kvm when /dev/kvm is usable, else qemu (emulation)."""
    container_privileged: bool = False
    """Run service containers privileged (an operator option; never required)."""

    # sizing: small hosts by default
    openstack_service_workers: int = Field(1, ge=1, le=64)
    """API / conductor worker processes per service."""

    # ports that are host-wide rather than per address: deployments sharing a host must differ here
    rabbitmq_epmd_port: int = Field(4369, ge=1, le=65535)
    """Erlang port mapper port of RabbitMQ (epmd always listens on loopback too, so it is host-wide)."""
    rabbitmq_dist_port: int = Field(25672, ge=1, le=65535)
    """Erlang distribution port of RabbitMQ (CLI tools and clustering)."""

    horizon_port: int = Field(80, ge=1, le=65535)
    """Port of the Horizon dashboard on the API address."""

    # keystone / identity
    openstack_region_name: str = "RegionOne"
    """Region of the endpoints berth registers."""
    keystone_admin_user: str = "admin"
    """Name of the cloud administrator user."""
    keystone_admin_project: str = "admin"
    """Project of the cloud administrator."""

    # test cloud made by `berth init-runonce` (TEST-NET ranges only)
    external_network_cidr: IPv4Network = IPv4Network("192.0.2.0/24")
    """CIDR of the external network `init-runonce` creates."""
    external_network_range: str = "192.0.2.150:192.0.2.199"
    """Floating IP range of the external network, `first:last`."""
    external_network_gateway: str = "192.0.2.1"
    """Gateway of the external network."""
    demo_network_cidr: IPv4Network = IPv4Network("10.0.0.0/24")
    """CIDR of the demo tenant network."""

    @field_validator("api_address")
    @classmethod
    def _an_ip_address(cls, value: str | None) -> str | None:
        """Reject host names early: services bind to this value, and a name would resolve differently per host."""
        if value is not None:
            try:
                ip_address(value)
            except ValueError:
                raise ValueError("an IP address such as 127.0.0.1") from None
        return value


@lru_cache(maxsize=1)
def globals_model() -> type[GlobalsBase]:
    """GlobalsBase plus one `enable_<service>` switch per service folder."""
    switches = {enable_key(name): (bool, default_enabled(name)) for name in service_names()}
    return create_model("Globals", __base__=GlobalsBase, **switches)  # type: ignore[call-overload]


def known_keys() -> list[str]:
    return list(globals_model().model_fields)


def is_enabled(globals_: GlobalsBase, service: str) -> bool:
    return bool(getattr(globals_, enable_key(service), False))


def interface_ipv4(interface: str) -> str:
    """The first IPv4 address of `interface` on this host (ioctl: no subprocess, works in minimal containers)."""
    if not interface or len(interface.encode()) > 15:
        raise OSError(errno.ENODEV, "invalid interface name")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        packed = struct.pack("256s", interface.encode())
        result = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, packed)
    return socket.inet_ntoa(result[20:24])


def resolved_api_address(globals_: GlobalsBase) -> str:
    """`api_address`, or when unset the first IPv4 address of `network_interface` (default lo -> 127.0.0.1)."""
    if globals_.api_address:
        return globals_.api_address
    name = globals_.network_interface
    try:
        return interface_ipv4(name)
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            reason = f"interface `{name}` has no IPv4 address"
        elif exc.errno == errno.ENODEV:
            reason = f"interface `{name}` does not exist on this host"
        else:
            reason = f"cannot read the address of interface `{name}`: {exc.strerror or exc}"
        raise ConfigError(
            f"network_interface: {reason}",
            "set `network_interface` in globals.yml to an interface with an IPv4 address (see `ip -4 addr`), "
            "or set `api_address` explicitly",
        ) from exc
