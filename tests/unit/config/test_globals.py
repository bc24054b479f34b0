"""globals.yml validation: every problem located at its own line, with the expected type or closest key."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from berth.config import globals as globals_mod
from berth.config.globals import globals_model, resolved_api_address
from berth.config.loader import validate_globals
from berth.config.yamlfile import load_mapping
from berth.errors import ConfigError


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "globals.yml"
    path.write_text(text)
    model, problems = validate_globals(load_mapping(path))
    assert (model is None) == bool(problems)
    return problems


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "globals.yml"
    path.write_text("# nothing set\n")
    model, problems = validate_globals(load_mapping(path))
    assert problems == []
    assert model is not None
    assert model.network_interface == "lo"
    assert model.api_address is None
    assert model.base_distro_release == "trixie"
    assert model.nova_compute_virt_type == "auto"
    assert (model.openstack_release, model.image_tag) == ("epoxy", "epoxy")


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    model, problems = validate_globals(load_mapping(tmp_path / "globals.yml"))
    assert problems == [] and model is not None and model.image_namespace == "berth"


def test_set_values_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "globals.yml"
    path.write_text("image_tag: 'zed-1'\nnova_compute_virt_type: qemu\n")
    model, _ = validate_globals(load_mapping(path))
    assert model is not None and model.image_tag == "zed-1" and model.nova_compute_virt_type == "qemu"


def test_unknown_key_names_line_and_closest_key(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "image_tag: zed\nnetwork_interfce: eth0\n")
    assert problems == [(f"{tmp_path}/globals.yml:2: unknown key `network_interfce` "
                        "(did you mean `network_interface`?)")]


def test_unknown_key_without_close_match(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path, "zzzzzz: 1\n")
    assert problem.startswith(f"{tmp_path}/globals.yml:1: unknown key `zzzzzz`")
    assert "docs/configuration.md" in problem


def test_wrong_type_names_expected_type_and_value(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path, "image_tag: zed\n\ndocker_registry_insecure: maybe\n")
    assert problem == (f"{tmp_path}/globals.yml:3: `docker_registry_insecure`: expected a boolean "
                       "(true or false), got 'maybe'")


def test_literal_lists_the_choices(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path, "nova_compute_virt_type: kvmm\n")
    assert ":1: `nova_compute_virt_type`: expected one of 'auto', 'kvm' or 'qemu', got 'kvmm'" in problem


def test_number_for_string_suggests_quoting(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path, "image_tag: 2023\n")
    assert ":1: `image_tag`: expected a string" in problem and "quote" in problem and "got 2023" in problem


def test_nested_key_is_located_at_its_own_line(tmp_path: Path) -> None:
    text = "image_packages:\n  keystone:\n    append: [vim]\n    appendd: [x]\n  glance:\n    remove: 3\n"
    problems = _problems(tmp_path, text)
    assert problems == [
        f"{tmp_path}/globals.yml:4: unknown key `image_packages.keystone.appendd` (did you mean `append`?)",
        f"{tmp_path}/globals.yml:6: `image_packages.glance.remove`: expected a list, got 3",
    ]


def test_all_problems_reported_sorted_by_line(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "registry_port: 0\nimage_tag: [1]\napi_address: not-an-ip\n")
    assert [p.split(":")[1] for p in problems] == ["1", "2", "3"]
    assert "greater than or equal to 1" in problems[0]
    assert "an IP address" in problems[2]


def test_malformed_yaml_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "globals.yml"
    path.write_text("image_tag: zed\nnetwork_interface: eth0: x\n")
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert info.value.message == f"{path}:2:24: malformed YAML: mapping values are not allowed here"
    assert info.value.hint and "syntax" in info.value.hint


def test_unclosed_quote_names_where_it_started(tmp_path: Path) -> None:
    path = tmp_path / "globals.yml"
    path.write_text("image_tag: zed\nnetwork_interface: 'lo\n")
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert f"started at {path}:2:20" in info.value.message


def test_bad_indentation_position(tmp_path: Path) -> None:
    path = tmp_path / "globals.yml"
    path.write_text("a: 1\n b: 2\n")
    with pytest.raises(ConfigError, match=r"globals.yml:2:3: malformed YAML"):
        load_mapping(path)


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    path = tmp_path / "globals.yml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"globals.yml:1: expected a mapping"):
        load_mapping(path)


def test_api_address_default_is_loopback_address() -> None:
    assert resolved_api_address(globals_model()()) == "127.0.0.1"


def test_api_address_explicit_wins() -> None:
    model = globals_model()(api_address="192.0.2.7", network_interface="does-not-exist0")
    assert resolved_api_address(model) == "192.0.2.7"


def test_missing_interface_names_the_key() -> None:
    model = globals_model()(network_interface="nosuch0")
    with pytest.raises(ConfigError, match=r"network_interface: interface `nosuch0` does not exist") as info:
        resolved_api_address(model)
    assert info.value.hint and "api_address" in info.value.hint


def test_interface_without_ipv4(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_address(name: str) -> str:
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    monkeypatch.setattr(globals_mod, "interface_ipv4", no_address)
    with pytest.raises(ConfigError, match="interface `eth9` has no IPv4 address"):
        resolved_api_address(globals_model()(network_interface="eth9"))
