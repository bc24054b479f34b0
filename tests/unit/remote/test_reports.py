"""What comes back from hosts, read: Ansible events, observations, apply results, failures. Pure, no Ansible run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.cli.main import main
from berth.engine import labels
from berth.engine.memory import MemoryEngine
from berth.images import registry
from berth.plan.codec import to_data
from berth.remote.ansible import HostResult, missing, result_of
from berth.remote.deploy import applied, failure, observation
from berth.state.actual import ActualContainer, ActualState
from berth.state.facts import HostFacts, HostNet
from berth.state.history import ContainerRecord, Entry
from berth.state.observe import OBSERVATION_VERSION


def event(kind: str, host: str, **res: object) -> dict[str, object]:
    return {"event": kind, "event_data": {"host": host, "task": "apply", "res": res, "duration": 2.5}}


def test_task_results_become_host_results() -> None:
    ok = result_of(event("runner_on_ok", "h1", stdout="{}", rc=0))
    assert ok == HostResult("h1", "ok", "apply", "{}", "", 0, "", 2.5)
    down = result_of(event("runner_on_unreachable", "h2", msg="ssh: connect to host 198.51.100.12 port 22: timed out"))
    assert down is not None and down.summary() == "unreachable: ssh: connect to host 198.51.100.12 port 22: timed out"
    failed = result_of(event("runner_on_failed", "h3", stdout="", stderr="a\nerror: boom", rc=7))
    assert failed is not None and failed.summary() == "task apply failed (exit 7): error: boom"
    assert result_of({"event": "playbook_on_stats", "event_data": {}}) is None
    assert result_of(event("runner_on_start", "h1")) is None


def test_a_host_ansible_said_nothing_about_is_failed_with_the_runs_output() -> None:
    out = missing({}, ["h1"], ["ERROR! the inventory cannot be parsed"])
    assert out["h1"].status == "failed" and out["h1"].tail() == ["ERROR! the inventory cannot be parsed"]


def observed(actual: object, version: int = 2) -> HostResult:
    return HostResult("h1", "ok", stdout=json.dumps({"version": version, "hostname": "h1", "actual": actual}))


def test_an_observation_reads_back_as_the_actual_state() -> None:
    state = ActualState("unit", containers=(ActualContainer("id1", "memcached", "memcached", "memcached"),),
                        images={"x:1": "sha256:1"})
    assert observation(observed(to_data(state)), "unit") == HostFacts(state)


def test_an_observation_with_facts_reads_back_history_pins_images_networks_and_host_objects() -> None:
    record = ContainerRecord("memcached", "memcached", "r/berth/memcached:zed", "sha256:1", "c", "s",
                             spec={"image": "r/berth/memcached:zed"}, files={"memcached.conf": "-m 64"})
    facts = HostFacts(ActualState("unit", pins={"memcached": "zed2"}),
                      history=(Entry(1, 1.0, "memcached", "deploy", (record,)),), image_ids=frozenset({"sha256:1", "sha256:2"}),
                      networks={"unit-net": "n1"}, net=HostNet(("eth0",), ("qrouter-1",), ("-A FORWARD -j X",)),
                      state_dir=True)
    data = to_data(facts)
    result = HostResult("h1", "ok", stdout=json.dumps({"version": OBSERVATION_VERSION, "hostname": "h1",
                                                       "actual": data.pop("actual"), "extra": data}))
    assert observation(result, "unit") == facts
    assert facts.without_files().history[0].containers[0].files == {}
    assert facts.net.has_rule("FORWARD  -j X") and not facts.net.has_rule("FORWARD -j Y")


@pytest.mark.parametrize("result, message", [
    (HostResult("h1", "ok", stdout="Traceback ..."), "its `berth observe` printed no observed state"),
    (observed({"deployment": "unit"}, version=9), "observation version 9"),
    (observed({"deployment": "unit", "containers": "x"}), "its `berth observe` printed no observed state"),
    (observed({"deployment": "other"}), "it observed deployment 'other', not 'unit'"),
])
def test_a_host_that_prints_no_usable_observation_fails_saying_so(result: HostResult, message: str) -> None:
    report = observation(result, "unit")
    assert not isinstance(report, HostFacts)
    assert report.status == "failed" and message in report.message


def test_an_unreachable_host_is_named_with_the_connection_error() -> None:
    report = failure(HostResult("lab2", "unreachable", message='Task failed: Data could not be sent to remote host '
                                '"198.51.100.12". Make sure this host can be reached over ssh: ssh: connect to host '
                                "198.51.100.12 port 22: Connection timed out"), "observing it")
    assert report.status == "unreachable" and report.details == []
    assert report.message == ("unreachable while observing it: ssh: connect to host 198.51.100.12 port 22: "
                              "Connection timed out")
    other = failure(HostResult("lab2", "unreachable", message="Failed to resolve lab2\nmore"), "applying its plan")
    assert other.message == "unreachable while applying its plan: Failed to resolve lab2"


def test_an_apply_that_printed_no_json_is_still_reported_with_its_last_lines() -> None:
    report = applied(HostResult("lab1", "failed", "apply", stdout="", stderr="Traceback\nKeyError: 'x'", rc=1), None)
    assert report.status == "failed" and report.results is None
    assert report.message == "failed while applying its plan: task apply failed (exit 1): KeyError: 'x'"
    assert report.details == ["Traceback", "KeyError: 'x'"]


def test_an_apply_that_changed_nothing_is_unchanged() -> None:
    stdout = json.dumps({"host": "lab1", "results": {"ok": True, "elapsed": 0.4, "services": {
        "memcached": {"status": "cached", "message": "", "elapsed": 0.1}}}})
    report = applied(HostResult("lab1", "ok", "apply", stdout=stdout, rc=0), None)
    assert (report.status, report.message) == ("unchanged", "unchanged in 0.4s")


def test_pushing_to_the_registry_at_a_lab_address_goes_through_loopback() -> None:
    """The machine's engine trusts plain HTTP on 127.0.0.1 only; the hosts pull the same repository at .1."""
    engine = MemoryEngine()
    engine.add_image("berth/registry:zed")
    registry.start(engine, "berth/registry:zed", 4010, extra_address="198.51.100.1")
    engine.add_image("198.51.100.1:4010/berth/memcached:zed")
    engine.calls.clear()
    registry.push(engine, "198.51.100.1:4010/berth/memcached:zed")
    alias = "127.0.0.1:4010/berth/memcached:zed"
    assert engine.calls == [("tag", "198.51.100.1:4010/berth/memcached:zed", alias), ("push", alias),
                            ("remove_image", alias)]
    assert registry.push_target(engine, "127.0.0.1:4010/berth/memcached:zed") == "127.0.0.1:4010/berth/memcached:zed"
    assert registry.push_target(engine, "192.0.2.50:4010/berth/memcached:zed") == "192.0.2.50:4010/berth/memcached:zed"
    assert registry.push_target(engine, "berth/memcached:zed") == "berth/memcached:zed"


def test_observe_prints_the_hosts_state_as_the_codec_writes_it(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    engine = MemoryEngine()
    engine.add_image("berth/memcached:zed")
    engine.create_container("unit_memcached", {"image": "berth/memcached:zed"},
                            {labels.DEPLOYMENT: "unit", labels.CONTAINER: "memcached", labels.SERVICE: "memcached"})
    monkeypatch.setattr("berth.engine.connect", lambda timeout=None: engine)
    assert main(["--config-dir", "/nonexistent", "observe", "--json", "--deployment", "unit",
                 "--deployment-dir", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == OBSERVATION_VERSION and data["actual"]["deployment"] == "unit"
    assert [c["name"] for c in data["actual"]["containers"]] == ["unit_memcached"]
    assert "berth/memcached:zed" in data["actual"]["images"] and "extra" not in data
    (tmp_path / "history.json").write_text(json.dumps({"entries": [
        {"id": 1, "time": 1.0, "service": "memcached", "kind": "deploy", "containers": [
            {"key": "memcached", "name": "unit_memcached", "image": "berth/memcached:zed", "image_id": "sha256:1",
             "config_hash": "c", "spec_hash": "s", "files": {"memcached.conf": "secret-ish"}}]}]}))
    assert main(["--config-dir", "/nonexistent", "observe", "--json", "--facts", "--deployment", "unit",
                 "--deployment-dir", str(tmp_path)]) == 0
    extra = json.loads(capsys.readouterr().out)["extra"]
    assert extra["state_dir"] is True and len(extra["image_ids"]) == 1
    assert extra["history"][0]["containers"][0]["files"] == {}  # only the deployment host's transport asks for them


def test_the_summary_names_every_host_that_did_not_finish(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from berth.cli.context import AppContext
    from berth.cli.many import _finish
    from berth.errors import DeployError
    from berth.remote.deploy import HostReport, Run
    from tests.unit.threehosts import make_config_dir, three_hosts

    config = three_hosts(make_config_dir(tmp_path))
    run = Run(config, tmp_path / "multinode", timings={"observe": 1.234})
    run.reports = {"control01": HostReport("control01", "deployed", "deployed keystone in 3.0s", wave=1),
                   "compute01": HostReport("compute01", "failed", "failed while applying its plan: boom",
                                           details=["last line"], wave=2),
                   "compute02": HostReport("compute02", "unreachable", "unreachable while observing it: ssh: x")}
    app = AppContext(config_dir=tmp_path, inventory=tmp_path / "multinode", json=True)
    with pytest.raises(DeployError) as caught:
        _finish(app, run, ["control01", "compute01", "compute02"], applied=True)
    assert caught.value.message == "2 of 3 host(s) did not finish: compute01, compute02"
    assert caught.value.details == ["compute01: failed while applying its plan: boom\n    last line",
                                    "compute02: unreachable while observing it: ssh: x"]
    data = json.loads(capsys.readouterr().out)
    assert [h["host"] for h in data["hosts"]] == ["control01", "compute01", "compute02"]
    assert data["ok"] is False and data["timings"] == {"observe": 1.23}


def test_a_failed_apply_is_named_by_berths_error_line_however_long_its_details() -> None:
    stderr = "\n".join(["error: deploy failed in keystone: keystone did not become healthy",
                        *(f"  log line {n}" for n in range(30)), "hint: see `berth logs keystone`"])
    report = failure(HostResult("lab2", "failed", "apply", stderr=stderr, rc=7), "applying its plan")
    assert report.message == "failed while applying its plan: deploy failed in keystone: keystone did not become healthy"
    assert report.details == [f"log line {n}" for n in range(18, 30)]


def test_observe_leaves_the_secret_bearing_files_out_unless_asked(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    engine = MemoryEngine()
    engine.add_image("berth/memcached:zed")
    engine.create_container("unit_memcached", {"image": "berth/memcached:zed"},
                            {labels.DEPLOYMENT: "unit", labels.CONTAINER: "memcached", labels.SERVICE: "memcached",
                             labels.ROLE: "service"})
    (tmp_path / "config" / "memcached").mkdir(parents=True)
    (tmp_path / "config" / "memcached" / "memcached.conf").write_text("password = s3cret-value\n")
    monkeypatch.setattr("berth.engine.connect", lambda timeout=None: engine)
    args = ["--config-dir", "/nonexistent", "observe", "--json", "--deployment", "unit", "--deployment-dir",
            str(tmp_path)]
    assert main(args) == 0
    assert "s3cret-value" not in capsys.readouterr().out
    assert main([*args, "--with-files"]) == 0
    files = json.loads(capsys.readouterr().out)["actual"]["containers"][0]["files"]
    assert files == {"memcached.conf": "password = s3cret-value\n"}
