"""Prechecks of one host of an inventory: what it needs is decided on the deployment host (pure), checked on it.

The deployment host renders each host's part (`HostNeeds`: the ports its containers bind at its address, the
devices they use, the registry it pulls from, its state directory) and ships that to `berth check-host` on the
host through Ansible: the host needs no configuration to check it. The configuration and the passwords are
checked once, on the deployment host, where they are.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass

from berth.config.loader import Config
from berth.engine.base import Engine
from berth.lifecycle.prechecks import Check, bind_problem, engine_check, resource_checks
from berth.lifecycle.render import enabled_services
from berth.lifecycle.wiring import host_address
from berth.plan.codec import from_data, to_data
from berth.state.desired import DesiredState

REGISTRY_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PortNeed:
    address: str
    number: int
    protocol: str
    container: str  # the container key that binds it (free, or held by that container of the deployment)


@dataclass(frozen=True)
class HostNeeds:
    host: str
    deployment: str
    deployment_dir: str
    state_dir: str
    registry: str = ""  # where the host pulls images from ("" : images are built or loaded on it)
    ports: tuple[PortNeed, ...] = ()
    devices: tuple[str, ...] = ()  # device paths its containers map in (e.g. /dev/kvm, /dev/net/tun)

    def dumps(self) -> str:
        return json.dumps(to_data(self), sort_keys=True, separators=(",", ":"))


def loads(text: str) -> HostNeeds:
    return from_data(HostNeeds, json.loads(text))


def needs_of(config: Config, host: str, desired: DesiredState) -> HostNeeds:
    """What `host`'s containers need from it: pure, from the configuration and the host's rendered part."""
    keys = {c.key for c in desired.containers}
    values = config.globals.model_dump(mode="json")
    address = host_address(config, host)
    ports = tuple(PortNeed(address, p.number(values), p.protocol, p.container)
                  for s in enabled_services(config) for p in s.ports if p.container in keys)
    devices = sorted({str(d).split(":", 1)[0] for c in desired.containers for d in c.spec.get("devices") or ()})
    return HostNeeds(host, config.globals.deployment_name, str(config.deployment_dir), str(config.globals.state_dir),
                     config.globals.docker_registry, ports, tuple(devices))


def check(needs: HostNeeds, engine: Engine | None, engine_error: str, running: Collection[str]) -> list[Check]:
    """On the host: engine, registry, ports (free or held by the deployment's own running container), devices,
    disk and memory; each failure with its fix."""
    checks = [engine_check(engine, engine_error)]
    if needs.registry:
        checks.append(registry_check(needs.registry))
    checks += [port_check(p, running) for p in needs.ports]
    checks += [device_check(d) for d in needs.devices]
    return checks + resource_checks(engine, needs.state_dir)


def registry_check(registry: str) -> Check:
    """The registry answers its API (`/v2/`) from this host: every image is pulled from there."""
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/", timeout=REGISTRY_TIMEOUT_S) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code  # 401: the registry answers and wants a login; still reachable
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("registry", False, f"{registry} does not answer from this host: {reason}",
                     f"start it on the deployment host (`berth registry start --address ADDRESS`) and check that "
                     f"this host reaches {registry} (routes, firewall)")
    return Check("registry", status in (200, 401), f"{registry} answers (HTTP {status})",
                 "check docker_registry in globals.yml: it must name a Docker registry")


def port_check(need: PortNeed, running: Collection[str]) -> Check:
    name = f"port {need.protocol}/{need.number}"
    if need.container in running:
        return Check(name, True, f"{need.address}:{need.number} held by its own container {need.container}")
    problem = bind_problem(need.address, need.number, need.protocol)
    if problem:
        return Check(name, False, f"{need.address}:{need.number} ({need.protocol}) is {problem}; container "
                     f"{need.container} needs it",
                     f"stop what listens there (`ss -lntup 'sport = :{need.number}'`) or set this host's "
                     "api_address in the inventory")
    return Check(name, True, f"{need.address}:{need.number} free for {need.container}")


def device_check(path: str) -> Check:
    from pathlib import Path

    if Path(path).exists():
        return Check(f"device {path}", True, "present")
    return Check(f"device {path}", False, f"{path} is missing on this host and a container maps it in",
                 "load the kernel module that provides it, or disable the service that needs it on this host")
