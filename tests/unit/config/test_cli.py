"""`berth config validate`, `berth genpwd`, `berth mergepwd`, run in-process through the real CLI boundary."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.cli.main import main
from berth.config import validate as validate_mod
from berth.errors import ExitCode


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def config_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A valid configuration: empty globals.yml and generated secrets."""
    directory = tmp_path / "etc"
    directory.mkdir()
    (directory / "globals.yml").write_text("# defaults\n")
    assert _run(capsys, "--config-dir", str(directory), "genpwd")[0] == 0
    return directory


def test_validate_ok(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = _run(capsys, "--config-dir", str(config_dir), "config", "validate")
    assert code == ExitCode.OK and "is valid" in out


def test_validate_reports_all_problems_at_once(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (config_dir / "globals.yml").write_text("netwrk_interface: lo\nimage_tag: [x]\n")
    (config_dir / "passwords.yml").write_text("some_secret:\n")
    (config_dir / "passwords.yml").chmod(0o600)
    inventory = config_dir / "multinode"
    inventory.write_text("[control]\nh1\n")
    code, _out, err = _run(capsys, "--config-dir", str(config_dir), "-i", str(inventory), "config", "validate")
    assert code == ExitCode.CONFIG
    assert f"error: {config_dir}/globals.yml:1: unknown key `netwrk_interface` (did you mean " in err
    assert f"error: {config_dir}/globals.yml:2: `image_tag`: expected a string" in err
    assert f"error: {config_dir}/passwords.yml:1: 1 empty secret(s): some_secret (line 1)" in err
    assert f"error: {inventory}: group `compute` is not defined" in err
    assert "problem(s) in" in err and "Traceback" not in err


def test_validate_json(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (config_dir / "passwords.yml").unlink()
    code, out, _err = _run(capsys, "--config-dir", str(config_dir), "config", "validate", "--json")
    report = json.loads(out)
    assert code == ExitCode.CONFIG and report["ok"] is False
    assert report["problems"] == [(f"{config_dir}/passwords.yml: does not exist "
                                  f"(run `berth --config-dir {config_dir} genpwd` to create it)")]
    code, out, _err = _run(capsys, "--json", "--config-dir", str(config_dir), "genpwd")
    code, out, _err = _run(capsys, "--json", "--config-dir", str(config_dir), "config", "validate")
    assert code == 0 and json.loads(out)["ok"] is True


def test_validate_malformed_yaml(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (config_dir / "globals.yml").write_text("a: [1,\n")
    code, _out, err = _run(capsys, "--config-dir", str(config_dir), "config", "validate")
    assert code == ExitCode.CONFIG and f"{config_dir}/globals.yml:2:1: malformed YAML" in err


def test_validate_override_paths(config_dir: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    stray = config_dir / "config" / "keystone" / "keystone.cnf"
    stray.parent.mkdir(parents=True)
    stray.write_text("[DEFAULT]\n")
    monkeypatch.setattr(validate_mod, "_readable_files_function", lambda: None)
    code, out, _err = _run(capsys, "--config-dir", str(config_dir), "config", "validate")
    assert code == 0 and "note: override paths not checked" in out

    def readable_files(config: Any) -> set[tuple[str, str, str]]:
        return {("keystone", "keystone-api", "keystone.conf")}

    monkeypatch.setattr(validate_mod, "_readable_files_function", lambda: readable_files)
    code, _out, err = _run(capsys, "--config-dir", str(config_dir), "config", "validate")
    assert code == ExitCode.CONFIG
    assert f"{stray}: nothing reads this file; did you mean {stray.parent}/keystone.conf?" in err


def test_genpwd_creates_private_dir_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "new" / "etc"
    code, out, _err = _run(capsys, "--config-dir", str(directory), "genpwd")
    assert code == 0 and "created" in out
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "passwords.yml").stat().st_mode) == 0o600


def test_genpwd_fills_warns_and_never_prints_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pw.yml"
    path.write_text("kept_one: keep-me-please\nfill_me:\n")
    path.chmod(0o644)
    code, out, err = _run(capsys, "-v", "genpwd", "--passwords", str(path))
    values = yaml.safe_load(path.read_text())
    assert code == 0 and values["kept_one"] == "keep-me-please" and values["fill_me"]
    assert "warning:" in err and "0644" in err
    assert "fill_me" in out and values["fill_me"] not in out + err and "keep-me-please" not in out + err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    code, out, _err = _run(capsys, "genpwd", "--passwords", str(path))
    assert code == 0 and "unchanged" in out and path.read_bytes() == before


def test_mergepwd_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new, final = tmp_path / "old.yml", tmp_path / "new.yml", tmp_path / "final.yml"
    old.write_text("a: old-secret-a\nonly_old: old-secret-x\n")
    new.write_text("a: new-secret-a\nb: new-secret-b\n")
    code, out, _err = _run(capsys, "mergepwd", "--old", str(old), "--new", str(new), "--final", str(final))
    assert code == 0
    assert yaml.safe_load(final.read_text()) == {"a": "old-secret-a", "b": "new-secret-b"}
    assert "dropped" in out and "only_old" in out and "secret-" not in out
    code, _out, err = _run(capsys, "mergepwd", "--old", str(tmp_path / "x.yml"), "--new", str(new),
                           "--final", str(final))
    assert code == ExitCode.CONFIG and "x.yml does not exist" in err


def test_mergepwd_requires_all_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, "mergepwd", "--old", "a.yml")
    assert code == ExitCode.USAGE and "--new" in err
