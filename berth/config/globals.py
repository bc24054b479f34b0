"""The globals.yml model: every key has a default, so a nearly empty file works.

Only deployment-wide keys are listed here. `enable_<service>` switches and the `options:` a service.yml
declares are added per service folder by `globals_model()`, so adding a service never touches this file and
no key here belongs to one service.
"""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
from functools import lru_cache
from ipaddress import IPv4Network, ip_address
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from berth.config.release import Release, effective_updates
from berth.errors import ConfigError
from berth.services.options import OptionDef
from berth.services.registry import default_enabled, enable_key, service_names
from berth.state.model import deployable_services, load_service

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
    backup_retention: int = Field(7, ge=1)
    """`berth backup` keeps this many backups of the cloud (the newest) and removes older ones."""

    # addresses
    network_interface: str = "lo"
    """Interface whose address the APIs bind to (all-in-one: loopback)."""
    api_address: str | None = None
    """Address the APIs bind to; default: the first IPv4 address of `network_interface`."""
    api_interface_address_family: Literal["ipv4"] = "ipv4"
    """Address family of the API address."""
    internal_vip_address: str | None = None
    """Address other services reach the control services at (a virtual IP); default: the first host's address."""
    external_vip_address: str | None = None
    """Address clients reach the APIs at (a second virtual IP, HAProxy); default: the internal VIP."""
    enable_tls_external: bool = False
    """HAProxy serves the APIs over TLS on the external VIP (`berth certificates`; docs/ha.md)."""

    # images
    docker_registry: str = ""
    """Registry images are pushed to and pulled from, e.g. `127.0.0.1:4000`; empty: images stay local."""
    docker_registry_insecure: bool = True
    """Talk plain HTTP to `docker_registry`."""
    image_namespace: str = Field("berth", pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$")
    """First part of image names: `<registry>/<namespace>/<image>:<tag>`."""
    image_tag: str = Field("", pattern=r"^$|^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    """Tag of the images berth builds and deploys; empty: the release's name (`epoxy`, `zed`)."""
    openstack_release: Release = "epoxy"
    """OpenStack release, `epoxy` (2025.1) or `zed`; unset: the one the deployment runs (new ones: epoxy)."""
    base_distro: Literal["debian"] = "debian"
    """Distribution of the images."""
    base_distro_release: Literal["", "trixie", "bookworm"] = ""
    """Debian suite of the images; empty: the release's (epoxy: trixie, zed: bookworm)."""
    base_image: str | None = None
    """Base image; default: debian:<suite> when present in the engine, else built with debootstrap."""
    debian_mirror: str | None = None
    """Debian mirror used in image builds; default: the host's configured apt mirror."""
    image_packages: dict[str, ImagePackages] = Field(default_factory=dict)
    """Per image: `append` / `remove` package lists."""
    registry_port: int = Field(4000, ge=1, le=65535)
    """Port of the local registry berth can run."""

    # containers
    container_privileged: bool = False
    """Run service containers privileged (an operator option; never required)."""

    # sizing: small hosts by default
    openstack_service_workers: int = Field(1, ge=1, le=64)
    """API / conductor worker processes per service."""

    # identity: the region every service registers its endpoints in
    openstack_region_name: str = "RegionOne"
    """Region of the endpoints berth registers."""

    # test cloud made by `berth init-runonce` (TEST-NET ranges only): read by that command, not by any service's
    # templates, so they are deployment settings rather than neutron's options
    external_network_cidr: IPv4Network = IPv4Network("192.0.2.0/24")
    """CIDR of the external network `init-runonce` creates."""
    external_network_range: str = "192.0.2.150:192.0.2.199"
    """Floating IP range of the external network, `first:last`."""
    external_network_gateway: str = "192.0.2.1"
    """Gateway of the external network."""
    demo_network_cidr: IPv4Network = IPv4Network("10.0.0.0/24")
    """CIDR of the demo tenant network."""

    @model_validator(mode="after")
    def _release_defaults(self) -> GlobalsBase:
        """Fill what the release decides when globals.yml leaves it out (the loader may move an implicit release
        to the one the deployment runs: `berth.config.release`). `model_fields_set` still tells what was set."""
        try:
            updates = effective_updates(self.openstack_release, self.image_tag or None,
                                        self.base_distro_release or None, None)
        except ConfigError as err:
            raise ValueError(f"{err.message} ({err.hint})") from None
        for key, value in updates.items():
            object.__setattr__(self, key, value)
        return self

    @model_validator(mode="after")
    def _vip_for_the_load_balancer(self) -> GlobalsBase:
        """HAProxy serves the APIs on the internal VIP and Keepalived holds it: neither means anything without one."""
        for key in ("enable_haproxy", "enable_keepalived"):
            if getattr(self, key, False) and not self.internal_vip_address:
                raise ValueError(f"`{key}: true` needs `internal_vip_address`: the address HAProxy serves the "
                                 "APIs on (an unused address of the control hosts' network)")
        return self

    @model_validator(mode="after")
    def _tls_on_its_own_vip(self) -> GlobalsBase:
        """TLS is terminated by HAProxy on the external VIP; services keep plain HTTP on the internal one, so the
        two cannot be the same address and port."""
        if not self.enable_tls_external:
            return self
        if not getattr(self, "enable_haproxy", False):
            raise ValueError("`enable_tls_external: true` needs `enable_haproxy: true`: HAProxy terminates TLS")
        if not self.external_vip_address or self.external_vip_address == self.internal_vip_address:
            raise ValueError("`enable_tls_external: true` needs an `external_vip_address` other than "
                             "`internal_vip_address`: clients get TLS there, services keep HTTP on the internal VIP")
        return self

    @field_validator("api_address", "internal_vip_address", "external_vip_address")
    @classmethod
    def _an_ip_address(cls, value: str | None) -> str | None:
        """Reject host names early: services bind to or connect to this value, and a name would resolve
        differently per host."""
        if value is not None:
            try:
                ip_address(value)
            except ValueError:
                raise ValueError("an IP address such as 127.0.0.1") from None
        return value


@lru_cache(maxsize=1)
def globals_model() -> type[GlobalsBase]:
    """GlobalsBase plus one `enable_<service>` switch per service folder and every service's `options:`."""
    fields: dict[str, Any] = {enable_key(name): (bool, default_enabled(name)) for name in service_names()}
    owners = dict.fromkeys(GlobalsBase.model_fields, "berth/config/globals.py")
    owners.update(dict.fromkeys(fields, "its enable switch"))
    for service, option in service_options():
        if option.name in owners:
            raise ConfigError(f"{load_service(service).folder / 'service.yml'}: option `{option.name}` is already "
                              f"declared by {owners[option.name]}", "give the option a name of its own")
        owners[option.name] = f"service {service}"
        fields[option.name] = option.field()
    return create_model("Globals", __base__=GlobalsBase, **fields)  # type: ignore[no-any-return]


def service_options() -> list[tuple[str, OptionDef]]:
    """(service, option) of every deployable service, in folder order."""
    return [(name, option) for name in deployable_services() for option in load_service(name).options]


def option_owner(key: str) -> str | None:
    """The service whose service.yml declares `key` (None for core keys and unknown ones)."""
    return next((service for service, option in service_options() if option.name == key), None)


def option(globals_: GlobalsBase, name: str) -> Any:
    """The value of a service's option: attribute access on the dynamic model, typed for mypy."""
    return getattr(globals_, name)


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
