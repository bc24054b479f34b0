"""`berth config show`: the final files a service gets, secrets masked."""

from __future__ import annotations

import yaml

from berth.cli.main import main
from berth.errors import ExitCode


def _config_dir(tmp_path):
    assert main(["--config-dir", str(tmp_path), "-q", "genpwd"]) == 0
    return tmp_path


def test_show_masks_every_secret(tmp_path, capsys):
    cfg = _config_dir(tmp_path)
    passwords = yaml.safe_load((cfg / "passwords.yml").read_text())
    assert main(["--config-dir", str(cfg), "config", "show", "keystone", "--file", "keystone.conf"]) == 0
    out = capsys.readouterr().out
    assert "# ---- keystone/keystone.conf" in out
    assert "mysql+pymysql://keystone:********@" in out
    assert passwords["keystone_database_password"] not in out


def test_show_applies_operator_overrides(tmp_path, capsys):
    cfg = _config_dir(tmp_path)
    (cfg / "config" / "keystone").mkdir(parents=True)
    (cfg / "config" / "keystone" / "keystone.conf").write_text("[token]\nexpiration = 3600\n")
    assert main(["--config-dir", str(cfg), "config", "show", "keystone", "--file", "keystone.conf"]) == 0
    assert "expiration = 3600" in capsys.readouterr().out


def test_show_disabled_service_says_how_to_enable(tmp_path, capsys):
    cfg = _config_dir(tmp_path)
    (cfg / "globals.yml").write_text("enable_keystone: false\n")
    assert main(["--config-dir", str(cfg), "config", "show", "keystone"]) == ExitCode.CONFIG
    assert "set enable_keystone: true" in capsys.readouterr().err


def test_show_unknown_file_is_an_error(tmp_path, capsys):
    cfg = _config_dir(tmp_path)
    assert main(["--config-dir", str(cfg), "config", "show", "keystone", "--file", "nope.conf"]) == ExitCode.USAGE
    assert "nothing matches" in capsys.readouterr().err
