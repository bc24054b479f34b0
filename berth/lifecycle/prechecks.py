"""Host prechecks: everything that would make a deploy fail half-way, found before anything changes.

Each check says what it found and, when it fails, the fix. Warnings do not fail the run.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass

from berth.config.globals import option
from berth.config.loader import Config
from berth.config.passwords import check_passwords
from berth.engine.base import Engine
from berth.errors import ConfigError
from berth.lifecycle.render import enabled_services
from berth.state.desired import DesiredState

MIN_DISK_GIB = 10
MIN_MEMORY_GIB = 4
MIN_ENGINE = (20, 10)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    fix: str = ""
    warning: bool = False  # shown, but does not fail the prechecks


def engine_check(engine: Engine | None, error: str = "") -> Check:
    if engine is None:
        return Check("engine", False, f"the Docker engine is unreachable: {error}",
                     "run `berth bootstrap-host` (as root) to install and start it")
    version = engine.version()
    number = tuple(int(p) for p in version.version.split(".")[:2] if p.isdigit())
    text = f"Docker {version.version} (API {version.api_version})"
    if number < MIN_ENGINE:
        return Check("engine", False, f"{text} is older than 20.10", "upgrade docker.io (`berth bootstrap-host`)")
    return Check("engine", True, text)


def address_check(config: Config) -> Check:
    try:
        address = config.api_address
    except ConfigError as exc:  # the interface does not exist or has no address
        return Check("address", False, exc.message, exc.hint or "set api_address in globals.yml")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
    except OSError as exc:
        return Check("address", False, f"api address {address} is not on this host ({exc.strerror})",
                     "set api_address to an address of this host (see `ip -4 addr`)")
    return Check("address", True, f"api address {address} (interface {config.globals.network_interface})")


def port_checks(config: Config, desired: DesiredState, running: set[str]) -> list[Check]:
    """Every port berth will bind must be free, unless a container of this deployment already holds it."""
    out = []
    keys = {c.key for c in desired.containers}
    values = config.globals.model_dump(mode="json")
    for service in enabled_services(config):
        for port in service.ports:
            if port.container not in keys or port.container in running:
                continue
            number = port.number(values)
            problem = bind_problem(config.api_address, number, port.protocol)
            name = f"port {port.protocol}/{number}"
            if problem:
                out.append(Check(name, False, f"{config.api_address}:{number} ({port.protocol}) is {problem}; "
                                 f"container {port.container} needs it",
                                 f"stop what listens there (`ss -lntup 'sport = :{number}'`) or change "
                                 "api_address in globals.yml (or the port's key, if it has one)"))
            else:
                out.append(Check(name, True, f"{config.api_address}:{number} free for {port.container}"))
    return out


def bind_problem(address: str, port: int, protocol: str) -> str:
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    try:
        with socket.socket(socket.AF_INET, kind) as sock:
            # as servers do: connections in TIME_WAIT do not block a bind, a listener does (Linux)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
    except OSError as exc:
        return "already in use" if exc.errno == errno.EADDRINUSE else f"not bindable ({exc.strerror})"
    return ""


def kvm_check(config: Config, engine: Engine | None = None) -> Check:
    """Which virtualization nova-compute gets, and why; a forced `kvm` that cannot boot a guest fails."""
    from berth.lifecycle.render import image_ref
    from berth.lifecycle.virt import LIBVIRT_IMAGE, decide, kvm_openable

    wanted = option(config.globals, "nova_compute_virt_type")
    if wanted == "qemu":
        return Check("kvm", True, "nova_compute_virt_type: qemu (software emulation, as configured)")
    fix = "set nova_compute_virt_type: qemu in globals.yml (software emulation)"
    problem = kvm_openable()
    if problem:
        if wanted == "kvm":
            return Check("kvm", False, f"nova_compute_virt_type is kvm but {problem}", fix)
        return Check("kvm", True, f"nova_compute_virt_type auto -> qemu: {problem}")
    nova = any(s.name == "nova" for s in enabled_services(config))
    ref = image_ref(config, LIBVIRT_IMAGE)
    if not nova or engine is None or engine.image(ref) is None:
        why = "nova is not enabled" if not nova else f"image {ref} is not built yet"
        return Check("kvm", True, f"/dev/kvm opens; no KVM boot test yet ({why})")
    decision = decide(config, engine, ref)
    if wanted == "kvm" and decision.virt_type != "kvm":
        return Check("kvm", False, f"nova_compute_virt_type is kvm but {decision.reason}", fix)
    return Check("kvm", True, f"nova_compute_virt_type {wanted} -> {decision.virt_type}: {decision.reason}")


def resource_checks(engine: Engine | None, state_dir: str) -> list[Check]:
    """Free disk where the engine keeps images and where berth keeps state; memory."""
    out = []
    root = engine.info().root_dir if engine else "/var/lib/docker"
    for path in dict.fromkeys([root if os.path.isdir(root) else "/", state_dir]):
        probe = path
        while not os.path.exists(probe):
            probe = os.path.dirname(probe) or "/"
        free = shutil.disk_usage(probe).free / 2**30
        ok = free >= MIN_DISK_GIB
        out.append(Check(f"disk {path}", ok, f"{free:.1f} GiB free (minimum {MIN_DISK_GIB} GiB)",
                         "free some space (`berth cleanup images`, `docker system prune`)"))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    out.append(Check("memory", memory >= MIN_MEMORY_GIB, f"{memory:.1f} GiB (minimum {MIN_MEMORY_GIB} GiB)",
                     "use a host with more memory"))
    return out


def password_check(config: Config) -> Check:
    required = [p for s in enabled_services(config) for p in s.password_names]
    _, problems, warnings = check_passwords(config.config_dir, required)
    if problems:
        return Check("passwords", False, "; ".join(problems), f"run `berth --config-dir {config.config_dir} genpwd`")
    return Check("passwords", True, f"{len(required)} secret(s) present" + (f"; {warnings[0]}" if warnings else ""))


def config_check(config: Config) -> Check:
    from berth.config.validate import validate_config

    inventory = config.inventory.source if config.inventory is not None else None
    report = validate_config(config.config_dir, inventory)  # per-host override paths name the inventory's hosts
    if report.problems:
        return Check("configuration", False, "; ".join(report.problems), "fix the files named (`berth config validate`)")
    return Check("configuration", True, f"{config.config_dir} is valid")


def image_checks(config: Config, desired: DesiredState) -> list[Check]:
    out = []
    for ref in sorted({c.image for c in desired.containers}):
        present = any(c.image == ref and c.image_id for c in desired.containers)
        image = ref.rsplit("/", 1)[-1].split(":")[0]
        if present:
            out.append(Check(f"image {image}", True, f"{ref} present"))
        elif config.globals.docker_registry:
            out.append(Check(f"image {image}", True, f"{ref} will be pulled from {config.globals.docker_registry}"))
        else:
            out.append(Check(f"image {image}", False, f"{ref} is not present on the engine",
                             f"build it: `berth build {image}`"))
    return out


def run_prechecks(config: Config, engine: Engine | None, desired: DesiredState | None,
                  running: set[str], engine_error: str = "") -> list[Check]:
    checks = [engine_check(engine, engine_error), config_check(config), password_check(config), address_check(config)]
    guarded: list[Callable[[], list[Check]]] = [lambda: resource_checks(engine, str(config.globals.state_dir)), lambda: [kvm_check(config, engine)]]
    if desired is not None:
        guarded += [lambda: port_checks(config, desired, running), lambda: image_checks(config, desired)]
    for make in guarded:
        checks += make()
    return checks


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok and not c.warning]
