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
