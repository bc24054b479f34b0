"""Loading the whole configuration once, with every problem located.

Problems are collected, never raised one at a time: an operator fixing a file should see every mistake in one
run (`file:line: message (hint)`), not discover them one by one.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from berth.config.globals import GlobalsBase, globals_model, resolved_api_address
from berth.config.inventory import Inventory, load_inventory
from berth.config.release import unsupported_services
from berth.config.yamlfile import Located, load_mapping
from berth.errors import ConfigError

GLOBALS_FILE = "globals.yml"

_EXPECTED = {
    "bool_parsing": "a boolean (true or false)",
    "bool_type": "a boolean (true or false)",
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "string_type": "a string (quote values YAML reads as numbers or booleans, e.g. '2023' or 'yes')",
    "list_type": "a list",
    "dict_type": "a mapping of `key: value`",
    "model_type": "a mapping of `key: value`",
    "model_attributes_type": "a mapping of `key: value`",
    "ip_v4_network": "an IPv4 network such as 10.0.0.0/24",
}


@dataclass(frozen=True)
class Config:
    """Everything an operator configured, validated."""

    config_dir: Path
    globals: GlobalsBase
    passwords: dict[str, Any] = field(default_factory=dict)
    inventory: Any = None  # berth.config.inventory.Inventory
    running_release: str | None = None  # the release the deployment runs (None: not deployed yet)
    release_explicit: bool = False  # globals.yml names `openstack_release`
    upgrading_from: str | None = None  # during `berth upgrade --release`: the release being left (templates see it)

    @property
    def overrides_dir(self) -> Path:
        return self.config_dir / "config"

    @property
    def deployment_dir(self) -> Path:
        """Generated per-container config and history of this deployment."""
        return Path(self.globals.state_dir) / self.globals.deployment_name

    @property
    def api_address(self) -> str:
        """The address APIs bind to: `api_address`, or the first IPv4 address of `network_interface`."""
        return resolved_api_address(self.globals)


def validate_globals(located: Located) -> tuple[GlobalsBase | None, list[str]]:
    """The model, or None and every problem as `file:line: message (hint)`."""
    model = globals_model()
    try:
        return model.model_validate(located.data), []
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: located.line_of([str(p) for p in e["loc"]]))
        return None, [_describe(located, err, model) for err in errors]


def _describe(located: Located, err: Any, model: type[BaseModel]) -> str:
    loc = [str(p) for p in err["loc"]]
    path = ".".join(loc)
    where = located.where_path(loc)
    if err["type"] == "extra_forbidden":
        known = _known_at(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f"did you mean `{close[0]}`?" if close else "see docs/configuration.md for the known keys"
        return f"{where}: unknown key `{path}` ({hint})"
    if not loc:  # a check across keys (model validator): its message names the keys
        return f"{where}: {_expected(err)}"
    value = err.get("input")
    expected = _expected(err)
    return f"{where}: `{path}`: expected {expected}, got {value!r}"


def _expected(err: Any) -> str:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return f"a string matching {ctx.get('pattern')}"
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    message = str(err["msg"])
    return message.removeprefix("Value error, ").removeprefix("Input should be ")


def _known_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """Field names of the (nested) model at `loc`, for `did you mean` suggestions below the top level."""
    current: Any = model
    parts = list(loc)
    while parts:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(parts.pop(0))
            if info is None:
                return []
            current = info.annotation
        elif typing.get_origin(current) is dict:
            parts.pop(0)
            current = typing.get_args(current)[1]
        else:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def gather(config_dir: Path, inventory_path: Path | None = None,
           ) -> tuple[Config | None, list[str], list[str]]:
    """(config or None, problems, warnings) of every configuration file; never raises ConfigError."""
    from berth.config.passwords import check_passwords, service_secret_specs

    problems: list[str] = []
    globals_ = _globals(config_dir, problems)
    try:
        required = list(service_secret_specs())
    except ConfigError as err:
        problems.append(err.message)
        required = []
    passwords, pw_problems, warnings = check_passwords(config_dir, required)
    problems += pw_problems
    inventory = _inventory(inventory_path, problems)
    if globals_ is not None and inventory is not None and inventory.is_all_in_one:
        try:
            resolved_api_address(globals_)
        except ConfigError as err:
            located = load_mapping(config_dir / GLOBALS_FILE)
            problems.append(f"{located.where('network_interface')}: {err.message} ({err.hint})")
    if problems or globals_ is None:
        return None, problems, warnings
    globals_, running, explicit = with_running_release(globals_)
    problems += unsupported_services(globals_.openstack_release, enabled_names(globals_),
                                     load_mapping(config_dir / GLOBALS_FILE).where,
                                     _release_source(config_dir, running, explicit))
    problems += missing_requirements(enabled_names(globals_))
    problems += option_requirements(globals_, enabled_names(globals_))
    problems += _tls(config_dir, globals_, passwords)
    if problems:
        return None, problems, warnings
    config = Config(config_dir, globals_, passwords, inventory, running, explicit)
    empty, idle = empty_groups(config, enabled_names(globals_))
    problems += [f"{inventory_path}: group `{group}` has no host, but {', '.join(names)} cannot run without it; "
                 f"add a host under [{group.split(':')[0]}] or disable {', '.join(names)}"
                 for group, names in empty.items()]
    warnings += [f"{inventory_path}: group `{group}` has no host: {', '.join(names)} run nowhere until it has one"
                 for group, names in idle.items()]
    if problems:
        return None, problems, warnings
    return config, problems, warnings


def empty_groups(config: Config, enabled: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Inventory groups with no host where enabled services place containers: {group: services} whose main
    container would run nowhere (a problem), and {group: containers} of other containers (nova_compute before the
    first compute joins: said, not refused). The all-in-one has every group."""
    from berth.state.model import load_service

    empty: dict[str, list[str]] = {}
    idle: dict[str, list[str]] = {}
    inventory = config.inventory
    if inventory is None or inventory.is_all_in_one:
        return empty, idle
    for name in enabled:
        service = load_service(name)
        nowhere = [(key, c.group) for key, c in service.containers.items()
                   if not inventory.container_hosts(key, c.group)]
        main = next((group for key, group in nowhere if key == service.main_container), None)
        if main is not None:
            empty.setdefault(main, []).append(name)
            continue
        for key, group in nowhere:
            idle.setdefault(group, []).append(key)
    return empty, idle


def _tls(config_dir: Path, globals_: GlobalsBase, secrets: dict[str, Any]) -> list[str]:
    """With TLS on the external VIP: the server certificate must cover it; it joins the secrets (masked)."""
    from berth.config import certificates

    if not globals_.enable_tls_external:
        return []
    try:
        certificates.check(config_dir, [str(globals_.external_vip_address)])
    except ConfigError as err:
        return [f"{err.message} ({err.hint})"]
    secrets[certificates.SECRET_KEY] = certificates.load(config_dir)
    return []


def enabled_names(globals_: GlobalsBase) -> list[str]:
    from berth.config.globals import is_enabled
    from berth.state.model import deployable_services

    return [name for name in deployable_services() if is_enabled(globals_, name)]


def missing_requirements(enabled: list[str]) -> list[str]:
    """One problem per enabled service whose `requires:` names a service that is not enabled."""
    from berth.services.registry import enable_key
    from berth.state.model import load_service

    problems = []
    for name in enabled:
        for needed in load_service(name).requires:
            if needed not in enabled:
                problems.append(f"globals.yml: {enable_key(name)}: {name} requires {needed}; set "
                                f"{enable_key(needed)}: true or disable {name}")
    return problems


def option_requirements(globals_: GlobalsBase, enabled: list[str]) -> list[str]:
    """One problem per option of an enabled service whose chosen value `requires:` a service that is not enabled
    (e.g. `glance_backend: rbd` without Ceph)."""
    from berth.services.registry import enable_key
    from berth.state.model import load_service

    problems = []
    for name in enabled:
        for option in load_service(name).options:
            value = getattr(globals_, option.name, None)
            for needed in option.requires.get(str(value), []):
                if needed not in enabled:
                    default = option.default
                    problems.append(f"globals.yml: {option.name}: {value} requires {needed}; set "
                                    f"{enable_key(needed)}: true or {option.name}: {default}")
    return problems


def _release_source(config_dir: Path, running: str | None, explicit: bool) -> str:
    """Where the release a deployment gets comes from, for messages: globals.yml's line, the running cloud, or
    the default."""
    if explicit:
        return f" (openstack_release at {load_mapping(config_dir / GLOBALS_FILE).where('openstack_release')})"
    return " (the release this deployment runs)" if running else " (the default release)"


def with_running_release(globals_: GlobalsBase) -> tuple[GlobalsBase, str | None, bool]:
    """A globals.yml without `openstack_release` means the release the deployment runs (new ones: the default)."""
    from berth.config.release import effective_updates, recorded_release

    explicit = "openstack_release" in globals_.model_fields_set
    running = recorded_release(Path(globals_.state_dir) / globals_.deployment_name)
    if explicit or running is None or running == globals_.openstack_release:
        return globals_, running, explicit
    tag = globals_.image_tag if globals_.image_tag != globals_.openstack_release else None
    updates = effective_updates(running, tag, None, None)
    return globals_.model_copy(update=updates), running, explicit


def _globals(config_dir: Path, problems: list[str]) -> GlobalsBase | None:
    try:
        located = load_mapping(config_dir / GLOBALS_FILE)
    except ConfigError as err:
        problems.append(err.message)
        return None
    globals_, found = validate_globals(located)
    problems += found
    return globals_


def _inventory(inventory_path: Path | None, problems: list[str]) -> Inventory | None:
    try:
        inventory = load_inventory(inventory_path)
    except ConfigError as err:
        problems.append(err.message)
        return None
    problems += inventory.problems()
    return inventory


def load_config(config_dir: Path, *, inventory_path: Path | None = None) -> Config:
    """globals.yml + passwords.yml + inventory from `config_dir`; raises ConfigError listing all problems."""
    config, problems, _warnings = gather(config_dir, inventory_path)
    if config is None:
        raise ConfigError(
            f"{len(problems)} problem(s) in the configuration in {config_dir}",
            "fix the lines named above; `berth config validate` checks every file",
            details=problems,
        )
    return config
