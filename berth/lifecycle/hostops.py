"""What each command plans for one host: pure functions of the configuration and that host's observed facts.

Every changing command is "observe -> plan per host -> show -> confirm -> apply": the all-in-one observes its own
engine and calls these with `localhost`; `berth -i INVENTORY <command>` observes each host through Ansible and calls
the same functions per host on the deployment host, then ships each host its `HostPlan`. A plan carries only the
credentials its steps use: none for stop, destroy and pull.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

from berth.config.loader import Config
from berth.config.passwords import secret_values
from berth.lifecycle import maintenance, rollback, upgrade
from berth.lifecycle.hostplans import host_plan
from berth.plan.hostplan import HostPlan
from berth.plan.model import Plan
from berth.state.desired import DesiredState
from berth.state.facts import HostFacts


def _only(plan: HostPlan, decided: Plan, credentials: bool = False) -> HostPlan:
    """The host plan with another decision. Stop, destroy and pull create nothing: they ship only the services'
    order (no rendered files, no credentials, no secret values); the others keep what their steps use."""
    if credentials:
        return dataclasses.replace(plan, plan=decided)
    units = DesiredState(plan.desired.deployment, plan.desired.services)
    actual = HostFacts(plan.actual).without_files().actual
    return dataclasses.replace(plan, desired=units, actual=actual, plan=decided, credentials={}, keystone={})


def deploy(config: Config, host: str, facts: HostFacts, services: Collection[str] | None = None) -> HostPlan:
    return host_plan(config, host, facts.actual, services)


def reconfigure(config: Config, host: str, facts: HostFacts, services: Collection[str] | None = None) -> HostPlan:
    """Restart exactly the containers whose configuration changed (recreate on definition changes)."""
    plan = host_plan(config, host, facts.actual, services)
    return _only(plan, maintenance.reconfigure_plan(plan.plan), credentials=True)


def stop(config: Config, host: str, facts: HostFacts, services: Collection[str] | None = None) -> HostPlan:
    """The host's running containers of `services`; the rendered units give the reverse dependency order."""
    plan = host_plan(config, host, facts.actual, services)
    return _only(plan, maintenance.stop_plan(plan.desired, facts.actual, services, host))


def destroy(config: Config, host: str, facts: HostFacts, include_images: bool = False,
            include_data: bool = False) -> HostPlan:
    """Everything of the deployment the host reported: containers, volumes, networks, host objects, state (and
    its service data only with `include_data`)."""
    plan = host_plan(config, host, facts.actual)
    return _only(plan, maintenance.destroy_plan(config, facts, include_images, host, include_data))


def pull(config: Config, host: str, facts: HostFacts) -> HostPlan:
    """The images of the containers this host runs, from docker_registry (every tag refreshed)."""
    plan = host_plan(config, host, facts.actual)
    return _only(plan, maintenance.pull_plan(config, plan.desired))


def upgrade_host(config: Config, host: str, facts: HostFacts, services: Sequence[str], build: bool = False,
                 configured_tag: str = "", note: str = "", keep: Mapping[str, str] | None = None) -> HostPlan:
    """`config` already carries the target tag (`upgrade.with_tag`, or a release's: `release_upgrade`); the
    host's pins and history (a pending entry to resume) come from its facts."""
    snap = upgrade.upgrade_snapshot(config, facts, services, host)
    decided = upgrade.plan_upgrade(config, snap, services, build, configured_tag, facts.history, note, keep)
    return _only(snap, decided, credentials=True)


def rollback_host(config: Config, host: str, facts: HostFacts, service: str, to: int | None,
                  restore_database: bool = False) -> HostPlan:
    """Back to an entry of this host's own history (entry ids are per host: `berth history` on it)."""
    decided = rollback.decide(facts.history, facts.actual, facts.image_ids, service, to, restore_database,
                              rollback.memcached_servers(config), config.globals.image_tag, host,
                              rollback.database_server(config))
    desired = rollback.desired_for(decided, facts.history, frozenset(secret_values(config.passwords)), host)
    return HostPlan(deployment=decided.deployment, host=host, deployment_dir=str(config.deployment_dir),
                    desired=desired, actual=facts.actual, plan=decided, credentials=_database_login(config, decided))


def _database_login(config: Config, decided: Plan) -> dict[str, object]:
    """MariaDB's root password, only when a step that runs may reach the database over the network (a restore,
    or the fingerprints a record takes after one)."""
    touches = any(s.run and s.payload.get("server") and (s.kind == "restore" or s.payload.get("databases"))
                  for s in decided.steps)
    key = str(rollback.database_server(config).get("admin_password") or "")
    value = config.passwords.get(key) if touches and key else None
    return {key: value} if value is not None else {}
