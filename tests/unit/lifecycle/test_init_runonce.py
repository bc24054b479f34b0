"""init-runonce's pure parts: the key pair file, the Horizon URL, console parsing, find-or-create, bad input."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from berth.config.globals import globals_model
from berth.config.loader import Config
from berth.errors import ConfigError
from berth.lifecycle import init_runonce as iro


def config(tmp_path: Path, **values: Any) -> Config:
    return Config(tmp_path, globals_model()(api_address="127.0.0.9", **values))


def test_key_pair_is_made_once_with_a_private_mode(tmp_path: Path) -> None:
    private, line = iro.key_pair_files(tmp_path)
    assert private.stat().st_mode & 0o777 == 0o600
    assert line.startswith("ssh-ed25519 ") and "PRIVATE" not in line
    assert b"OPENSSH PRIVATE KEY" in private.read_bytes()
    again, line2 = iro.key_pair_files(tmp_path)
    assert (again, line2) == (private, line)


def test_horizon_url(tmp_path: Path) -> None:
    assert iro.horizon_url(config(tmp_path)) == "http://127.0.0.9/horizon/"
    assert iro.horizon_url(config(tmp_path, horizon_port=8080)) == "http://127.0.0.9:8080/horizon/"
    assert iro.horizon_url(config(tmp_path, enable_horizon=False)) is None


def test_console_lines_wait_for_the_marker() -> None:
    outputs = iter(["[    0.1] booting\n", "x\nBERTH-TEST-GUEST-OK\nBERTH-IP 10.0.0.7\nBERTH-INSTANCE-ID abc\n"])
    compute = SimpleNamespace(get_server_console_output=lambda _id: {"output": next(outputs)})
    conn = SimpleNamespace(compute=compute)
    assert iro._console_lines(conn, "abc") is None
    assert iro._console_lines(conn, "abc") == {"BERTH-TEST-GUEST-OK": "", "BERTH-IP": "10.0.0.7",
                                                "BERTH-INSTANCE-ID": "abc"}


def test_console_read_failing_on_the_server_side_is_not_yet() -> None:
    """Just after a restart nova-compute may not answer the console RPC (HTTP 500): poll again; a 4xx is a bug."""
    from openstack import exceptions

    def failing(status: int) -> Any:
        def read(_id: str) -> Any:
            raise exceptions.HttpException(message="boom", http_status=status)
        return SimpleNamespace(compute=SimpleNamespace(get_server_console_output=read))

    assert iro._console_lines(failing(500), "abc") is None
    with pytest.raises(exceptions.HttpException):
        iro._console_lines(failing(404), "abc")


def test_find_or_create_creates_only_what_is_missing() -> None:
    made: list[str] = []

    def create() -> Any:
        made.append("x")
        return SimpleNamespace(name="n", id="1")

    _, item = iro._find_or_create("network", lambda: None, create)
    assert item == iro.Item("network", "n", "1", "created") and made == ["x"]
    _, item = iro._find_or_create("network", lambda: SimpleNamespace(name="n", id="1"), create)
    assert item.action == "exists" and made == ["x"]


def test_a_disabled_service_is_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        iro.check_deployed(config(tmp_path, enable_nova=False, enable_neutron=False))
    assert "nova, neutron" in err.value.message
    assert "enable_nova: true" in (err.value.hint or "") and "berth deploy" in (err.value.hint or "")
