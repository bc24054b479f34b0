"""berth.retry.retried: transient errors tried again until patience runs out; others at once."""

from __future__ import annotations

import pytest

from berth.retry import retried


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def failing(errors: list[Exception], result: str = "ok"):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result
    return attempt, calls


def test_transient_errors_are_tried_again_until_the_call_answers() -> None:
    clock = Clock()
    attempt, calls = failing([ConnectionRefusedError(), ConnectionRefusedError()])
    assert retried(attempt, lambda e: isinstance(e, OSError), 10, clock=clock, sleep=clock.sleep) == "ok"
    assert len(calls) == 3 and clock.now == 2.0


def test_another_error_is_raised_at_once() -> None:
    clock = Clock()
    attempt, calls = failing([PermissionError("wrong password")])
    with pytest.raises(PermissionError):
        retried(attempt, lambda e: isinstance(e, ConnectionError), 10, clock=clock, sleep=clock.sleep)
    assert len(calls) == 1 and clock.now == 0.0


def test_the_last_transient_error_is_raised_when_patience_runs_out() -> None:
    clock = Clock()
    attempt, calls = failing([ConnectionRefusedError(str(n)) for n in range(100)])
    with pytest.raises(ConnectionRefusedError, match="^5$"):
        retried(attempt, lambda e: isinstance(e, OSError), 5, clock=clock, sleep=clock.sleep)
    assert len(calls) == 6
