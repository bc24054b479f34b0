"""The tempest container's JSON lines folded into counts, failures and the final report."""

from __future__ import annotations

import json

from berth.lifecycle.verify import Selection, config_files
from berth.lifecycle.verify_results import Tally, report_lines, summary


def line(**record: object) -> str:
    return json.dumps(record)


def run(*lines: str) -> Tally:
    tally = Tally()
    for text in lines:
        tally.add(text)
    return tally


PASS = line(event="test", id="tempest.api.a.T.test_one[id-1,smoke]", status="success", seconds=1.5, reason="")
SKIP = line(event="test", id="tempest.api.a.T.test_two[id-2]", status="skip", seconds=0.0, reason="no swift")
FAIL = line(event="test", id="tempest.api.b.U.test_three[id-3,smoke]", status="fail", seconds=2.0,
            reason="Traceback (most recent call last):\n  File x\nAssertionError: 404 != 200")


def test_counts_and_progress() -> None:
    tally = run(line(event="listed", count=3), "a warning from tempest", PASS, SKIP, FAIL, line(event="end", code=1))
    assert (tally.count("passed"), tally.count("failed"), tally.count("skipped")) == (1, 1, 1)
    assert tally.progress() == "3/3 tests: 1 passed, 1 failed, 1 skipped"
    assert tally.exit_code == 1
    assert tally.other == ["a warning from tempest"]


def test_failures_are_named_with_the_reasons_last_lines() -> None:
    result = summary(run(PASS, FAIL, line(event="end", code=1)), "--smoke", 12.34, "/state/verify/x")
    assert not result.ok
    assert result.failures == [{"id": "tempest.api.b.U.test_three",
                                "reason": "Traceback (most recent call last):\n  File x\nAssertionError: 404 != 200"}]
    text = "\n".join(report_lines(result, reason_lines=2))
    assert "FAILED in 12s — 1 passed, 1 failed, 0 skipped" in text
    assert "  FAILED tempest.api.b.U.test_three" in text
    assert "AssertionError: 404 != 200" in text and "Traceback" not in text
    assert text.endswith("results: /state/verify/x")


def test_passed_needs_a_test_and_a_clean_exit() -> None:
    assert summary(run(PASS, SKIP, line(event="end", code=0)), "--smoke", 1).ok
    assert not summary(run(SKIP, line(event="end", code=0)), "--smoke", 1).ok  # nothing ran
    assert not summary(run(PASS, line(event="end", code=1)), "--smoke", 1).ok  # tempest itself failed
    assert "no test ran" in report_lines(summary(run(line(event="end", code=1)), "--regex x", 1))[1]


def test_unexpected_success_counts_as_failure() -> None:
    tally = run(line(event="test", id="t.x", status="uxsuccess", seconds=None, reason=""))
    assert tally.count("failed") == 1


def test_config_dir_follows_the_image_contract_and_keeps_tempest_conf_private() -> None:
    files = config_files("[auth]\nadmin_password = x\n", None, Selection(smoke=True), 3)
    spec = json.loads(files["config.json"])
    assert spec["user"] == "tempest"
    assert spec["command"][-2:] == ["3", "--smoke"]
    conf = next(f for f in spec["files"] if f["source"] == "tempest.conf")
    assert (conf["dest"], conf["owner"], conf["mode"]) == ("/etc/tempest/tempest.conf", "tempest", "0600")
    assert "berth-tempest-run.py" in files and "ca.crt" not in files


def test_selection_arguments() -> None:
    assert Selection(smoke=True).args() == ["--smoke"]
    assert Selection(regex="^tempest.api.identity", exclude="boot").args() == [
        "--regex", "^tempest.api.identity", "--exclude-regex", "boot"]
    assert Selection().args() == []


def test_known_exclusions_per_release_compile_and_join_the_operators() -> None:
    import re

    from berth.lifecycle.verify import exclusions

    zed, epoxy = exclusions("zed"), exclusions("epoxy")
    assert len(zed) > len(epoxy) >= 1 and all(e.why for e in zed)
    for item in zed:
        re.compile(item.test)
    joined = Selection(smoke=True, exclude="mine").excluding(zed)
    assert joined.smoke and joined.exclude is not None and joined.exclude.startswith("(?:mine)|")
    assert re.search(joined.exclude, "tempest.scenario.test_network_basic_ops.TestNetworkBasicOps.test_x[id-1]")
    assert Selection(regex="x").excluding([]) == Selection(regex="x")
