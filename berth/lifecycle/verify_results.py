"""Results of a `berth verify` run: the tempest container's JSON lines turned into counts, failures and files.

Pure logic (no engine, no cloud): `Tally` folds the lines as they arrive (the live progress line reads it), and
`summary()` makes the value printed, saved as summary.json and returned as --json.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# subunit statuses -> berth's three words (an unexpected success is a failure: the test's premise is wrong)
OUTCOME = {"success": "passed", "fail": "failed", "uxsuccess": "failed", "skip": "skipped", "xfail": "skipped"}


@dataclass(frozen=True)
class TestResult:
    id: str
    outcome: str  # passed | failed | skipped
    seconds: float | None
    reason: str  # a failure's traceback tail, a skip's reason; "" when passed

    @property
    def name(self) -> str:
        """The test id without tempest's `[id-…,smoke]` attributes."""
        return self.id.split("[", 1)[0]


@dataclass
class Tally:
    """Counts so far; `listed` is how many tests tempest selected (None until known, or when listing failed)."""

    listed: int | None = None
    results: list[TestResult] = field(default_factory=list)
    exit_code: int | None = None  # tempest's, from the end line
    other: list[str] = field(default_factory=list)  # lines that are not berth's (kept for error messages)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def add(self, line: str) -> TestResult | None:
        """Fold one output line in; returns the test it reported, if any."""
        record = _record(line)
        if record is None:
            if line.strip():
                self.other = (self.other + [line.rstrip()])[-20:]
            return None
        event = record.get("event")
        if event == "listed":
            self.listed = record.get("count")
        elif event == "end":
            self.exit_code = int(record.get("code", 1))
        elif event == "test":
            result = TestResult(str(record["id"]), OUTCOME.get(str(record.get("status")), "failed"),
                                record.get("seconds"), str(record.get("reason") or ""))
            self.results.append(result)
            return result
        return None

    def progress(self) -> str:
        done = len(self.results)
        total = f"/{self.listed}" if self.listed is not None else ""
        return (f"{done}{total} tests: {self.count('passed')} passed, {self.count('failed')} failed, "
                f"{self.count('skipped')} skipped")


def _record(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) and "event" in found else None


@dataclass(frozen=True)
class Summary:
    selection: str
    passed: int
    failed: int
    skipped: int
    listed: int | None
    seconds: float
    tempest_exit_code: int | None
    failures: list[dict[str, str]]
    results_dir: str = ""
    left_out: list[dict[str, str]] = field(default_factory=list)  # berth's known exclusions: test, why

    @property
    def ok(self) -> bool:
        """Every test passed or skipped, at least one ran, and tempest itself finished cleanly."""
        return self.failed == 0 and self.passed > 0 and self.tempest_exit_code == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def summary(tally: Tally, selection: str, seconds: float, results_dir: str = "",
            left_out: list[dict[str, str]] | None = None) -> Summary:
    failures = [{"id": r.name, "reason": r.reason} for r in tally.results if r.outcome == "failed"]
    return Summary(selection, tally.count("passed"), tally.count("failed"), tally.count("skipped"), tally.listed,
                   round(seconds, 1), tally.exit_code, failures, results_dir, left_out or [])


def report_lines(result: Summary, reason_lines: int = 4) -> list[str]:
    """What a person reads at the end: the counts, then each failed test with its reason's last lines."""
    verdict = "PASSED" if result.ok else "FAILED"
    head = (f"tempest {result.selection}: {verdict} in {result.seconds:.0f}s — {result.passed} passed, "
            f"{result.failed} failed, {result.skipped} skipped")
    lines = [head]
    if result.passed == 0 and result.failed == 0:
        lines.append("  no test ran: the selection matched nothing, or tempest could not start (see below)")
    elif result.tempest_exit_code not in (0, None) and result.failed == 0:
        lines.append(f"  tempest exited with status {result.tempest_exit_code}")
    for failure in result.failures:
        lines.append(f"  FAILED {failure['id']}")
        lines += [f"      {line}" for line in failure["reason"].splitlines()[-reason_lines:]]
    if result.left_out:
        lines.append(f"  left out by berth (known, see docs/services.md): {len(result.left_out)} pattern(s)")
    if result.results_dir:
        lines.append(f"results: {result.results_dir}")
    return lines


def results_json(tally: Tally) -> str:
    return json.dumps([asdict(r) for r in tally.results], indent=1) + "\n"
