"""Rendering the shipped services from a configuration: names, hashes, secrets, overrides, steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.config.loader import load_config
from berth.lifecycle.render import container_name, readable_files, render_desired
from berth.services.registry import enable_key, service_names

INFRA = ("mariadb", "rabbitmq", "memcached", "keystone")
IMAGES = {f"berth/{s}:epoxy": f"sha256:{s}" for s in INFRA}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    from berth.cli.main import main

    others = "".join(f"{enable_key(n)}: false\n" for n in service_names() if n not in INFRA)
    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {tmp_path}/state\n{others}")
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    return tmp_path


def render(config_dir: Path, images=IMAGES):
    return render_desired(load_config(config_dir), images)


def test_container_names():
    assert container_name("berth", "keystone") == "keystone"
    assert container_name("it", "keystone") == "it-keystone"


def test_infra_and_keystone_render(config_dir):
    desired = render(config_dir)
    assert sorted(c.key for c in desired.containers) == sorted(INFRA)
    keystone = desired.container("keystone")
    assert keystone is not None and keystone.name == "unit-keystone"
    assert keystone.image_id == "sha256:keystone"
    assert keystone.spec["network_mode"] == "host"
    config = json.loads(keystone.files["config.json"])
    assert config["user"] == "keystone" and config["log_file"] == "/var/log/berth/keystone/keystone.log"
    assert "127.0.0.1:5000" in keystone.files["keystone-uwsgi.ini"]
    assert {u.name: u.depends_on for u in desired.services}["keystone"] == ("mariadb", "memcached")


def test_rendering_is_deterministic(config_dir):
    first, second = render(config_dir), render(config_dir)
    assert [c.config_hash for c in first.containers] == [c.config_hash for c in second.containers]
    assert [s.base for s in first.steps] == [s.base for s in second.steps]


def test_secrets_reach_files_and_are_known_for_masking(config_dir):
    desired = render(config_dir)
    keystone = desired.container("keystone")
    assert keystone is not None
    password = load_config(config_dir).passwords["keystone_database_password"]
    assert password in keystone.files["keystone.conf"]
    assert password in desired.secrets


def test_override_changes_only_the_containers_reading_it(config_dir):
    before = {c.key: c.config_hash for c in render(config_dir).containers}
    override = config_dir / "config" / "keystone" / "keystone.conf"
    override.parent.mkdir(parents=True)
    override.write_text("[DEFAULT]\ndebug = true\n")
    desired = render(config_dir)
    after = {c.key: c.config_hash for c in desired.containers}
    assert [k for k in after if after[k] != before[k]] == ["keystone"]
    keystone = desired.container("keystone")
    assert keystone is not None and "debug = true" in keystone.files["keystone.conf"]


def test_missing_image_has_no_id(config_dir):
    desired = render(config_dir, images={})
    assert all(c.image_id is None for c in desired.containers)


def test_steps_in_order_with_volumes(config_dir):
    desired = render(config_dir)
    keystone = [(s.name, s.kind, s.phase) for s in desired.steps_of("keystone")]
    assert keystone == [("database-keystone", "database", "before"), ("key-setup", "oneshot", "before"),
                        ("key-share", "oneshot", "before"),
                        ("db-sync", "oneshot", "before"), ("bootstrap", "oneshot", "before"),
                        ("keystone-register", "register", "after")]
    sync = next(s for s in desired.steps if s.name == "db-sync")
    assert sync.stamp_volumes == ("unit_mariadb",)
    assert sync.container is not None and sync.container.spec["restart"] == "no"
    assert json.loads(sync.container.files["config.json"])["command"] == ["keystone-manage", "db_sync"]


def test_readable_files_lists_override_targets(config_dir):
    files = readable_files(load_config(config_dir))
    assert ("keystone", "keystone", "keystone.conf") in files
    assert ("mariadb", "mariadb", "berth.cnf") in files


def test_privsep_preload_reaches_the_agents_config_json_but_not_their_steps(tmp_path):
    from berth.cli.main import main

    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {tmp_path}/state\n")
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    desired = render(tmp_path, images={})
    preload = {c.key: json.loads(c.files["config.json"]).get("privsep_preload") for c in desired.containers}
    assert preload["neutron_l3_agent"] == ["neutron.privileged"]
    assert preload["nova_compute"] == ["nova.privsep", "vif_plug_ovs"]  # epoxy: os-vif's ovs plugin
    assert preload["keystone"] is None
    for step in desired.steps:
        if step.container is not None:
            assert "privsep_preload" not in json.loads(step.container.files["config.json"]), step.name


@pytest.mark.parametrize(("flag", "kept"), [(True, ["keystone.conf", "keystone-uwsgi.ini"]),
                                            (False, ["keystone.conf", "berth-keys.sh"])])
def test_a_config_file_with_when_is_written_only_when_it_renders_true(config_dir, flag, kept):
    from berth.lifecycle.render import Renderer
    from berth.state.model import ConfigFile, load_service

    service = load_service("keystone")
    items = [ConfigFile(template="keystone.conf.j2", dest="/etc/a"),
             ConfigFile(template="keystone-uwsgi.ini.j2", dest="/etc/b", when="{{ flag }}"),
             ConfigFile(template="berth-keys.sh.j2", dest="/etc/c", when="{{ not flag }}"),
             ConfigFile(template="berth-bootstrap.sh.j2", dest="/etc/d", when="{{ 'no' }}")]
    definition = service.containers["keystone"].model_copy(update={"config": items})
    renderer = Renderer(load_config(config_dir), {}, "localhost")
    renderer.base_context["flag"] = flag
    container = renderer._container(service, "keystone", definition)
    assert sorted(container.files) == sorted([*kept, "config.json"])
    assert [f["source"] for f in json.loads(container.files["config.json"])["files"]] == kept
