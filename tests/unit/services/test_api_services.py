"""The Glance, Placement, Heat and Horizon definitions parse, and their rendered files are what the programs read.

Rendering needs no engine: a throw-away config directory with generated passwords is enough.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.lifecycle.render import render_desired
from berth.services.registry import enable_key, service_dirs, service_names
from berth.state.desired import DesiredState
from berth.state.model import parse_service

MINE = ("glance", "placement", "heat", "horizon")
NEEDED = ("mariadb", "rabbitmq", "memcached", "keystone", *MINE)
ADDRESS = "127.0.0.42"


@pytest.fixture(scope="module")
def desired(tmp_path_factory: pytest.TempPathFactory) -> DesiredState:
    root = tmp_path_factory.mktemp("render")
    switches = "".join(f"{enable_key(n)}: {'true' if n in NEEDED else 'false'}\n" for n in service_names())
    (root / "globals.yml").write_text(f"deployment_name: berthunit\napi_address: {ADDRESS}\n"
                                      f"state_dir: {root / 'state'}\nlog_dir: {root / 'log'}\n{switches}")
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return render_desired(load_config(Path(root)), {})


def files_of(desired: DesiredState, key: str) -> dict[str, str]:
    return next(c.files for c in desired.containers if c.key == key)


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(text)
    return parser


def uwsgi_ini(text: str) -> dict[str, list[str]]:
    """uwsgi's INI repeats keys (mount, static-map): every value of each key, in order."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize("service", MINE)
def test_definition_parses(service):
    definition = parse_service(service_dirs()[service] / "service.yml")
    assert "keystone" in definition.depends_on
    assert all(p.port for p in definition.ports)


@pytest.mark.parametrize(("key", "name", "port"), [("glance_api", "glance-api.conf", "9292")])
def test_glance_binds_the_api_address_and_uses_the_file_store(desired, key, name, port):
    conf = ini(files_of(desired, key)[name])
    assert conf["DEFAULT"]["bind_host"] == ADDRESS and conf["DEFAULT"]["bind_port"] == port
    assert conf["glance_store"]["default_backend"] == "file"
    assert conf["file"]["filesystem_store_datadir"] == "/var/lib/glance/images/"
    assert conf["keystone_authtoken"]["password"]


@pytest.mark.parametrize(("key", "ini_name", "port"), [
    ("placement_api", "placement-uwsgi.ini", "8778"),
    ("heat_api", "heat-api-uwsgi.ini", "8004"),
    ("heat_api_cfn", "heat-api-cfn-uwsgi.ini", "8000"),
    ("horizon", "horizon-uwsgi.ini", "80"),
])
def test_wsgi_servers_listen_on_the_api_address_only(desired, key, ini_name, port):
    conf = uwsgi_ini(files_of(desired, key)[ini_name])
    if "shared-socket" in conf:  # bound as root before the drop to an unprivileged user
        assert conf["shared-socket"] == [f"{ADDRESS}:{port}"] and conf["http-socket"] == ["=0"]
    else:
        assert conf["http-socket"] == [f"{ADDRESS}:{port}"]
    assert conf["add-header"] == ["Connection: close"]  # uwsgi closes connections; clients must not reuse them
    assert conf["processes"] == ["1"]  # openstack_service_workers defaults to 1


def test_horizon_is_served_under_debians_webroot(desired):
    """Debian's settings (WEBROOT=/horizon) and its offline-compressed assets expect the app at /horizon."""
    conf = uwsgi_ini(files_of(desired, "horizon")["horizon-uwsgi.ini"])
    assert conf["mount"] == ["/=/etc/openstack-dashboard/berth-redirect.py",
                             "/horizon=/usr/share/openstack-dashboard/wsgi.py"]
    assert conf["manage-script-name"] == ["true"]
    assert "berth-redirect.py" in files_of(desired, "horizon")


def test_heat_key_has_a_length_heat_accepts(desired):
    conf = ini(files_of(desired, "heat_engine")["heat.conf"])
    assert len(conf["DEFAULT"]["auth_encryption_key"]) == 32
    assert conf["DEFAULT"]["stack_user_domain_name"] == "heat"
    assert conf["DEFAULT"]["num_engine_workers"] == "1"


def test_heat_domain_step_is_valid_python(desired):
    step = next(s for s in desired.steps if s.service == "heat" and s.name == "domain-setup")
    assert step.container is not None
    ast.parse(step.container.files["berth-heat-domain.py"])


def test_horizon_settings_are_valid_python_with_shared_sessions(desired):
    files = files_of(desired, "horizon")
    settings = files["local_settings.py"]
    ast.parse(settings)
    assert f'OPENSTACK_HOST = "{ADDRESS}"' in settings
    assert f'"{ADDRESS}"' in settings.split("ALLOWED_HOSTS", 1)[1].splitlines()[0]
    snippet = files["_9999_berth.py"]
    ast.parse(snippet)
    assert f"{ADDRESS}:11211" in snippet and "PyMemcacheCache" in snippet
