"""How services find each other: host addresses from the inventory, and what each service exports.

The core knows no service's port or URL. A service folder declares `exports:` (service.yml): values computed
from the hosts of its group and the internal VIP, e.g. mariadb's `database_url(...)`, rabbitmq's
`transport_url` or keystone's `keystone_url`. Every template sees every export; lifecycle code that must reach a
service (Keystone registration, post-deploy credentials) asks `exports(config)` instead of building URLs.

Addresses: a service binds to its own host's address (`api_address`, alias `bind_address`); others reach it at
`internal_vip_address` when set, else at the address of the first host of its group (`service_address`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from ipaddress import ip_address
from typing import Any

import jinja2
from pydantic import ValidationError

from berth.config.globals import GlobalsBase, resolved_api_address
from berth.config.inventory import LOCALHOST
from berth.config.loader import Config
from berth.errors import ConfigError
from berth.state.model import ExportFunction, ServiceDef, deployable_services, load_service


@dataclass(frozen=True)
class HostInfo:
    """One host as templates see it: `host_info.address`, `hosts[0].name`, ..."""

    name: str
    address: str  # its internal address: services on it bind here, others connect here
    vars: Mapping[str, str] = field(default_factory=dict)  # inventory variables (group vars, then host vars)

    @property
    def network_interface(self) -> str:
        return str(self.vars.get("network_interface", ""))


def _host_vars(config: Config, name: str) -> Mapping[str, str]:
    inventory = config.inventory
    if inventory is None or name not in inventory.hosts:
        return {"ansible_connection": "local"} if name == LOCALHOST else {}
    return inventory.hosts[name].vars


def _is_ip(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def host_globals(config: Config, name: str) -> GlobalsBase:
    """globals.yml with this host's inventory variables laid over it (only keys globals.yml knows, typed).

    This is how `network_interface`, `api_address` or a service option such as `neutron_external_interface`
    differ per host, as the inventory documents.
    """
    known = type(config.globals).model_fields
    overrides = {k: v for k, v in _host_vars(config, name).items() if k in known}
    if not overrides:
        return config.globals
    data = {**config.globals.model_dump(), **overrides}
    try:
        return type(config.globals).model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = config.inventory.source if config.inventory is not None else "inventory"
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{where}: host `{name}`: `{key}`: {err['msg']}", "fix the host's variable") from exc


def host_address(config: Config, name: str) -> str:
    """The host's internal address: inventory `api_address`, else an IP `ansible_host`, else (only for the host
    berth runs on) globals `api_address` or the first IPv4 address of `network_interface`.

    Remote hosts are never looked up: rendering a multinode plan must work without the hosts existing.
    """
    host_vars = _host_vars(config, name)
    for key in ("api_address", "ansible_host"):
        value = str(host_vars.get(key, ""))
        if value and _is_ip(value):
            return value
    if host_vars.get("ansible_connection") == "local":
        return resolved_api_address(host_globals(config, name))
    raise ConfigError(f"host `{name}` has no address",
                      f"set api_address=<ip> (or ansible_host=<ip>) for {name} in the inventory")


def host_problems(config: Config) -> list[str]:
    """Every host that runs containers needs an address and well-typed variables; found without contacting it."""
    if config.inventory is None or config.inventory.is_all_in_one:
        return []
    hosts = dict.fromkeys(h for name in deployable_services() for key in load_service(name).containers
                          for h in container_hosts(config, load_service(name), key))
    problems = []
    for name in hosts:
        try:
            host_globals(config, name)
            host_address(config, name)
        except ConfigError as err:
            problems.append(f"{err.message} ({err.hint})" if err.hint else err.message)
    return problems


def host_info(config: Config, name: str) -> HostInfo:
    return HostInfo(name, host_address(config, name), dict(_host_vars(config, name)))


def hosts_for(config: Config, group: str) -> list[str]:
    """Hosts of `group` (`a:b`: every host of either; Inventory.hosts_for); the all-in-one's one host."""
    inventory = config.inventory
    return [LOCALHOST] if inventory is None else inventory.hosts_for(group)


def container_hosts(config: Config, service: ServiceDef, key: str) -> list[str]:
    """Hosts running container `key` of `service` (its own inventory group if it has hosts, else its role group:
    Inventory.container_hosts)."""
    inventory = config.inventory
    group = service.containers[key].group
    return [LOCALHOST] if inventory is None else inventory.container_hosts(key, group)


def service_hosts(config: Config, service: ServiceDef) -> list[str]:
    """Hosts others reach the service on: those running its main container."""
    main = service.main_container
    return container_hosts(config, service, main) if main else []


def service_address(config: Config, service: ServiceDef) -> str | None:
    """Where others reach `service`: the internal VIP when set, else its first host (None: no host runs it)."""
    if config.globals.internal_vip_address:
        return config.globals.internal_vip_address
    hosts = service_hosts(config, service)
    return host_address(config, hosts[0]) if hosts else None


def public_address(config: Config, service: ServiceDef) -> str | None:
    """Where clients reach `service`: the external VIP when set, else where other services do."""
    return config.globals.external_vip_address or service_address(config, service)


def public_scheme(config: Config) -> str:
    """https when HAProxy terminates TLS on the external VIP."""
    return "https" if config.globals.enable_tls_external else "http"


# --- load balancing ---------------------------------------------------------------------------------------------


def loadbalancer(config: Config) -> list[dict[str, Any]]:
    """What HAProxy serves on the internal VIP: each enabled service's `loadbalancer:` frontends, with every host
    running the port's container as a backend (in inventory order: with `active_backup` the first one serves)."""
    from berth.config.globals import is_enabled

    values = base_values(config)
    out: list[dict[str, Any]] = []
    for name in deployable_services():
        if not is_enabled(config.globals, name):
            continue
        service = load_service(name)
        numbers = service.port_numbers(values)
        containers = {p.name: p.container for p in service.ports if p.name}
        for frontend in service.loadbalancer:
            number = numbers[frontend.port]
            backends = [{"name": h, "address": host_address(config, h), "port": number}
                        for h in container_hosts(config, service, containers[frontend.port])]
            out.append({"name": f"{name}_{frontend.port}".replace("-", "_"), "service": name, "port": number,
                        "mode": frontend.mode, "check": frontend.check, "active_backup": _flag(frontend.active_backup, values),
                        "timeout": frontend.timeout, "external": frontend.external, "backends": backends})
    return out


def _flag(value: bool | str, values: Mapping[str, Any]) -> bool:
    """A yes/no setting of service.yml that may be a template over globals (`"{{ glance_backend == 'file' }}"`)."""
    if isinstance(value, bool):
        return value
    return str(_render(value, values)).strip().lower() not in {"", "false", "0", "no", "none"}


# --- exports ---------------------------------------------------------------------------------------------------


_SINGLE = re.compile(r"^\{\{((?:(?!\{\{|\}\}).)*)\}\}$")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def base_values(config: Config) -> dict[str, Any]:
    """What every template and export sees regardless of host: globals (with options), passwords, deployment."""
    passwords = {k: ("" if v is None else v) for k, v in config.passwords.items()}
    return {**config.globals.model_dump(mode="json"), "passwords": passwords,
            "deployment": config.globals.deployment_name,
            "upgrade_from_release": getattr(config, "upgrading_from", None) or ""}


def exports(config: Config) -> dict[str, Any]:
    """Every export of every deployable service (enabled or not, as templates always saw them), by name."""
    values = base_values(config)
    out: dict[str, Any] = {}
    for name in deployable_services():
        service = load_service(name)
        for key, value in _service_exports(config, service, values).items():
            if key in out or key in values:
                raise ConfigError(f"{service.folder / 'service.yml'}: export `{key}` is already defined",
                                  "exports share one namespace with globals and other services' exports")
            out[key] = value
    return out


def _service_exports(config: Config, service: ServiceDef, values: Mapping[str, Any]) -> dict[str, Any]:
    """One service's exports, each rendered with the earlier ones; none when no host runs the service."""
    if not service.exports:
        return {}
    hosts = [host_info(config, h) for h in service_hosts(config, service)]
    address = service_address(config, service)
    if address is None:
        return {}
    ctx: dict[str, Any] = {**values, "hosts": hosts, "address": address, "ports": service.port_numbers(values),
                           "public_address": public_address(config, service), "public_scheme": public_scheme(config)}
    out: dict[str, Any] = {}
    for key, spec in service.exports.items():
        out[key] = ctx[key] = _export(service, key, spec, ctx)
    return out


def _export(service: ServiceDef, key: str, spec: Any, ctx: dict[str, Any]) -> Any:
    if isinstance(spec, ExportFunction):
        return _function(service, key, spec, dict(ctx))
    try:
        return _render(spec, ctx)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"{service.folder / 'service.yml'}: export `{key}`: cannot render: {exc}",
                          "check the variable names (see docs/services.md)") from exc


def _function(service: ServiceDef, key: str, spec: ExportFunction, ctx: dict[str, Any]) -> Callable[..., str]:
    """An export with parameters, called from templates like `database_url("glance", "glance", "glance_...")`."""
    template = _environment().from_string(spec.value)

    def call(*args: Any) -> str:
        if len(args) != len(spec.params):
            raise jinja2.TemplateRuntimeError(f"{key}() of service {service.name} takes "
                                              f"{len(spec.params)} arguments ({', '.join(spec.params)})")
        return template.render({**ctx, **dict(zip(spec.params, args, strict=True))})

    return call


def _render(value: Any, ctx: Mapping[str, Any]) -> Any:
    """Render every string inside a value (lists and mappings recursively); other scalars stay as they are.

    A string that is one `{{ expression }}` keeps the expression's type: `"{{ ports.mysql }}"` is the number.
    """
    if isinstance(value, str):
        single = _SINGLE.match(value)
        if single:
            result = _environment().compile_expression(single.group(1), undefined_to_none=False)(**ctx)
            if isinstance(result, jinja2.Undefined):
                raise jinja2.UndefinedError(f"`{single.group(1).strip()}` is undefined")
            return result
        return _environment().from_string(value).render(ctx) if "{" in value else value
    if isinstance(value, list):
        return [_render(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, ctx) for k, v in value.items()}
    return value
