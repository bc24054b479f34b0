"""Host plans: a value that survives JSON unchanged, refuses what is not one, and is shown masked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.cli.main import main
from berth.config.loader import load_config
from berth.errors import ConfigError
from berth.lifecycle.hostplans import host_plans
from berth.plan import hostplan
from berth.plan.codec import DecodeError, from_data, to_data
from berth.plan.model import Action, ContainerChange, FieldChange, Plan, StepChange
from berth.state.actual import ActualContainer, ActualState

INVENTORY = """\
[control]
control01 ansible_host=198.51.100.11 api_address=198.51.100.11
[network:children]
control
[compute]
compute01 ansible_host=198.51.100.12 api_address=198.51.100.12
compute02 ansible_host=198.51.100.13 api_address=198.51.100.13
[storage]
[monitoring]
[deployment]
control01
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {tmp_path}/state\n")
    (tmp_path / "multinode").write_text(INVENTORY)
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    return tmp_path


def test_every_host_plan_round_trips_through_json(config_dir: Path) -> None:
    config = load_config(config_dir, inventory_path=config_dir / "multinode")
    plans = host_plans(config)
    assert [p.host for p in plans] == ["compute01", "compute02", "control01"]
    for plan in plans:
        again = hostplan.loads(plan.dumps())
        assert again == plan
        assert [c.config_hash for c in again.desired.containers] == [c.config_hash for c in plan.desired.containers]
        assert again.dumps() == plan.dumps()


def test_a_written_plan_is_private_and_reads_back(config_dir: Path, tmp_path: Path) -> None:
    plan = host_plans(load_config(config_dir))[0]
    path = tmp_path / "plans" / "localhost.json"
    hostplan.write(plan, path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert hostplan.read(path) == plan


def test_masked_plan_holds_no_secret(config_dir: Path) -> None:
    config = load_config(config_dir)
    plan = host_plans(config)[0]
    text = json.dumps(plan.masked())
    assert plan.credentials, "registration and database steps need credentials"
    for value in config.passwords.values():
        if isinstance(value, str) and len(value) >= 8:
            assert value not in text


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ('{"version": 99}', "version 99"),
    ('[1, 2]', "version None"),
])
def test_what_is_not_a_plan_is_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        hostplan.loads(text, "plan.json")


def test_a_damaged_plan_names_the_field(config_dir: Path) -> None:
    data = host_plans(load_config(config_dir))[0].to_data()
    data["plan"]["changes"][0]["action"] = "explode"
    with pytest.raises(ConfigError, match=r"\$\.plan\.changes\[0\]\.action: 'explode' is not one of"):
        hostplan.loads(json.dumps(data), "plan.json")


def test_offline_json_names_each_host_and_runs_deployment_steps_once(config_dir: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config-dir", str(config_dir), "-i", str(config_dir / "multinode"), "--json", "deploy",
                 "--plan", "--offline"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    hosts = {h["host"]: h for h in data["hosts"]}
    assert sorted(hosts) == ["compute01", "compute02", "control01"]
    computes = {c["container"] for c in hosts["compute01"]["containers"]}
    assert "unit-nova_compute" in computes and "unit-keystone" not in computes
    assert all(c["action"] == "create" for h in hosts.values() for c in h["containers"])


# --- the codec on its own ------------------------------------------------------------------------------------------

names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12)
changes = st.builds(ContainerChange, host=names, service=names, key=names, name=names,
                    action=st.sampled_from(list(Action)), reasons=st.lists(names, max_size=3).map(tuple),
                    fields=st.lists(st.builds(FieldChange, names, names, names), max_size=2).map(tuple),
                    container_id=st.none() | names, follows=st.lists(names, max_size=2).map(tuple))
steps = st.builds(StepChange, host=names, service=names, name=names, kind=names, run=st.booleans(), reason=names)


@given(st.builds(Plan, deployment=names, services=st.lists(names, max_size=3).map(tuple),
                 changes=st.lists(changes, max_size=3).map(tuple), steps=st.lists(steps, max_size=3).map(tuple)))
def test_any_plan_survives_json(plan: Plan) -> None:
    assert from_data(Plan, json.loads(json.dumps(to_data(plan)))) == plan


def test_observed_state_round_trips_with_its_mappings() -> None:
    actual = ActualState("d", (ActualContainer(id="1", name="n", key="k", service="s", spec={"a": [1, {"b": 2}]},
                                               files={"f": "x"}, health=None),),
                         images={"r": "sha256:1"}, volumes={"v": "id"}, stamps={"s/x": "h"})
    assert from_data(ActualState, json.loads(json.dumps(to_data(actual)))) == actual


def test_wrong_types_are_located() -> None:
    with pytest.raises(DecodeError, match=r"\$\.changes\[0\]\.reasons: expected list, found str"):
        from_data(Plan, {"deployment": "d", "changes": [{"host": "h", "service": "s", "key": "k", "name": "n",
                                                         "action": "noop", "reasons": "oops"}]})
    with pytest.raises(DecodeError, match="unknown field"):
        from_data(Plan, {"deployment": "d", "extra": 1})
