"""Service options (`options:` in service.yml): typed, overridable in globals.yml, validated like core keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.config import globals as globals_mod
from berth.config.globals import GlobalsBase, globals_model, option, option_owner
from berth.config.loader import validate_globals
from berth.config.yamlfile import load_mapping
from berth.errors import ConfigError
from berth.services.options import OptionDef
from berth.state.model import parse_service

MOVED = {"neutron_external_interface": "neutron", "neutron_plugin_agent": "neutron",
         "tenant_network_vni_range": "neutron", "nova_compute_virt_type": "nova", "rabbitmq_epmd_port": "rabbitmq",
         "rabbitmq_dist_port": "rabbitmq", "horizon_port": "horizon", "keystone_admin_user": "keystone",
         "keystone_admin_project": "keystone"}


def _validate(tmp_path: Path, text: str) -> tuple[GlobalsBase | None, list[str]]:
    path = tmp_path / "globals.yml"
    path.write_text(text)
    return validate_globals(load_mapping(path))


@pytest.mark.parametrize(("key", "service"), sorted(MOVED.items()))
def test_moved_keys_belong_to_their_service_not_to_the_core(key: str, service: str) -> None:
    assert key not in GlobalsBase.model_fields
    assert key in globals_model().model_fields
    assert option_owner(key) == service


def test_existing_globals_file_with_moved_keys_still_validates(tmp_path: Path) -> None:
    text = ("neutron_external_interface: eth9\ntenant_network_vni_range: '5:50'\nnova_compute_virt_type: qemu\n"
            "rabbitmq_epmd_port: 4400\nhorizon_port: 8080\nkeystone_admin_user: root\n")
    model, problems = _validate(tmp_path, text)
    assert problems == [] and model is not None
    assert model.neutron_external_interface == "eth9"  # type: ignore[attr-defined]  # attribute access works
    assert option(model, "rabbitmq_epmd_port") == 4400 and option(model, "horizon_port") == 8080
    assert option(model, "neutron_plugin_agent") == "linuxbridge"  # the default from neutron's service.yml


def test_option_of_wrong_type_is_located(tmp_path: Path) -> None:
    _, problems = _validate(tmp_path, "image_tag: zed\nrabbitmq_epmd_port: many\n")
    assert problems == [f"{tmp_path}/globals.yml:2: `rabbitmq_epmd_port`: expected an integer, got 'many'"]


def test_option_bounds_and_pattern_are_checked(tmp_path: Path) -> None:
    _, problems = _validate(tmp_path, "horizon_port: 70000\ntenant_network_vni_range: 1-1000\n")
    assert problems[0].startswith(f"{tmp_path}/globals.yml:1: `horizon_port`: expected ")
    assert "65535" in problems[0]
    assert problems[1].startswith(f"{tmp_path}/globals.yml:2: `tenant_network_vni_range`: expected a string matching")


def test_option_choices_are_listed(tmp_path: Path) -> None:
    _, [problem] = _validate(tmp_path, "neutron_plugin_agent: ovs\n")
    assert "expected one of 'linuxbridge' or 'openvswitch', got 'ovs'" in problem


def test_misspelt_option_gets_the_closest_known_key(tmp_path: Path) -> None:
    _, [problem] = _validate(tmp_path, "neutron_plugin_agnet: openvswitch\n")
    assert problem == (f"{tmp_path}/globals.yml:1: unknown key `neutron_plugin_agnet` "
                       "(did you mean `neutron_plugin_agent`?)")


def _service(tmp_path: Path, options: str) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    path = tmp_path / "service.yml"
    path.write_text(f"options:\n{options}containers:\n  web: {{image: web}}\n")
    return path


def test_option_default_of_wrong_type_is_located_in_service_yml(tmp_path: Path) -> None:
    path = _service(tmp_path, "  - {name: web_port, type: integer, default: 80, description: a}\n"
                              "  - {name: web_workers, type: integer, default: lots, description: b}\n")
    with pytest.raises(ConfigError) as err:
        parse_service(path)
    [detail] = err.value.details
    assert detail.startswith(f"{path}:3: `options.1`:") and "default 'lots' is not a valid integer" in detail


def test_unknown_option_field_is_located(tmp_path: Path) -> None:
    path = _service(tmp_path, "  - name: web_port\n    type: integer\n    defualt: 80\n    description: a\n")
    with pytest.raises(ConfigError) as err:
        parse_service(path)
    assert any(d.startswith(f"{path}:4:") and "defualt" in d for d in err.value.details)


def test_option_declared_twice_is_refused(tmp_path: Path) -> None:
    path = _service(tmp_path, "  - {name: web_port, default: a, description: a}\n"
                              "  - {name: web_port, default: b, description: b}\n")
    with pytest.raises(ConfigError) as err:
        parse_service(path)
    assert "declared twice: web_port" in err.value.details[0]


def test_constraints_must_fit_the_type() -> None:
    with pytest.raises(ValueError, match="choices need type string"):
        OptionDef(name="x", type="integer", default=1, description="d", choices=["1"])


def test_option_named_like_a_core_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    clash = OptionDef(name="image_tag", default="x", description="d")
    monkeypatch.setattr(globals_mod, "service_options", lambda: [("keystone", clash)])
    with pytest.raises(ConfigError, match="option `image_tag` is already declared by berth/config/globals.py"):
        globals_mod.globals_model.__wrapped__()
