"""The single error boundary: one line + hint + documented exit code, never a traceback."""

from __future__ import annotations

import click
import pytest

from berth.cli import main as cli_main
from berth.errors import ConfigError, ExitCode


@pytest.fixture
def failing_command():
    @click.command("explode-for-test")
    @click.option("--kind", default="config")
    def explode(kind: str) -> None:
        if kind == "config":
            raise ConfigError("globals.yml:3: unknown key `netwrk`", "did you mean `network_interface`?",
                              details=["globals.yml:3: unknown key"])
        raise RuntimeError("unexpected")

    cli_main.cli.add_command(explode)
    yield
    cli_main.cli.commands.pop("explode-for-test")


def test_expected_error_is_one_line_with_hint(failing_command, capsys):
    code = cli_main.main(["explode-for-test"])
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG
    assert "error: globals.yml:3: unknown key `netwrk`" in err
    assert "hint: did you mean `network_interface`?" in err
    assert "Traceback" not in err


def test_unexpected_error_hides_traceback_without_debug(failing_command, capsys):
    code = cli_main.main(["explode-for-test", "--kind", "bug"])
    err = capsys.readouterr().err
    assert code == ExitCode.FAILURE
    assert "internal error: RuntimeError: unexpected" in err and "Traceback" not in err


def test_debug_shows_traceback(failing_command, capsys):
    cli_main.main(["--debug", "explode-for-test", "--kind", "bug"])
    assert "Traceback" in capsys.readouterr().err


def test_usage_error_exit_code(capsys):
    assert cli_main.main(["no-such-command"]) == ExitCode.USAGE


def test_help_lists_exit_codes(capsys):
    assert cli_main.main(["--help"]) == 0
    assert "Exit status" in capsys.readouterr().out
