"""Text views of plans, results and status (secrets are already masked in the values)."""

from __future__ import annotations

from collections.abc import Sequence

from berth.plan.model import Action, Plan

SYMBOL = {Action.CREATE: "+", Action.RECREATE: "~", Action.RESTART: "↻", Action.START: "▶", Action.NOOP: "=",
          Action.REMOVE: "-", Action.SWAP: "~", Action.FINISH: "▶", Action.STOP: "■"}


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header).rstrip(), *(fmt.format(*map(str, r)).rstrip() for r in rows)]


def plan_lines(plan: Plan, verbose: bool = True) -> list[str]:
    """A per-container table, the steps that will run, then field and file diffs of each change."""
    rows = [(SYMBOL[c.action], c.host, c.service, c.name, c.action.value, "; ".join(c.reasons) or "up to date")
            for c in plan.changes]
    lines = table(rows, ("", "HOST", "SERVICE", "CONTAINER", "ACTION", "WHY")) if rows else ["(no containers)"]
    steps = [s for s in plan.steps if s.run]
    if steps:
        lines += ["", "steps that will run:"]
        lines += [f"  {s.service}/{s.name} ({s.kind}): {s.reason}" for s in steps]
    if verbose:
        for change in plan.changes:
            if not change.fields and not change.files:
                continue
            lines += ["", f"--- {change.name}: {change.action.value}"]
            lines += [f"  field {f.field}: {f.old} -> {f.new}" for f in change.fields]
            for diff in change.files:
                lines += [f"  {line}" for line in diff.diff.rstrip("\n").splitlines()]
    counts = plan.counts()
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing"
    lines += ["", f"plan: {summary}; {len(steps)} step(s) to run"]
    return lines
