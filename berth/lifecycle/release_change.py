"""`berth upgrade --release` and `berth rollback --release`: a running cloud changes OpenStack release.

A release upgrade is the usual upgrade plan over every OpenStack service at once (images first, then per service
in dependency order: backup, the release's migrations with the new image, swaps, contract), with two differences:
the templates render the target release (and know the release being left, for upgrade-only settings such as
Nova's compute-service check), and infrastructure (`follows_release: false`: MariaDB, RabbitMQ, Memcached) stays
on the image it runs, pinned, so the rollback never has to downgrade a database's files. Its entries carry the
note `release <from> -> <to>`, which is how the rollback finds, per service, the entry to return to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from berth.config.loader import GLOBALS_FILE, Config, enabled_names
from berth.config.release import UPGRADES, effective_updates, record_release, unsupported_services
from berth.config.yamlfile import load_mapping
from berth.engine.base import Engine
from berth.errors import ConfigError, NotFoundError
from berth.lifecycle import hostops, rollback
from berth.lifecycle.render import enabled_services
from berth.plan.hostplan import HostPlan
from berth.state.facts import HostFacts
from berth.state.history import RELEASE_NOTE, Entry, release_target


def with_release(config: Config, release: str, tag: str | None = None) -> Config:
    """The configuration of `release` (its tag and Debian suite), remembering the release it leaves."""
    updates = effective_updates(release, tag, None, None)
    return dataclasses.replace(config, globals=config.globals.model_copy(update=updates),
                               upgrading_from=config.running_release, release_explicit=False)


def check_upgrade(config: Config, target: str) -> str:
    """The release the cloud runs, when `target` is a supported upgrade of it; else a clear refusal."""
    running = config.running_release
    pairs = ", ".join(f"{a} -> {b}" for a, b in sorted(UPGRADES))
    if running is None:
        raise NotFoundError("nothing is deployed yet, so there is no release to upgrade",
                            f"deploy {target} directly: set openstack_release: {target} in globals.yml")
    if running == target:
        raise ConfigError(f"the cloud already runs OpenStack {target}",
                          "`berth upgrade` (without --release) applies newer images of the same release")
    if (running, target) not in UPGRADES:
        raise ConfigError(f"berth cannot upgrade OpenStack {running} to {target}", f"supported: {pairs}")
    lacking = unsupported_services(target, enabled_names(config.globals),
                                   load_mapping(config.config_dir / GLOBALS_FILE).where)
    if lacking:  # e.g. Murano: retired, Zed only. Refused before anything is touched, not dropped on the way
        raise ConfigError(f"OpenStack {target} lacks {len(lacking)} enabled service(s): nothing was changed",
                          "disable them in globals.yml and `berth deploy` (their databases stay), then upgrade",
                          details=lacking)
    return running


def prechecks(config: Config, facts: HostFacts, engine: Engine | None) -> None:
    """Before a release change touches anything: free disk for the new images and the dumps, and every container
    of the deployment running and not unhealthy (an upgrade must not start from a broken cloud)."""
    from berth.errors import PrecheckError
    from berth.lifecycle.prechecks import resource_checks

    problems = [f"{c.name}: {c.message} ({c.fix})" for c in resource_checks(engine, str(config.deployment_dir))
                if not c.ok and c.name != "memory"]
    for have in facts.actual.containers:
        if have.role == "service" and not have.aside and (not have.running or have.health == "unhealthy"):
            problems.append(f"container {have.name}: {have.state}{', ' + have.health if have.health else ''}")
    if problems:
        raise PrecheckError(f"{len(problems)} precheck(s) failed before the release change; nothing was changed",
                            "fix them (`berth deploy` starts stopped containers, `berth logs SERVICE` shows why one "
                            "is unhealthy), then run it again", details=problems)


def release_services(config: Config) -> list[str]:
    """The enabled services a release upgrade changes (OpenStack; not the infrastructure), each after the ones
    it depends on."""
    units = {s.name: s for s in enabled_services(config) if s.follows_release}
    out: list[str] = []

    def visit(name: str) -> None:
        if name in out or name not in units:
            return
        for dep in units[name].depends_on:
            visit(dep)
        out.append(name)

    for name in units:
        visit(name)
    return out


def kept_tags(config: Config, facts: HostFacts) -> dict[str, str]:
    """Infrastructure on this host and the image tag it runs: pinned there through the release change.
    Pure: the host's facts."""
    keep: dict[str, str] = {}
    for service in enabled_services(config):
        if service.follows_release:
            continue
        tag = facts.actual.pins.get(service.name) or _running_tag(facts, service.name)
        if tag:
            keep[service.name] = tag
    return keep


def _running_tag(facts: HostFacts, service: str) -> str:
    for have in facts.actual.containers:
        if have.service == service and have.role == "service" and not have.aside:
            image = str(have.spec.get("image", ""))
            return image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    return ""


def upgrade_host(config: Config, source: str, host: str, facts: HostFacts, build: bool) -> HostPlan:
    """One host's release upgrade plan; `config` is already the target's (`with_release`)."""
    target = config.globals.openstack_release
    note = RELEASE_NOTE.format(source=source, target=target)
    return hostops.upgrade_host(config, host, facts, release_services(config), build, config.globals.image_tag,
                                note, kept_tags(config, facts))


def settled(config: Config) -> Config:
    """The target release's configuration once the upgrade is over (no upgrade-only settings)."""
    return dataclasses.replace(config, upgrading_from=None, running_release=config.globals.openstack_release)


def finished(config: Config) -> None:
    """The deployment now runs the target release (the next deploy renders it without upgrade-only settings)."""
    record_release(config.deployment_dir, config.globals.openstack_release)


# --- rollback ------------------------------------------------------------------------------------------------------


def rollback_targets(entries: Sequence[Entry], services: Sequence[str], release: str) -> dict[str, Entry]:
    """Per service, the entry before the upgrade that left `release` (services it never touched: absent)."""
    out = {}
    for name in services:
        target = release_target(entries, name, release)
        if target is not None:
            out[name] = target
    return out


def rollback_hosts(config: Config, host: str, facts: HostFacts, release: str,
                   restore_database: bool) -> list[HostPlan]:
    """One rollback plan per service, in reverse dependency order (Horizon first, Keystone last): each returns
    to its entry before the release upgrade (restoring its backups when the schema changed, which a release
    upgrade always does)."""
    services = list(reversed(release_services(config)))
    targets = rollback_targets(facts.history, services, release)
    plans = []
    for name in services:
        if name in targets:
            plans.append(hostops.rollback_host(config, host, facts, name, targets[name].id, restore_database))
    return plans


def check_rollback(config: Config, release: str) -> None:
    running = config.running_release
    if running is None:
        raise NotFoundError("nothing is deployed yet, so there is no release to roll back",
                            "`berth deploy` deploys the configured release")
    if running == release:
        raise ConfigError(f"the cloud already runs OpenStack {release}",
                          "`berth rollback SERVICE` returns one service to an earlier entry of the same release")
    if (release, running) not in UPGRADES:
        raise ConfigError(f"the cloud runs OpenStack {running}, which no release upgrade from {release} made",
                          "`berth history` shows the entries; roll back one service with `berth rollback SERVICE`")


def rolled_back(config: Config, release: str) -> None:
    record_release(config.deployment_dir, release)


def memcached_servers(config: Config) -> list[str]:
    return rollback.memcached_servers(config)
