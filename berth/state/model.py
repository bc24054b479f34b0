"""The schema of a service folder's `service.yml`: containers, config files, bootstrap steps, registration.

Services are data so that adding one means adding a folder. The schema is strict (unknown keys are errors
with file:line) because a typo in a deployment definition would otherwise silently deploy something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from berth.config.yamlfile import load_mapping
from berth.errors import ConfigError
from berth.services.options import OptionDef
from berth.services.registry import SHARED_TEMPLATES, service_dirs

MODE_PATTERN = r"^0?[0-7]{3,4}$"
KEY_PATTERN = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PasswordSpec(_Strict):
    """A secret genpwd generates into passwords.yml."""

    name: str
    kind: Literal["password", "uuid", "hex", "fernet", "ssh_key", "cephx"] = "password"


class ConfigFile(_Strict):
    """A Jinja2 template of the service's templates/ folder, rendered into the container's config directory."""

    template: str
    dest: str
    owner: str = "root"
    mode: str = Field("0640", pattern=MODE_PATTERN)
    source: str | None = None  # file name in the config directory; default: template name without .j2
    # a template: the file is written only when it renders true (not "", false, 0, no, none), e.g. a key that
    # exists only when another service is enabled; left out, it is in neither the config directory nor config.json
    when: str | None = None

    @property
    def name(self) -> str:
        return self.source or Path(self.template).name.removesuffix(".j2")


class Directory(_Strict):
    path: str
    owner: str = "root"
    mode: str = Field("0750", pattern=MODE_PATTERN)
    recurse: bool = False


class Healthcheck(_Strict):
    """Arguments of `berth-health` (templated), e.g. [http, "http://{{ api_address }}:5000/v3"]."""

    test: list[str]
    interval: float = 30
    timeout: float = 10
    retries: int = 3
    start_period: float = 10
    wait_timeout: float = 120  # how long a deploy waits for the first healthy answer
    # A regular expression matched against the new container's log lines that says the new process serves.
    # Needed by `swap: overlap`: while old and new share a SO_REUSEPORT socket, a health probe may be answered
    # by the old process, so it cannot tell that the new one is ready.
    ready_log: str | None = None


class ContainerDef(_Strict):
    """One long-running container. Strings are Jinja2 templates rendered with the deploy context."""

    image: str
    group: str = "control"
    releases: list[Literal["epoxy", "zed"]] | None = None  # only these OpenStack releases run it (None: every one)
    command: list[str] | str | None = None
    user: str = "root"
    environment: dict[str, str] = Field(default_factory=dict)
    volumes: list[str] = Field(default_factory=list)  # "name:/path[:ro]" (named volume) or "/host:/path[:ro]"
    cap_add: list[str] = Field(default_factory=list)
    privileged: bool = False  # honoured only when globals.container_privileged is true
    pid_mode: str | None = None
    ipc_mode: str | None = None
    devices: list[str] = Field(default_factory=list)
    security_opt: list[str] = Field(default_factory=list)
    init: bool = False
    healthcheck: Healthcheck | None = None
    restart: Literal["unless-stopped", "always", "on-failure", "no"] = "unless-stopped"
    stop_timeout: int = 10
    config: list[ConfigFile] = Field(default_factory=list)
    directories: list[Directory] = Field(default_factory=list)
    log_file: str | None = None  # file name under /var/log/berth/<service>/ (default: <container key>.log)
    # Python packages whose oslo.privsep daemons start by fork from one warm process (berth-privsep-zygote in
    # openstack-base) instead of one fresh privsep-helper each: ~75 MiB less per daemon (docs/image-contract.md).
    privsep_preload: list[str] = Field(default_factory=list)
    # Containers of the same service whose create, recreate, restart or start must restart this one too
    # (nova_compute with nova_libvirt: the guests' qemu dies with libvirt's container, and only nova-compute's
    # start brings them back). They must come before this one in the service's container order.
    restart_with: list[str] = Field(default_factory=list)
    # How an upgrade/rollback swaps this container. `stop-first`: stop old, start new (a gap of the new one's
    # start time). `overlap`: start new while the old one still serves (the process must bind with SO_REUSEPORT,
    # e.g. uwsgi `reuse-port`), wait for `healthcheck.ready_log`, then stop the old one: no gap.
    swap: Literal["stop-first", "overlap"] = "stop-first"
    # Over many hosts, a change that takes this container away (recreate, restart, swap) is applied one host at a
    # time across every host, each healthy before the next, and every flagged container of the run in service
    # order before the rest of the hosts' plans: Ceph's monitors of every host, then its managers, then its OSDs
    # (berth.remote.serial). Not for containers whose service needs another service changed in the same run.
    serial_across_hosts: bool = False


class Step(_Strict):
    """A one-shot container: the image, volumes and config of `container`, with another command.

    `stamp_volumes` name the volumes its result lives in: the step runs again when one of them is new.
    Every step must be idempotent (a failed deploy is finished by running it again).
    Most steps change shared state (a database schema) and run once per deployment (`scope`).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    container: str
    command: list[str] | str
    user: str | None = None
    phase: Literal["before", "after"] = "before"
    environment: dict[str, str] = Field(default_factory=dict)
    config: list[ConfigFile] = Field(default_factory=list)
    stamp_volumes: list[str] = Field(default_factory=list)
    timeout: float = 300
    # deployment: once, on the first host of the group running `container` (db-sync, bootstrap);
    # host: on every host running `container` (it prepares something local to that host)
    scope: Literal["deployment", "host"] = "deployment"
    releases: list[Literal["epoxy", "zed"]] | None = None  # only these OpenStack releases run it (None: every one)
    # A template: the step exists only where it renders true (not "", "false", "0" or "no"), e.g. only when the
    # service's group has several hosts. A step that is absent on one host leaves that host's plan as it was.
    when: str | None = None


class Database(_Strict):
    """A MariaDB database and its user, created IF NOT EXISTS before the service's steps."""

    name: str
    user: str
    password: str  # key in passwords.yml


class KeystoneService(_Strict):
    name: str
    type: str
    description: str = ""


class KeystoneEndpoint(_Strict):
    service: str
    url: str  # templated
    interfaces: list[Literal["public", "internal", "admin"]] = ["public", "internal"]


class KeystoneUser(_Strict):
    name: str
    password: str  # key in passwords.yml
    project: str = "service"
    # `service`: what keystonemiddleware's service_token_roles_required looks for in the service token a service
    # sends along a user's token (Nova calling Cinder on the user's behalf: without it Cinder answers 401)
    roles: list[str] = Field(default_factory=lambda: ["admin", "service"])


class Registration(_Strict):
    """What the service registers in Keystone, find-or-create, in one openstacksdk session."""

    phase: Literal["before", "after"] = "before"
    projects: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    services: list[KeystoneService] = Field(default_factory=list)
    endpoints: list[KeystoneEndpoint] = Field(default_factory=list)
    users: list[KeystoneUser] = Field(default_factory=list)


class Upgrade(_Strict):
    """How `berth upgrade` changes the service's schema, when it differs from the deploy steps.

    `steps` run with the new image: phase `before` while the old containers still serve (expand, migrate),
    phase `after` once every container was swapped (contract). They stand in for the deploy steps named in
    `replaces` (e.g. db-sync), whose stamps are recorded as done afterwards.
    """

    replaces: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)


class Teardown(_Strict):
    """Host objects the service creates outside containers, removed by `berth destroy` / `cleanup host`.

    Strings are templates over globals (e.g. "{{ neutron_external_interface }}").
    """

    links: list[str] = Field(default_factory=list)  # interface names (a veth pair goes with either end)
    link_prefixes: list[str] = Field(default_factory=list)  # e.g. brq, vxlan-
    netns_prefixes: list[str] = Field(default_factory=list)  # e.g. qrouter-, qdhcp-
    iptables: list[str] = Field(default_factory=list)  # rule specs as given to -A, e.g. "DOCKER-USER -i brq+ -j ACCEPT"
    # name prefixes of chains in the host's *legacy* iptables tables (the neutron agents' backend), e.g.
    # neutron-openvswi: the chains are flushed and deleted, and every rule jumping to one of them goes
    legacy_chains: list[str] = Field(default_factory=list)
    # prefixes of a VM port's host devices named <prefix><port id> beside its tap (tap<port id>), e.g. the qbr/qvb/qvo
    # of OVS hybrid plugging: removed once the VM's tap is gone, judged when removing (after the containers), so
    # another deployment's running VMs keep theirs
    vif_prefixes: list[str] = Field(default_factory=list)
    # host directories holding the service's data outside volumes (e.g. a storage daemon's files): kept by
    # `berth destroy` unless it is given --include-data (data is precious); absolute paths
    data_dirs: list[str] = Field(default_factory=list)


class StatusProbe(_Strict):
    """A command `berth status` runs in a running container of the service (on this host) and shows under the
    table, e.g. a cluster's health: a few lines, secrets masked. A failing command shows its output too."""

    container: str
    command: list[str]  # exec'd as given (templates are not rendered: put host-specific text in a config file)
    timeout: float = Field(15, gt=0, le=120)


class Port(_Strict):
    """A port the service binds; a string is a template over globals (e.g. "{{ rabbitmq_epmd_port }}").

    A named port is declared here once: the service's templates and exports read it as `ports.<name>`.
    """

    port: int | str
    container: str
    protocol: Literal["tcp", "udp"] = "tcp"
    name: str | None = Field(None, pattern=KEY_PATTERN)

    def number(self, values: Mapping[str, Any]) -> int:
        """The port for these globals; a template that does not give 1-65535 is a ConfigError."""
        if isinstance(self.port, int):
            return self.port
        text = jinja2.Template(self.port, undefined=jinja2.StrictUndefined).render(**values)
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise ConfigError(f"port template {self.port!r} of container {self.container} gave {text!r}",
                              "it must render to a number from 1 to 65535")
        return int(text)


class Frontend(_Strict):
    """A port of the service that HAProxy serves on the internal VIP, balanced over every host running the port's
    container (`enable_haproxy`). The service itself binds the same port on each host's own address.

    `port` names one of the service's ports. `check`: an HTTP health check such as "GET /v3" (http mode), else a
    TCP connect. `active_backup`: one server takes every request, the others are backups in host order (a
    database: one writer at a time). `timeout`: seconds a request may take (uploads, long API calls).
    `external`: clients reach it on the external VIP too (a database is for the services only).
    `active_backup` may be a template over globals (Glance: only while images live in each host's own store).
    """

    port: str = Field(pattern=KEY_PATTERN)
    mode: Literal["http", "tcp"] = "http"
    check: str | None = Field(None, pattern=r"^(GET|HEAD|OPTIONS) /\S*$")
    active_backup: Annotated[bool | str, Field(union_mode="left_to_right")] = False
    timeout: int = Field(60, ge=1, le=86400)
    external: bool = True  # also on the external VIP (TLS there with enable_tls_external); false: internal only


class ExportFunction(_Strict):
    """An export with parameters: `database_url: {params: [db, user, password_key], value: "mysql+pymysql://..."}`.

    Templates call it like a function; `value` is rendered with the parameters added to the export context.
    """

    params: list[str]
    value: str


ExportValue = ExportFunction | str | int | bool | list[Any] | dict[str, Any]


def _all_releases() -> list[Literal["epoxy", "zed"]]:
    return ["epoxy", "zed"]


class ServiceDef(_Strict):
    name: str
    description: str = ""
    enabled_by_default: bool = True
    # OpenStack releases the folder deploys (what differs between them is in its templates and recipes, under
    # `openstack_release`); default: every release berth knows
    releases: list[Literal["epoxy", "zed"]] = Field(default_factory=_all_releases)
    # False for infrastructure (database, message queue, cache): `berth upgrade --release` leaves it on the image
    # it runs (pinned), so a release upgrade changes OpenStack only and its rollback never downgrades a datadir
    follows_release: bool = True
    # True for what serves the internal VIP (haproxy, keepalived): a service reaching a load-balanced one waits for it
    serves_vip: bool = False
    # True for what each host runs on its own (log rotation, log forwarding): nothing deployment-wide, no other
    # service reaches it, so across many hosts no host waits for the first one running it
    per_host: bool = False
    depends_on: list[str] = Field(default_factory=list)
    # services this one cannot work without (e.g. its storage back end): enabling it while one of them is disabled
    # is a configuration error. depends_on alone only orders, and skips a dependency that is not enabled
    requires: list[str] = Field(default_factory=list)
    passwords: list[str | PasswordSpec] = Field(default_factory=list)
    options: list[OptionDef] = Field(default_factory=list)  # typed settings, overridable in globals.yml
    ports: list[Port] = Field(default_factory=list)
    # values other services' templates (and lifecycle code) use to reach this one; templates over globals,
    # `passwords`, `hosts` (of the main container's group), `address` (the VIP, else the first host) and `ports`
    exports: dict[str, Annotated[ExportValue, Field(union_mode="left_to_right")]] = Field(default_factory=dict)
    containers: dict[str, ContainerDef] = Field(default_factory=dict)
    # ports HAProxy serves on the internal VIP (docs/ha.md)
    loadbalancer: list[Frontend] = Field(default_factory=list)
    databases: list[Database] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    keystone: Registration | None = None
    upgrade: Upgrade | None = None  # None: an upgrade runs the deploy steps with the new image
    teardown: Teardown | None = None
    status: list[StatusProbe] = Field(default_factory=list)  # what `berth status` shows under the table

    @field_validator("containers")
    @classmethod
    def _keys(cls, value: dict[str, ContainerDef]) -> dict[str, ContainerDef]:
        import re

        for key in value:
            if not re.match(KEY_PATTERN, key):
                raise ValueError(f"container key `{key}` must match {KEY_PATTERN}")
        return value

    @field_validator("exports")
    @classmethod
    def _export_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Exports become template variables: they need names Jinja can use."""
        import re

        for key in value:
            if not re.match(KEY_PATTERN, key):
                raise ValueError(f"export `{key}` must match {KEY_PATTERN}")
        return value

    @field_validator("ports")
    @classmethod
    def _unique_port_names(cls, value: list[Port]) -> list[Port]:
        names = [p.name for p in value if p.name]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"port name(s) used twice: {', '.join(twice)}")
        return value

    @model_validator(mode="after")
    def _frontends_name_ports(self) -> ServiceDef:
        """A frontend names one of the service's named ports: the number and the container come from there."""
        named = {p.name for p in self.ports if p.name}
        for frontend in self.loadbalancer:
            if frontend.port not in named:
                raise ValueError(f"loadbalancer: port `{frontend.port}` is not a named port of the service "
                                 f"(named: {', '.join(sorted(named)) or 'none'})")
        return self

    @field_validator("options")
    @classmethod
    def _unique_options(cls, value: list[OptionDef]) -> list[OptionDef]:
        names = [o.name for o in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"option(s) declared twice: {', '.join(twice)}")
        return value

    def port_numbers(self, values: Mapping[str, Any]) -> dict[str, int]:
        """Named ports -> numbers for these globals (`ports.api` in the service's templates and exports)."""
        return {p.name: p.number(values) for p in self.ports if p.name}

    @property
    def main_container(self) -> str | None:
        """The container others reach the service at: the one its first port names, else the first one."""
        if self.ports:
            return self.ports[0].container
        return next(iter(self.containers), None)

    @property
    def password_names(self) -> list[str]:
        return [p if isinstance(p, str) else p.name for p in self.passwords]

    @property
    def folder(self) -> Path:
        return service_dirs()[self.name]


def parse_service(path: Path) -> ServiceDef:
    """Validate one service.yml; every problem is reported at file:line."""
    located = load_mapping(path, missing_ok=False)
    data = dict(located.data)
    data.setdefault("name", path.parent.name.replace("_", "-"))
    try:
        service = ServiceDef.model_validate(data)
    except ValidationError as exc:
        problems = [f"{located.where_path(err['loc'])}: `{'.'.join(str(p) for p in err['loc'])}`: {err['msg']}"
                    for err in exc.errors()]
        raise ConfigError(f"{len(problems)} problem(s) in {path}", "fix the service definition", details=problems) \
            from exc
    _check_references(service, path)
    return service


def _check_references(service: ServiceDef, path: Path) -> None:
    """Steps and ports must name containers of this service; templates must exist."""
    problems = []
    upgrade_steps = service.upgrade.steps if service.upgrade else []
    for step in [*service.steps, *upgrade_steps]:
        if step.container not in service.containers:
            problems.append(f"step `{step.name}` uses unknown container `{step.container}`")
    for port in service.ports:
        if port.container not in service.containers:
            problems.append(f"port {port.port} names unknown container `{port.container}`")
    for probe in service.status:
        if probe.container not in service.containers:
            problems.append(f"status probe names unknown container `{probe.container}`")
    files = [f for c in service.containers.values() for f in c.config] + [f for s in service.steps for f in s.config]
    files += [f for s in upgrade_steps for f in s.config]
    names = {s.name for s in service.steps}
    for name in service.upgrade.replaces if service.upgrade else []:
        if name not in names:
            problems.append(f"upgrade.replaces names unknown step `{name}`")
    for key, container in service.containers.items():
        if container.swap == "overlap" and not (container.healthcheck and container.healthcheck.ready_log):
            problems.append(f"container `{key}`: swap: overlap needs healthcheck.ready_log")
        earlier = list(service.containers)[: list(service.containers).index(key)]
        for leader in container.restart_with:
            if leader not in earlier:
                problems.append(f"container `{key}`: restart_with names `{leader}`, which is not a container "
                                f"defined before it in this service (known before it: {', '.join(earlier) or 'none'})")
    for item in files:
        if not any((folder / item.template).is_file() for folder in (path.parent / "templates", SHARED_TEMPLATES)):
            problems.append(f"template `{item.template}` not found in {path.parent / 'templates'} "
                            f"nor in {SHARED_TEMPLATES}")
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {path}", "fix the service definition", details=problems)


@cache
def load_service(name: str) -> ServiceDef:
    dirs = service_dirs()
    if name not in dirs or not (dirs[name] / "service.yml").is_file():
        raise ConfigError(f"unknown service `{name}`", f"known services: {', '.join(deployable_services())}")
    return parse_service(dirs[name] / "service.yml")


def deployable_services() -> list[str]:
    """Services whose folder has a service.yml (image-only folders such as `base` are not deployed)."""
    return [name for name, path in service_dirs().items() if (path / "service.yml").is_file()]
