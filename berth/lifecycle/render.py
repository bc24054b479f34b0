"""Render the desired state of one host: service definitions + configuration -> DesiredState.

Everything a container will be created with ends up in `spec` (plain JSON data) or in `files` (the config
directory, post-override), so hashing them says exactly whether a container must change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from berth.config.globals import is_enabled, option
from berth.config.loader import Config
from berth.config.overrides import apply_overrides
from berth.config.passwords import secret_values
from berth.errors import ConfigError
from berth.images import names as image_names
from berth.lifecycle import wiring
from berth.services.registry import SHARED_TEMPLATES
from berth.state.desired import DesiredContainer, DesiredState, DesiredStep, ServiceUnit
from berth.state.hashing import canonical_json, sha256
from berth.state.model import ConfigFile, ContainerDef, ServiceDef, Step, deployable_services, load_service

DEFAULT_DEPLOYMENT = "berth"
CONFIG_MOUNT = "/var/lib/berth/config"
LOG_MOUNT = "/var/log/berth"
FALSE_WORDS = frozenset({"", "false", "0", "no", "none"})  # a `when:` rendering to one of these leaves its file out
DB_SERVICE, DB_CONTAINER, DB_VOLUME = "mariadb", "mariadb", "mariadb"


def container_name(deployment: str, key: str) -> str:
    """`keystone` for the default deployment, `<deployment>-keystone` otherwise (tests run side by side)."""
    return key if deployment == DEFAULT_DEPLOYMENT else f"{deployment}-{key}"


def volume_name(deployment: str, volume: str) -> str:
    return f"{deployment}_{volume}"


def image_ref(config: Config, image: str, tag: str | None = None) -> str:
    g = config.globals
    return image_names.image_ref(g.docker_registry, g.image_namespace, image, tag or g.image_tag)


def pinned_tags(config: Config) -> dict[str, str]:
    """service -> image tag that `berth upgrade --tag` / `berth rollback` left it on (deploy keeps it there)."""
    from berth.state.store import StateStore

    return dict(StateStore(config.deployment_dir).read().get("pins", {}))


def enabled_services(config: Config) -> list[ServiceDef]:
    return [load_service(n) for n in deployable_services() if is_enabled(config.globals, n)]


def readable_files(config: Config) -> set[tuple[str, str, str]]:
    """(service, container, file name) of every generated file an override may target (`config validate`)."""
    out: set[tuple[str, str, str]] = set()
    for service in enabled_services(config):
        for key, container in service.containers.items():
            out.update((service.name, key, f.name) for f in container.config)
        for step in service.steps:
            out.update((service.name, step.container, f.name) for f in step.config)
    return out


class Renderer:
    """Renders one host's desired state; holds the Jinja environment and the template context."""

    def __init__(self, config: Config, images: Mapping[str, str], host: str = "localhost",
                 pins: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.images = images
        self.host = host
        self.deployment = config.globals.deployment_name
        self.api_address = wiring.host_address(config, host)
        self.base_context = self._context()
        self.pins = dict(pinned_tags(config) if pins is None else pins)

    def _context(self) -> dict[str, Any]:
        """Globals (with this host's inventory variables laid over them), passwords, every service's exports,
        and this host: its name, variables and address (`api_address` = `bind_address`: what services bind to)."""
        g = wiring.host_globals(self.config, self.host)
        info = wiring.host_info(self.config, self.host)
        return {
            **wiring.base_values(self.config),
            **g.model_dump(mode="json"),
            **wiring.exports(self.config),
            "loadbalancer": wiring.loadbalancer(self.config),
            "nova_compute_virt_type": resolved_virt_type(self.config),
            "api_address": self.api_address,
            "bind_address": self.api_address,
            "host": self.host,
            "host_info": info,
            "host_vars": dict(info.vars),
            "workers": g.openstack_service_workers,
            "container_name": lambda key: container_name(self.deployment, key),
            "host_address": lambda name: wiring.host_address(self.config, name),  # any host's, by name
        }

    def _service_context(self, service: ServiceDef, **extra: Any) -> dict[str, Any]:
        """The base context plus `service_address` (where other hosts reach this service: VIP or first host),
        `ports` (its named ports) and `container_hosts` (container key -> names of the hosts running it, e.g. for
        a once-only step that waits for every compute host)."""
        hosts = {key: wiring.container_hosts(self.config, service, key) for key in service.containers}
        return {**self.base_context, "service": service.name, "container_hosts": hosts,
                "ports": service.port_numbers(self.base_context),
                "service_address": wiring.service_address(self.config, service), **extra}

    def render(self) -> DesiredState:
        services = enabled_services(self.config)
        names = {s.name for s in services}
        units: list[ServiceUnit] = []
        containers: list[DesiredContainer] = []
        steps: list[DesiredStep] = []
        upgrade: list[DesiredStep] = []
        replaced: dict[str, tuple[str, ...]] = {}
        for service in services:
            service_containers = self._containers(service)
            if not service_containers:
                continue
            containers += service_containers.values()
            steps += self._steps(service, service_containers)
            if service.upgrade is not None:
                upgrade += [self._oneshot(service, s, service_containers[s.container])
                            for s in service.upgrade.steps if s.container in service_containers
                            and self._in_release(s.releases) and self._runs_here(service, s.container, s.scope)]
                replaced[service.name] = tuple(service.upgrade.replaces)
            deps = tuple(d for d in service.depends_on if d in names) + _through_the_vip(service, services)
            units.append(ServiceUnit(service.name, self.host, deps, self._volumes(service)))
        _check_dependencies(services)
        return DesiredState(self.deployment, tuple(units), tuple(containers), tuple(steps),
                            frozenset(secret_values(self.config.passwords)), tuple(upgrade), replaced)

    # --- containers ----------------------------------------------------------------------------------------------

    def _containers(self, service: ServiceDef) -> dict[str, DesiredContainer]:
        out = {}
        for key, definition in service.containers.items():
            if not self._in_release(definition.releases):
                continue
            if self.host in wiring.container_hosts(self.config, service, key):
                out[key] = self._container(service, key, definition)
        return out

    def _in_release(self, releases: Sequence[str] | None) -> bool:
        """Containers and steps may belong to some releases only (neutron's L2 agent differs per release)."""
        return releases is None or self.config.globals.openstack_release in releases

    def _container(self, service: ServiceDef, key: str, d: ContainerDef) -> DesiredContainer:
        ctx = self._service_context(service, container=key)
        d = d.model_copy(update={"config": self._wanted_files(service, d.config, ctx)})
        files = self._files(service, key, d.config, ctx)
        # privsep_preload entries are templates too (a package of one release only); "" drops an entry
        preload = [p for p in self._value(service, d.privsep_preload, ctx) if p]
        # every container's output lands in a file under its service's log directory: the central logs
        # (enable_central_logging) follow those files, and logrotate bounds them
        d = d.model_copy(update={"privsep_preload": preload, "log_file": d.log_file or f"{key}.log"})
        files["config.json"] = _config_json(service.name, d, _without_empty(self._value(service, d.command, ctx)))
        ref = image_ref(self.config, d.image, self.pins.get(service.name))
        ready = d.healthcheck.ready_log if d.healthcheck else None
        return DesiredContainer(
            key=key, service=service.name, name=container_name(self.deployment, key), host=self.host, image=ref,
            image_id=self.images.get(ref), spec=self._spec(service, key, d, ref, ctx), files=files,
            health=tuple(_without_empty(self._value(service, d.healthcheck.test, ctx))) if d.healthcheck else (),
            health_timeout=d.healthcheck.wait_timeout if d.healthcheck else 60.0, stop_timeout=d.stop_timeout,
            swap=d.swap, ready_log=ready, restart_with=tuple(d.restart_with),
        )

    def _spec(self, service: ServiceDef, key: str, d: ContainerDef, ref: str, ctx: dict[str, Any]) -> dict[str, Any]:
        """Every create-time field as plain data: what the label hash and the field diff are computed from."""
        g = self.config.globals
        config_dir = str(self.config.deployment_dir / "config" / key)
        binds = [f"{config_dir}:{CONFIG_MOUNT}:ro", f"{g.log_dir}/{service.name}:{LOG_MOUNT}/{service.name}"]
        binds += [self._volume_spec(v) for v in self._value(service, d.volumes, ctx) if v]  # "": a conditional one
        health = None
        if d.healthcheck:
            h = d.healthcheck
            test = _without_empty(self._value(service, h.test, ctx))
            health = {"test": ["CMD", "berth-health", *test], "interval": h.interval,
                      "timeout": h.timeout, "retries": h.retries, "start_period": h.start_period}
        return {
            "image": ref,
            "network_mode": "host",
            "environment": _without_empty(self._value(service, d.environment, ctx)),
            "volumes": binds,
            "cap_add": sorted(d.cap_add),
            "privileged": bool(d.privileged and g.container_privileged),
            "pid_mode": d.pid_mode,
            "ipc_mode": d.ipc_mode,
            "devices": [x for x in self._value(service, d.devices, ctx) if x],  # "" drops a conditional device
            "security_opt": list(d.security_opt),
            "init": d.init,
            "restart": d.restart,
            "healthcheck": health,
            "stop_timeout": d.stop_timeout,
        }

    def _volume_spec(self, text: str) -> str:
        source, _, rest = text.partition(":")
        if not rest:
            raise ConfigError(f"volume `{text}` must be `name:/path[:ro]` or `/host/path:/path[:ro]`")
        if not source.startswith("/"):
            source = volume_name(self.deployment, source)
        return f"{source}:{rest}"

    def _volumes(self, service: ServiceDef) -> tuple[str, ...]:
        """The named volumes the service's containers of this release mount (conditional ones rendered: nova_compute's
        state directory on epoxy; a volume two services mount, e.g. openvswitch_run, is listed by both)."""
        names = set()
        ctx = self._service_context(service)
        for d in service.containers.values():
            if not self._in_release(d.releases):
                continue
            for text in self._value(service, d.volumes, ctx):
                source = text.partition(":")[0]
                if text and not source.startswith("/"):
                    names.add(volume_name(self.deployment, source))
        return tuple(sorted(names))

    def _wanted_files(self, service: ServiceDef, items: list[ConfigFile], ctx: dict[str, Any]) -> list[ConfigFile]:
        """The config files whose `when` (if any) renders true."""
        return [item for item in items
                if item.when is None or str(self._value(service, item.when, ctx)).strip().lower() not in FALSE_WORDS]

    def _files(self, service: ServiceDef, key: str, items: list[ConfigFile], ctx: dict[str, Any]) -> dict[str, str]:
        out = {}
        for item in items:
            rendered = self._template(service, item.template, ctx)
            out[item.name] = apply_overrides(self.config.config_dir, service.name, key, self.host, item.name, rendered)
        return out

    # --- steps ---------------------------------------------------------------------------------------------------

    def _runs_here(self, service: ServiceDef, container: str | None, scope: str = "deployment") -> bool:
        """Whether a step of `container` renders onto this host: deployment-wide steps (databases, db-sync,
        registration) onto the first host of the container's group only, per-host steps onto every one."""
        if container is None:
            return False
        hosts = wiring.container_hosts(self.config, service, container)
        return self.host in hosts if scope == "host" else hosts[:1] == [self.host]

    def _steps(self, service: ServiceDef, containers: dict[str, DesiredContainer]) -> list[DesiredStep]:
        once = self._runs_here(service, service.main_container)
        out = [self._database_step(service, db) for db in service.databases] if once else []
        for step in service.steps:
            if step.container in containers and self._in_release(step.releases) \
                    and self._runs_here(service, step.container, step.scope) and self._wanted(service, step):
                out.append(self._oneshot(service, step, containers[step.container]))
        if service.keystone is not None and once:
            out.append(self._register_step(service))
        return out

    def _wanted(self, service: ServiceDef, step: Step) -> bool:
        """A step's `when:` condition (e.g. RabbitMQ's queue growth only in a cluster); no condition: wanted."""
        if step.when is None:
            return True
        rendered = str(self._value(service, step.when, self._service_context(service, container=step.container)))
        return rendered.strip().lower() not in {"", "false", "0", "no"}

    def _database_step(self, service: ServiceDef, db: Any) -> DesiredStep:
        """Where MariaDB is (its exports) travels with the step; the stamp covers only what the step creates, so
        a new address alone does not re-run it."""
        what = {"database": db.name, "user": db.user, "password": db.password}
        where = {"host": self.base_context.get("database_host"), "port": self.base_context.get("database_port"),
                 "admin_password": self.base_context.get("database_admin_password_key")}
        secret = str(self.config.passwords.get(db.password, ""))
        return DesiredStep(service=service.name, name=f"database-{db.name}", kind="database", host=self.host,
                           base=sha256(canonical_json({**what, "secret": sha256(secret)})),
                           stamp_volumes=(volume_name(self.deployment, DB_VOLUME),), payload={**what, **where})

    def _oneshot(self, service: ServiceDef, step: Step, base: DesiredContainer) -> DesiredStep:
        definition = service.containers[step.container]
        ctx = self._service_context(service, container=step.container)
        files = {k: v for k, v in base.files.items() if k != "config.json"}
        step_files = self._wanted_files(service, step.config, ctx)
        files.update(self._files(service, step.container, step_files, ctx))
        config = self._wanted_files(service, definition.config, ctx) + step_files
        d = definition.model_copy(update={"config": config, "log_file": None,
                                          "privsep_preload": [], "user": step.user or definition.user})
        files["config.json"] = _config_json(service.name, d, _without_empty(self._value(service, step.command, ctx)))
        key = f"{step.container}--{step.name}"
        spec = dict(base.spec)
        spec["volumes"] = [f"{self.config.deployment_dir / 'config' / key}:{CONFIG_MOUNT}:ro", *base.spec["volumes"][1:]]
        spec["environment"] = {**base.spec["environment"],
                               **_without_empty(self._value(service, step.environment, ctx))}
        spec.update(restart="no", healthcheck=None)
        container = DesiredContainer(key=key, service=service.name, name=container_name(self.deployment, key),
                                     host=self.host, image=base.image, image_id=base.image_id, spec=spec, files=files)
        return DesiredStep(service=service.name, name=step.name, kind="oneshot", host=self.host, phase=step.phase,
                           base=container.config_hash, container=container, timeout=step.timeout,
                           stamp_volumes=tuple(volume_name(self.deployment, v) for v in step.stamp_volumes),
                           scope=step.scope)

    def _register_step(self, service: ServiceDef) -> DesiredStep:
        """The payload also says how to reach Keystone (keystone's exports: auth URL, admin, password by key)."""
        assert service.keystone is not None
        ctx = self._service_context(service)
        raw = service.keystone.model_dump(mode="json")
        data = self._value(service, {**raw, "endpoints": []}, ctx)
        data["endpoints"] = [self._endpoint(service, e, ctx) for e in raw["endpoints"]]
        secrets = {u["password"]: sha256(str(self.config.passwords.get(u["password"], ""))) for u in data["users"]}
        where = {"auth_url": self.base_context.get("keystone_auth_url"), "admin": self.base_context.get("keystone_admin")}
        return DesiredStep(service=service.name, name="keystone-register", kind="register", host=self.host,
                           phase=service.keystone.phase, payload={**data, **where},
                           base=sha256(canonical_json({"data": data, "secrets": secrets})),
                           stamp_volumes=(volume_name(self.deployment, DB_VOLUME),))

    def _endpoint(self, service: ServiceDef, spec: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
        """One catalog entry with a URL per interface: `public` at the external address and scheme (TLS on the
        external VIP), the others at `service_address` over HTTP. The same URL everywhere without an external VIP."""
        public = {**ctx, "service_address": wiring.public_address(self.config, service),
                  "endpoint_scheme": wiring.public_scheme(self.config)}
        internal = {**ctx, "endpoint_scheme": "http"}
        urls = {i: self._value(service, spec["url"], public if i == "public" else internal)
                for i in spec["interfaces"]}
        return {"service": spec["service"], "interfaces": spec["interfaces"], "urls": urls}

    # --- templating ----------------------------------------------------------------------------------------------

    def _template(self, service: ServiceDef, name: str, ctx: dict[str, Any]) -> str:
        try:
            return _environment(str(service.folder / "templates")).get_template(name).render(ctx)
        except jinja2.TemplateError as exc:
            where = f"{service.folder / 'templates' / name}"
            line = f":{exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno else ""
            raise ConfigError(f"{where}{line}: cannot render: {exc}",
                              "a value the template needs is missing: check globals.yml and passwords.yml") from exc

    def _value(self, service: ServiceDef, value: Any, ctx: dict[str, Any]) -> Any:
        """Render every string inside a service.yml value (lists and mappings recursively)."""
        if isinstance(value, str):
            if "{" not in value:
                return value
            try:
                return _environment(str(service.folder / "templates")).from_string(value).render(ctx)
            except jinja2.TemplateError as exc:
                raise ConfigError(f"{service.folder / 'service.yml'}: cannot render `{value}`: {exc}",
                                  "check the variable names (see docs/services.md)") from exc
        if isinstance(value, list):
            return [self._value(service, v, ctx) for v in value]
        if isinstance(value, dict):
            return {k: self._value(service, v, ctx) for k, v in value.items()}
        return value


@cache
def _environment(folder: str) -> jinja2.Environment:
    """The service's templates first, then the shared pieces (`{% import "openstack.j2" as openstack ... %}`)."""
    loader = jinja2.FileSystemLoader([folder, str(SHARED_TEMPLATES)])
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)


def _without_empty(value: Any) -> Any:
    """Items of a rendered list (command, health test) or values of a mapping (environment) that render to "" are
    left out, as "" volumes and devices are: one item can be conditional (mariadb's Galera start wrapper, RabbitMQ's
    long node names, only in a cluster) and leave the other case exactly as it was. A shell string stays as it is."""
    if isinstance(value, list):
        return [item for item in value if item != ""]
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if v != ""}
    return value


def _config_json(service: str, d: ContainerDef, command: Any) -> str:
    """The image contract's config.json for one container (see docs/image-contract.md)."""
    log_dir = f"{LOG_MOUNT}/{service}"
    data: dict[str, Any] = {"command": command, "user": d.user}
    if d.log_file:
        data["log_file"] = f"{log_dir}/{d.log_file}"
    if d.privsep_preload:
        data["privsep_preload"] = d.privsep_preload
    data["files"] = [{"source": f.name, "dest": f.dest, "owner": f.owner, "mode": f.mode} for f in d.config]
    data["directories"] = [{"path": log_dir, "owner": d.user, "mode": "0750"}] + [
        {"path": x.path, "owner": x.owner, "mode": x.mode, "recurse": x.recurse} for x in d.directories]
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _through_the_vip(service: ServiceDef, services: Sequence[ServiceDef]) -> tuple[str, ...]:
    """HAProxy and Keepalived (when enabled) for a service that depends on a load-balanced one: it reaches that one
    through the VIP, so the VIP must be served before its steps and containers start."""
    enabled = {s.name: s for s in services}
    balancers = tuple(s.name for s in services if s.serves_vip)
    if not balancers or service.serves_vip:
        return ()
    if any(enabled[d].loadbalancer for d in service.depends_on if d in enabled):
        return balancers
    return ()


def _check_dependencies(services: list[ServiceDef]) -> None:
    known = set(deployable_services())
    for service in services:
        unknown = [d for d in (*service.depends_on, *service.requires) if d not in known]
        if unknown:
            raise ConfigError(f"service `{service.name}` depends on unknown {', '.join(unknown)}",
                              f"fix depends_on and requires in {service.folder / 'service.yml'}")


def resolved_virt_type(config: Config) -> str:
    """`auto` becomes what the last KVM boot test decided (berth prechecks), or qemu before any test ran."""
    from berth.lifecycle.virt import cached_decision

    wanted = option(config.globals, "nova_compute_virt_type")
    if wanted != "auto":
        return wanted
    decision = cached_decision(config, any_boot=True)
    return decision.virt_type if decision else "qemu"


def render_desired(config: Config, images: Mapping[str, str], host: str = "localhost",
                   pins: Mapping[str, str] | None = None) -> DesiredState:
    """`pins`: service -> image tag (None: the tags upgrade/rollback recorded in state.json)."""
    return Renderer(config, images, host, pins).render()


def config_dir_of(config: Config, key: str) -> Path:
    return config.deployment_dir / "config" / key
