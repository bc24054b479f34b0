"""Starting a stopped Galera cluster again over many hosts: `berth mariadb-recovery`, and `berth deploy` first.

Every step is one Ansible run of `berth galera-node ACTION` on the hosts concerned (`berth.remote.commands`):
status of every node; position of every node holding data (its container stopped first); bootstrap of the most
advanced node (`berth.lifecycle.galera.choose`); join of the others. The decisions are pure
(`berth.lifecycle.galera`); what runs on a host is `berth.lifecycle.galera_node`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from berth.config.loader import Config
from berth.lifecycle.galera import (
    Choice,
    GaleraError,
    NodeStatus,
    Position,
    choose,
    cluster_hosts,
    needs_recovery,
    refuse_missing,
)
from berth.lifecycle.render import image_ref, pinned_tags
from berth.remote.commands import run_on
from berth.remote.deploy import failure

Say = Callable[[str], None]
JOIN_TIMEOUT = 600.0  # a full state transfer of a large datadir takes a while


def node_args(config: Config, action: str, timeout: float | None = None) -> str:
    """`berth galera-node ACTION` for this deployment: no configuration is read on the host, no secret passed."""
    image = image_ref(config, "mariadb", pinned_tags(config).get("mariadb"))
    words = ["galera-node", action, "--deployment", config.globals.deployment_name, "--deployment-dir",
             str(config.deployment_dir), "--image", image]
    if timeout is not None:
        words += ["--timeout", str(int(timeout))]
    return " ".join(shlex.quote(w) for w in words)


def ask(config: Config, inventory: Path, hosts: Sequence[str], action: str, timeout: float | None = None
        ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, list[str]]]]:
    """Each host's JSON answer, and (message, details) for each host that did not give one."""
    if not hosts:
        return {}, {}
    results = run_on(inventory, {h: node_args(config, action, timeout) for h in hosts})
    answers: dict[str, dict[str, Any]] = {}
    failed: dict[str, tuple[str, list[str]]] = {}
    for host in hosts:
        result = results[host]
        line = next((x for x in reversed(result.stdout.splitlines()) if x.startswith("{")), "") if result.ok else ""
        try:
            answers[host] = dict(json.loads(line))
        except ValueError:
            report = failure(result, f"galera-node {action}")
            failed[host] = (report.message, report.details)
    return answers, failed


def statuses(config: Config, inventory: Path) -> tuple[list[NodeStatus], dict[str, tuple[str, list[str]]]]:
    answers, failed = ask(config, inventory, cluster_hosts(config), "status")
    return [NodeStatus.from_data(h, a) for h, a in answers.items()], failed


def describe(status: NodeStatus) -> str:
    if status.container is None:
        return f"{status.host}: no node"
    if not status.state:
        return f"{status.host}: {status.container}, not serving"
    return f"{status.host}: {status.state}, {status.cluster_status} (cluster size {status.cluster_size})"


def recover(config: Config, inventory: Path, say: Say, allow_missing: Sequence[str] = (),
            timeout: float = JOIN_TIMEOUT) -> Choice | None:
    """Start the cluster again from its most advanced node when no node is Primary; None when nothing was done
    (it runs, or it never ran: a first deploy starts it)."""
    found, unreachable = statuses(config, inventory)
    for status in found:
        say(describe(status))
    if any(s.primary for s in found):
        return None
    if not needs_recovery(found):
        return None
    refuse_missing(list(unreachable), allow_missing)
    return _restart(config, inventory, say, found, timeout)


def _restart(config: Config, inventory: Path, say: Say, found: Sequence[NodeStatus], timeout: float
             ) -> Choice | None:
    holding = [s.host for s in found if s.volume]
    say(f"no node is Primary: reading the position of {', '.join(holding)} (their containers are stopped)")
    answers, failed = ask(config, inventory, holding, "position")
    _raise_failed(failed, "reading the Galera position")
    positions = [Position.from_data(h, answers[h]) for h in holding]
    for position in positions:
        say(f"  {position.describe()}")
    choice = choose(positions, cluster_hosts(config))
    if choice is None:
        say("no node has run in the cluster yet: the first host starts it when it is deployed")
        return None
    say(f"starting the cluster from {choice.host}: {choice.reason}")
    _, failed = ask(config, inventory, [choice.host], "bootstrap", timeout)
    _raise_failed(failed, f"starting the cluster from {choice.host}")
    joiners = [s.host for s in found if s.container is not None and s.host != choice.host]
    if joiners:
        say(f"{', '.join(joiners)} join it")
        _, failed = ask(config, inventory, joiners, "join", timeout)
        _raise_failed(failed, f"joining the cluster started from {choice.host}")
    return choice


def _raise_failed(failed: dict[str, tuple[str, list[str]]], doing: str) -> None:
    if failed:
        details = [f"{h}: {m}" + "".join(f"\n    {line}" for line in d) for h, (m, d) in failed.items()]
        raise GaleraError(f"{doing} failed on {', '.join(failed)}",
                          "fix what is named above, then run `berth mariadb-recovery` again (it starts over from "
                          "the positions; no node's data is changed but its safe_to_bootstrap mark)",
                          details=details)
