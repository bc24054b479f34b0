"""The plan as text: one row per container, steps, diffs."""

from __future__ import annotations

from berth.lifecycle.show import plan_lines
from berth.plan.model import Action, ContainerChange, FileDiff, Plan, StepChange


def test_plan_lines():
    plan = Plan("berth", ("keystone",), (
        ContainerChange("localhost", "keystone", "keystone", "keystone", Action.RESTART, ("config changed: a.conf",),
                        files=(FileDiff("a.conf", "--- a/a.conf\n+++ b/a.conf\n-x\n+y\n"),)),
    ), (StepChange("localhost", "keystone", "db-sync", "oneshot", True, "has not run yet"),))
    text = "\n".join(plan_lines(plan))
    assert "keystone" in text and "restart" in text and "config changed: a.conf" in text
    assert "keystone/db-sync (oneshot): has not run yet" in text
    assert "+y" in text
    assert text.endswith("plan: 1 restart; 1 step(s) to run")
