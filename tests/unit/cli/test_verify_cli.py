"""`berth verify`'s command line: bad combinations fail before anything is asked of the cloud or the engine."""

from __future__ import annotations

import pytest

from berth.cli import main as cli_main
from berth.errors import ExitCode


@pytest.mark.parametrize("args", [["--smoke", "--regex", "x"], ["--concurrency", "0"], ["--timeout", "5"]])
def test_bad_options_are_usage_errors(args: list[str], tmp_path, capsys) -> None:
    code = cli_main.main(["--config-dir", str(tmp_path), "verify", *args])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert "Traceback" not in err
