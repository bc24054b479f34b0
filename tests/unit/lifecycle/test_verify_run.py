"""The tempest container's life on the in-memory engine: its lines followed, removed after, one run at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.config.globals import globals_model
from berth.config.loader import Config
from berth.engine.memory import MemoryEngine
from berth.errors import BerthError
from berth.lifecycle import verify
from berth.lifecycle.verify_results import Tally

REF = "berth/tempest:epoxy"


def config(tmp_path: Path) -> Config:
    return Config(tmp_path, globals_model()(api_address="127.0.0.9", deployment_name="bunit",
                                            state_dir=str(tmp_path / "state")))


def lines(*records: dict[str, object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_the_container_output_is_followed_and_the_container_removed(tmp_path: Path) -> None:
    engine = MemoryEngine()
    engine.add_image(REF)
    engine.logs_by_image[REF] = "tempest warns\n" + lines(
        {"event": "listed", "count": 2},
        {"event": "test", "id": "tempest.api.a.T.test_a[id-1,smoke]", "status": "success", "seconds": 1.0},
        {"event": "test", "id": "tempest.api.a.T.test_b[id-2,smoke]", "status": "fail", "reason": "boom"},
        {"event": "end", "code": 1})
    engine.crash[REF] = 0  # it exits as soon as it started: everything is in its log already
    seen: list[str] = []
    tally = Tally()
    verify._run_container(engine, config(tmp_path), tally, lambda t, r: seen.append(t.progress()), timeout=60)
    assert (tally.count("passed"), tally.count("failed"), tally.exit_code) == (1, 1, 1)
    assert seen[-1] == "2/2 tests: 1 passed, 1 failed, 0 skipped"
    assert engine.container("bunit-tempest-verify") is None
    created = next(c for c in engine.calls if c[0] == "create")
    assert created[1:] == ("bunit-tempest-verify", REF)


def test_a_second_run_of_the_same_deployment_is_refused(tmp_path: Path) -> None:
    engine = MemoryEngine()
    engine.add_image(REF)
    running = engine.create_container("bunit-tempest-verify", {"image": REF}, {})
    engine.start(running.id)
    with pytest.raises(BerthError, match="another `berth verify` of deployment `bunit` is running"):
        verify.refuse_concurrent_run(engine, config(tmp_path))
    engine.stop(running.id, 1)
    verify.refuse_concurrent_run(engine, config(tmp_path))  # an exited one is an interrupted run's: fine
