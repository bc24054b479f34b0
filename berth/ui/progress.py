"""Reporters render scheduler events.

A terminal gets one line per item rewritten in place (rich Live); CI and pipes get plain timestamped
lines; --json and --quiet get nothing live (the command prints its final result).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from berth.run.events import Event, EventKind, Status

STYLE = {
    Status.PENDING: ("·", "dim"),
    Status.RUNNING: ("…", "cyan"),
    Status.SUCCEEDED: ("✔", "green"),
    Status.CACHED: ("=", "green"),
    Status.FAILED: ("✘", "red"),
    Status.SKIPPED: ("-", "yellow"),
}


class Reporter(Protocol):
    def __call__(self, event: Event) -> None: ...


class NullReporter:
    def __call__(self, event: Event) -> None:
        return None


class PlainReporter:
    """One line per start/finish (and per progress line when verbose): readable in CI logs."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False, words: dict[Status, str] | None = None):
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self.words = words or {}
        self.t0 = time.monotonic()

    def __call__(self, event: Event) -> None:
        if event.kind is EventKind.PROGRESS and not self.verbose:
            return
        stamp = f"[{time.monotonic() - self.t0:6.1f}s]"
        if event.kind is EventKind.STARTED:
            text = "started"
        elif event.kind is EventKind.PROGRESS:
            text = event.message
        else:
            text = f"{self.words.get(event.status, event.status.value)} in {event.elapsed:.1f}s"
            if event.message and event.status is not Status.SUCCEEDED:
                text += f": {event.message}"
        print(f"{stamp} {event.key}: {text}", file=self.stream, flush=True)


class LiveReporter:
    """A table with one row per item, rewritten in place."""

    def __init__(self, keys: Sequence[str], console: Console, words: dict[Status, str] | None = None):
        self.rows: dict[str, list[object]] = {k: [Status.PENDING, 0.0, "", 0.0] for k in keys}
        self.console = console
        self.words = words or {}
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False)

    def __call__(self, event: Event) -> None:
        row = self.rows.setdefault(event.key, [Status.PENDING, 0.0, "", 0.0])
        row[0] = event.status
        if event.kind is EventKind.STARTED:
            row[3] = time.monotonic()
        if event.kind is EventKind.FINISHED:
            row[1] = event.elapsed
        if event.message:
            row[2] = event.message.splitlines()[-1][:100]
        self.live.update(self._render())

    def _render(self) -> Table:
        table = Table.grid(padding=(0, 1))
        for key, (status, elapsed, message, started) in self.rows.items():
            assert isinstance(status, Status)
            icon, style = STYLE[status]
            if status is Status.RUNNING:
                elapsed = time.monotonic() - float(started)  # type: ignore[arg-type]
            secs = f"{float(elapsed):5.1f}s" if status is not Status.PENDING else ""  # type: ignore[arg-type]
            word = self.words.get(status, status.value)
            table.add_row(Text(icon, style=style), Text(key, style="bold"), Text(word, style=style),
                          Text(secs, style="dim"), Text(str(message), style="dim"))
        return table


@contextmanager
def reporter_for(
    keys: Sequence[str], *, json: bool = False, quiet: bool = False, verbose: int = 0,
    words: dict[Status, str] | None = None,
) -> Iterator[Reporter]:
    """Pick the view that fits where the output goes."""
    if json or quiet:
        yield NullReporter()
        return
    console = Console(stderr=True)
    if console.is_terminal and not verbose:
        live = LiveReporter(keys, console, words)
        with live.live:
            yield live
        return
    yield PlainReporter(verbose=verbose > 0, words=words)
