"""berth-galera (the mariadb image's start wrapper): join a peer that answers, else start a cluster only when allowed."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from berth.services.registry import service_dirs

SCRIPT = service_dirs()["mariadb"] / "images" / "berth-galera"
UUID = "4a8b2f6e-0000-11ef-8000-000000000001"


def load() -> ModuleType:
    loader = SourceFileLoader("berth_galera", str(SCRIPT))
    spec = spec_from_loader("berth_galera", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def galera() -> ModuleType:
    return load()


def cnf(tmp_path: Path, peers: str, first: bool) -> Path:
    datadir = tmp_path / "data"
    datadir.mkdir(exist_ok=True)
    path = tmp_path / "berth.cnf"
    path.write_text(f"[mysqld]\nuser = mysql\ndatadir = {datadir}\nskip-name-resolve\n\n[berth-galera]\n"
                    f"peers = {peers}\nfirst_host = {'yes' if first else 'no'}\n")
    return path


def grastate(datadir: Path, seqno: int, safe: int) -> None:
    (datadir / "grastate.dat").write_text(f"# GALERA saved state\nversion: 2.1\nuuid:    {UUID}\nseqno:   {seqno}\n"
                                          f"safe_to_bootstrap: {safe}\n")


@pytest.fixture
def listener() -> Iterator[int]:
    """A peer's Galera port: something accepting connections on loopback."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_settings_come_from_berths_group(galera: ModuleType, tmp_path: Path) -> None:
    path = cnf(tmp_path, "198.51.100.12:4567,198.51.100.13:4567", True)
    datadir, peers, first = galera.read_settings(str(path))
    assert datadir == str(tmp_path / "data") and first is True
    assert peers == [("198.51.100.12", 4567), ("198.51.100.13", 4567)]


def test_a_cnf_without_berths_group_is_refused_naming_it(galera: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "plain.cnf").write_text("[mysqld]\ndatadir = /x\n")
    with pytest.raises(SystemExit) as err:
        galera.read_settings(str(tmp_path / "plain.cnf"))
    assert "plain.cnf has no [berth-galera] group" in str(err.value)


@pytest.mark.parametrize("state,first,data,allowed", [
    (None, True, True, True),  # first deploy: the first host starts the cluster
    (None, True, False, False),  # never initialised
    (None, False, True, False),  # a joiner never starts one
    ({"seqno": 12, "safe_to_bootstrap": 1}, False, True, True),  # galera's own mark (last to leave cleanly)
    ({"seqno": -1, "safe_to_bootstrap": 0}, True, True, False),  # a crash: even the first host waits
    ({"seqno": 40, "safe_to_bootstrap": 0}, True, True, False),  # left while others ran: may be behind
])
def test_who_may_start_a_cluster_alone(galera: ModuleType, state: dict[str, Any] | None, first: bool, data: bool,
                                       allowed: bool) -> None:
    ok, why = galera.may_bootstrap(state, first, data)
    assert ok is allowed and why


def test_a_peer_that_answers_is_joined_even_by_a_node_marked_safe(galera: ModuleType, tmp_path: Path,
                                                                   listener: int) -> None:
    path = cnf(tmp_path, f"127.0.0.1:{closed_port()},127.0.0.1:{listener}", True)
    grastate(tmp_path / "data", 9, 1)
    (tmp_path / "data" / "mysql").mkdir()
    datadir, peers, first = galera.read_settings(str(path))
    assert galera.wait_for_decision(datadir, peers, first) == []


def test_no_peer_and_safe_to_bootstrap_starts_a_new_cluster(galera: ModuleType, tmp_path: Path) -> None:
    path = cnf(tmp_path, f"127.0.0.1:{closed_port()}", False)
    grastate(tmp_path / "data", 9, 1)
    datadir, peers, first = galera.read_settings(str(path))
    assert galera.wait_for_decision(datadir, peers, first) == ["--wsrep-new-cluster"]


def test_no_peer_and_not_safe_waits_until_a_peer_answers(galera: ModuleType, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = cnf(tmp_path, f"127.0.0.1:{closed_port()}", True)
    grastate(tmp_path / "data", -1, 0)
    (tmp_path / "data" / "mysql").mkdir()
    answers = iter([None, None, "127.0.0.1:1"])
    monkeypatch.setattr(galera, "answering", lambda _peers: next(answers))
    monkeypatch.setattr(galera, "WAIT_STEP", 0.0)
    monkeypatch.setattr(galera, "STATE_FILE", str(tmp_path / "state"))
    datadir, peers, first = galera.read_settings(str(path))
    assert galera.wait_for_decision(datadir, peers, first) == []
    assert "safe_to_bootstrap: 0" in (tmp_path / "state").read_text()


def test_mark_rewrites_only_the_flag(galera: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = cnf(tmp_path, "", False)
    grastate(tmp_path / "data", -1, 0)
    assert galera.mark(str(path), "1") == 0
    assert galera.grastate(str(tmp_path / "data")) == {"uuid": UUID, "seqno": -1, "safe_to_bootstrap": 1}
    assert json.loads(capsys.readouterr().out) == {"grastate": True, "safe_to_bootstrap": 1}
    (tmp_path / "data" / "grastate.dat").unlink()
    assert galera.mark(str(path), "0") == 0 and json.loads(capsys.readouterr().out) == {"grastate": False}


def test_position_reads_grastate_and_recovers_an_unknown_seqno(galera: ModuleType, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = cnf(tmp_path, "", False)
    (tmp_path / "data" / "mysql").mkdir()
    grastate(tmp_path / "data", 17, 1)
    galera.position(str(path))
    assert json.loads(capsys.readouterr().out) == {"grastate": True, "initialised": True, "uuid": UUID, "seqno": 17,
                                                   "safe_to_bootstrap": 1, "recovered": False}
    grastate(tmp_path / "data", -1, 0)
    monkeypatch.setattr(galera, "recover_position", lambda _defaults, _user: (UUID, 23))
    galera.position(str(path))
    found = json.loads(capsys.readouterr().out)
    assert (found["seqno"], found["recovered"]) == (23, True)


def test_the_recovered_position_is_read_from_mariadbs_log(galera: ModuleType) -> None:
    line = f"2026-12-02  1:11:12 0 [Note] WSREP: Recovered position: {UUID}:1234"
    assert galera.POSITION.findall(line) == [(UUID, "1234")]


def test_a_waiting_node_stops_at_once_on_sigterm(tmp_path: Path) -> None:
    """PID 1 of its container ignores SIGTERM without a handler: `docker stop` would wait the whole timeout."""
    import signal
    import subprocess
    import sys
    import time

    path = cnf(tmp_path, f"127.0.0.1:{closed_port()}", False)  # a joiner with no peer: it waits
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "start", "true", f"--defaults-file={path}"],
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 143
    assert "stopped while waiting" in (proc.stderr.read() if proc.stderr else "")
