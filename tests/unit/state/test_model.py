"""service.yml validation: every shipped service parses; mistakes are located."""

from __future__ import annotations

import pytest

from berth.errors import ConfigError
from berth.state.model import deployable_services, load_service, parse_service


@pytest.mark.parametrize("name", deployable_services())
def test_shipped_service_definitions_are_valid(name):
    service = load_service(name)
    assert service.containers


def test_unknown_key_is_located(tmp_path):
    (tmp_path / "templates").mkdir()
    path = tmp_path / "service.yml"
    path.write_text("containers:\n  web:\n    image: web\n    comand: [x]\n")
    with pytest.raises(ConfigError) as err:
        parse_service(path)
    assert any("service.yml:4" in d and "comand" in d for d in err.value.details)


def test_step_naming_an_unknown_container_is_refused(tmp_path):
    (tmp_path / "templates").mkdir()
    path = tmp_path / "service.yml"
    path.write_text("containers:\n  web: {image: web}\nsteps:\n  - {name: sync, container: wbe, command: x}\n")
    with pytest.raises(ConfigError) as err:
        parse_service(path)
    assert "unknown container `wbe`" in err.value.details[0]


def test_missing_template_is_refused(tmp_path):
    (tmp_path / "templates").mkdir()
    path = tmp_path / "service.yml"
    path.write_text("containers:\n  web:\n    image: web\n    config: [{template: web.conf.j2, dest: /etc/w}]\n")
    with pytest.raises(ConfigError) as err:
        parse_service(path)
    assert "web.conf.j2" in err.value.details[0]


def test_shared_templates_are_found(tmp_path):
    (tmp_path / "templates").mkdir()
    path = tmp_path / "service.yml"
    path.write_text("containers:\n  web:\n    image: web\n"
                    "    config: [{template: berth-rpc-health.py.j2, dest: /usr/local/bin/berth-rpc-health}]\n")
    assert parse_service(path).containers["web"].config[0].name == "berth-rpc-health.py"


def test_missing_template_names_both_folders(tmp_path):
    (tmp_path / "templates").mkdir()
    path = tmp_path / "service.yml"
    path.write_text("containers:\n  web:\n    image: web\n    config: [{template: nope.j2, dest: /etc/w}]\n")
    with pytest.raises(ConfigError) as err:
        parse_service(path)
    assert "_shared/templates" in err.value.details[0]


def test_exports_need_template_variable_names(tmp_path):
    (tmp_path / "templates").mkdir()
    path = tmp_path / "service.yml"
    path.write_text("exports:\n  web-url: http://x\ncontainers:\n  web: {image: web}\n")
    with pytest.raises(ConfigError) as err:
        parse_service(path)
    assert err.value.details[0].startswith(f"{path}:1:") and "web-url" in err.value.details[0]


def test_port_names_are_unique(tmp_path):
    (tmp_path / "templates").mkdir()
    path = tmp_path / "service.yml"
    path.write_text("ports:\n  - {name: api, port: 80, container: web}\n  - {name: api, port: 81, container: web}\n"
                    "containers:\n  web: {image: web}\n")
    with pytest.raises(ConfigError) as err:
        parse_service(path)
    assert "port name(s) used twice: api" in err.value.details[0]


def test_named_ports_are_numbers(tmp_path):
    (tmp_path / "templates").mkdir()
    path = tmp_path / "service.yml"
    path.write_text("ports:\n  - {name: api, port: 80, container: web}\n  - {name: alt, port: '{{ base + 1 }}', "
                    "container: web}\n  - {port: 99, container: web}\ncontainers:\n  web: {image: web}\n")
    assert parse_service(path).port_numbers({"base": 8000}) == {"api": 80, "alt": 8001}
