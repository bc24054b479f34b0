"""`berth verify`: run OpenStack's tempest against the deployed cloud; exit status 1 when any test failed."""

from __future__ import annotations

import json
import sys

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import BerthError, ExitCode


class LiveLine:
    """One progress line: rewritten in place on a terminal, a plain line per failure and every 25 tests else."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self.tty = sys.stderr.isatty()

    def __call__(self, tally: object, result: object) -> None:
        from berth.lifecycle.verify_results import Tally, TestResult

        if self.app.quiet or self.app.json or not isinstance(tally, Tally) or not isinstance(result, TestResult):
            return
        line = f"{tally.progress()} — {'.'.join(result.name.split('.')[-2:])}"
        if self.tty:
            click.echo("\r\033[K" + line[:200], nl=False, err=True)
            if result.outcome == "failed":
                click.echo(f"\r\033[K  FAILED {result.name}", err=True)
        elif result.outcome == "failed" or len(tally.results) % 25 == 0:
            click.echo(line if result.outcome != "failed" else f"{line} (FAILED)", err=True)

    def done(self) -> None:
        if self.tty and not (self.app.quiet or self.app.json):
            click.echo("\r\033[K", nl=False, err=True)


@click.command("verify")
@click.option("--smoke", is_flag=True, help="Only tempest's smoke tests (a few minutes on the all-in-one).")
@click.option("--regex", metavar="R", help="Only the tests whose id matches the regular expression R.")
@click.option("--exclude-regex", metavar="R", help="Leave out the tests whose id matches R.")
@click.option("--concurrency", type=click.IntRange(min=1), default=2, show_default=True,
              help="Tests run at once (tempest workers).")
@click.option("--timeout", type=click.IntRange(min=60), default=7200, show_default=True,
              help="Seconds before the run is stopped.")
@click.option("--no-exclusions", is_flag=True,
              help="Also run the tests berth leaves out as known not to fit its clouds (exclusions.yml).")
@click.option("--json", "json_flag", is_flag=True, help="Print the summary as JSON.")
@pass_app
def verify_cmd(app: AppContext, smoke: bool, regex: str | None, exclude_regex: str | None, concurrency: int,
               timeout: int, no_exclusions: bool, json_flag: bool) -> None:
    """Run tempest (the release's, from the `tempest` image) against the cloud; results under the state dir."""
    from berth.engine import connect
    from berth.lifecycle.verify import Selection, exclusions, run_verify
    from berth.lifecycle.verify_results import report_lines

    if smoke and regex:
        raise click.UsageError("--smoke and --regex exclude each other")
    as_json = app.json or json_flag
    known = [] if no_exclusions else exclusions(app.config.globals.openstack_release)
    live = LiveLine(app)
    engine = connect()
    try:
        result = run_verify(app.config, engine, Selection(smoke, regex, exclude_regex), concurrency, timeout,
                            known, progress=(lambda m: None) if as_json else app.echo, on_test=live)
    finally:
        live.done()
        engine.close()
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        for line in report_lines(result):
            click.echo(line)
    if not result.ok:
        raise VerifyFailed()


class VerifyFailed(BerthError):
    """Tests failed: the report is printed already, so the error line only says so."""

    exit_code = ExitCode.FAILURE

    def __init__(self) -> None:
        super().__init__("tempest reported failures (or ran no test)", hint="see the failed tests above")


def register(group: click.Group) -> None:
    group.add_command(verify_cmd)
