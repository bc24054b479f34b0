"""The pure planner: (desired, actual) -> Plan. No engine, no files, no clock: every case is a unit test."""

from __future__ import annotations

from collections.abc import Collection

from berth.plan.diff import field_changes, file_diffs
from berth.plan.model import Action, ContainerChange, FieldChange, FileDiff, Plan, StepChange
from berth.state.actual import ActualContainer, ActualState
from berth.state.desired import DesiredContainer, DesiredState, DesiredStep, step_stamp


def make_plan(desired: DesiredState, actual: ActualState, services: Collection[str] | None = None) -> Plan:
    """Decide per container and per step; `services` limits the plan (None: the whole deployment)."""
    all_services = [s.name for s in desired.services]
    selected = [s for s in all_services if services is None or s in services]
    changes = [decide(c, actual, desired.secrets) for c in desired.containers if c.service in selected]
    changes = follow_restarts(changes, {c.key: c for c in desired.containers})
    changes += leftovers(desired, actual, selected, whole=services is None)
    steps = [decide_step(s, actual) for s in desired.steps if s.service in selected]
    return Plan(desired.deployment, tuple(selected), tuple(changes), tuple(steps))


def decide(want: DesiredContainer, actual: ActualState, secrets: Collection[str]) -> ContainerChange:
    have = actual.main(want.key)
    if have is None:
        return _change(want, None, Action.CREATE, _missing_reasons(want, actual))
    if have.spec_hash != want.spec_hash:
        return _recreate(want, have, secrets)
    if have.config_hash != want.config_hash:
        files = file_diffs(have.files, want.files, secrets)
        names = ", ".join(f.name for f in files) or "contents recorded elsewhere"
        return _change(want, have, Action.RESTART, (f"config changed: {names}",), files=files)
    if not have.running:
        return _change(want, have, Action.START, (f"container is {have.state or 'not running'}",))
    if have.health == "unhealthy":
        return _change(want, have, Action.RESTART, ("health check failing",))
    return _change(want, have, Action.NOOP, ())


def follow_restarts(changes: list[ContainerChange], wanted: dict[str, DesiredContainer]) -> list[ContainerChange]:
    """A container otherwise unchanged restarts when one it `restart_with`s (re)starts in this plan."""
    acting = {c.key: c for c in changes if c.action in (Action.CREATE, Action.RECREATE, Action.RESTART,
                                                         Action.START)}
    out = []
    for change in changes:
        want = wanted[change.key]
        leaders = [acting[k] for k in want.restart_with if k in acting]
        if change.action is Action.NOOP and leaders:
            reasons = tuple(f"{c.key} will {c.action.value}: it restarts with it" for c in leaders)
            change = ContainerChange(host=change.host, service=change.service, key=change.key, name=change.name,
                                     action=Action.RESTART, reasons=reasons, container_id=change.container_id,
                                     follows=tuple(c.key for c in leaders))
            acting[change.key] = change
        out.append(change)
    return out


def _missing_reasons(want: DesiredContainer, actual: ActualState) -> tuple[str, ...]:
    reasons = ["container does not exist"]
    if any(c.key == want.key and c.aside for c in actual.containers):
        reasons.append("an interrupted recreate left the previous container aside")
    if want.image_id is None:
        reasons.append(f"image {want.image} is not present: it will be pulled")
    return tuple(reasons)


def _recreate(want: DesiredContainer, have: ActualContainer, secrets: Collection[str]) -> ContainerChange:
    reasons = []
    if want.image_id is None:
        reasons.append(f"image {want.image} is not present: it will be pulled")
    elif have.image_id != want.image_id:
        reasons.append(f"image changed: {_short(have.image_id)} -> {_short(want.image_id)}")
    fields = field_changes(have.spec, want.spec, secrets) if have.spec else ()
    if fields:
        reasons.append("definition changed: " + ", ".join(f.field for f in fields))
    if not reasons:
        reasons.append("definition changed")
    files = file_diffs(have.files, want.files, secrets)
    return _change(want, have, Action.RECREATE, tuple(reasons), fields=fields, files=files)


def _short(image_id: str | None) -> str:
    return (image_id or "none").removeprefix("sha256:")[:12]


def _change(want: DesiredContainer, have: ActualContainer | None, action: Action, reasons: tuple[str, ...],
            fields: tuple[FieldChange, ...] = (), files: tuple[FileDiff, ...] = ()) -> ContainerChange:
    return ContainerChange(host=want.host, service=want.service, key=want.key, name=want.name, action=action,
                           reasons=reasons, container_id=have.id if have else None, fields=fields, files=files)


def leftovers(desired: DesiredState, actual: ActualState, selected: list[str], whole: bool) -> list[ContainerChange]:
    """Containers to remove: aside copies, one-shot remains, and containers nothing defines any more."""
    wanted = {c.key for c in desired.containers}
    host = desired.services[0].host if desired.services else "localhost"
    out = []
    for have in actual.containers:
        in_scope = have.service in selected or (whole and have.service not in {s.name for s in desired.services})
        if not in_scope:
            continue
        reason = _leftover_reason(have, wanted)
        if reason:
            out.append(ContainerChange(host=host, service=have.service, key=have.key, name=have.name,
                                       action=Action.REMOVE, reasons=(reason,), container_id=have.id))
    return out


def _leftover_reason(have: ActualContainer, wanted: set[str]) -> str | None:
    if have.role == "oneshot":
        return "one-shot container left over by an interrupted step"
    if have.aside:
        return "previous container kept aside by an interrupted recreate"
    if have.key not in wanted:
        return "no longer defined (service disabled or container removed from its definition)"
    return None


def decide_step(step: DesiredStep, actual: ActualState) -> StepChange:
    stamp = step_stamp(step, actual.volumes)
    recorded = actual.stamps.get(step.id)
    if stamp is None:
        missing = [v for v in step.stamp_volumes if v not in actual.volumes]
        return _step(step, True, f"volume {', '.join(missing)} will be created")
    if recorded is None:
        return _step(step, True, "has not run yet")
    if recorded != stamp:
        return _step(step, True, "its definition, image, config or data volume changed")
    return _step(step, False, "already done")


def _step(step: DesiredStep, run: bool, reason: str) -> StepChange:
    return StepChange(host=step.host, service=step.service, name=step.name, kind=step.kind, run=run, reason=reason,
                      phase=step.phase)
