"""Entry point: global options, command discovery, and the single error boundary.

Commands live one module per topic in berth.cli.commands; each module exposes `register(group)`.
Adding a command never touches this file.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

import click

from berth import __version__
from berth.cli.context import AppContext, default_config_dir
from berth.errors import BerthError, ExitCode

EPILOG = """Exit status: 0 ok, 1 operation failed, 2 usage error, 3 invalid configuration,
4 container engine unreachable, 5 prechecks failed, 6 build failed, 7 deploy step failed,
8 host cannot be prepared, 130 interrupted or declined."""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="berth")
@click.option(
    "--config-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=default_config_dir,
    show_default="/etc/berth, or $BERTH_CONFIG_DIR",
    help="Operator configuration: globals.yml, passwords.yml, config/<service>/ overrides.",
)
@click.option(
    "-i",
    "--inventory",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Ansible-format inventory (default: the built-in all-in-one on localhost).",
)
@click.option("-v", "--verbose", count=True, help="More detail (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and final results.")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def cli(
    ctx: click.Context,
    config_dir: Path,
    inventory: Path | None,
    verbose: int,
    quiet: bool,
    json_output: bool,
    debug: bool,
) -> None:
    """berth: build, deploy, upgrade and roll back a containerized OpenStack cloud."""
    ctx.obj = AppContext(
        config_dir=config_dir, inventory=inventory, verbose=verbose, debug=debug, json=json_output, quiet=quiet
    )


def _register_commands(group: click.Group) -> None:
    """Import every module of berth.cli.commands and let it add its commands."""
    from berth.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(group)


_register_commands(cli)


def _print_error(err: BerthError) -> None:
    click.secho(f"error: {err.message}", fg="red", err=True)
    for line in err.details:
        click.echo(f"  {line}", err=True)
    if err.hint:
        click.secho(f"hint: {err.hint}", fg="yellow", err=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every expected failure to one clear line and a documented exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        result = cli.main(args=argv, prog_name="berth", standalone_mode=False)
    except BerthError as err:
        if debug:
            traceback.print_exc()
        _print_error(err)
        return int(err.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return int(ExitCode.ABORTED)
    except click.ClickException as err:
        err.show()
        return int(ExitCode.USAGE) if isinstance(err, click.UsageError) else int(ExitCode.FAILURE)
    except click.exceptions.Exit as err:
        return int(err.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return int(ExitCode.ABORTED)
    except Exception:  # noqa: BLE001 - the one place unexpected errors are reported
        if debug:
            traceback.print_exc()
        else:
            exc = sys.exc_info()[1]
            click.secho(f"internal error: {type(exc).__name__}: {exc}", fg="red", err=True)
            click.echo("hint: this is a bug in berth; re-run with --debug and report the traceback", err=True)
        return int(ExitCode.FAILURE)
    # click returns the exit status of ctx.exit(n) / --help; command return values are not statuses
    return result if isinstance(result, int) and not isinstance(result, bool) else int(ExitCode.OK)


def run() -> None:
    sys.exit(main())
