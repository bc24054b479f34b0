"""Glance's `glance_backend` option: the file store by default (as before), Ceph's `images` pool with `rbd`
(client.glance's keyring 0600, ceph.conf from the ceph service's exports), Swift's `glance` container with `swift`
(the glance user's credentials in a 0600 file), a configuration error without the service the value needs, and
HAProxy's active/backup balancing only while the store is per host.

Pure: no engine, TEST-NET addresses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.config.loader import load_config
from berth.errors import ConfigError
from berth.lifecycle import wiring
from berth.lifecycle.render import render_desired
from berth.state.desired import DesiredContainer
from tests.unit.services import rendering
from tests.unit.services.rendering import ini

RBD = "enable_ceph: true\nglance_backend: rbd\n"
HA = "internal_vip_address: 198.51.100.100\nenable_haproxy: true\nenable_keepalived: true\n"
INVENTORY = """\
[control]
control01 ansible_host=198.51.100.11
control02 ansible_host=198.51.100.12
[network:children]
control
[compute]
compute01 ansible_host=198.51.100.21
[storage]
storage01 ansible_host=198.51.100.31
[monitoring]
[deployment]
control01
"""


def config_dir(root: Path, extra: str, inventory: bool = False) -> Path:
    return rendering.config_dir(root, extra, INVENTORY if inventory else "")


def glance_api(root: Path) -> DesiredContainer:
    found = render_desired(load_config(root), {}, pins={}).container("glance_api")
    assert found is not None
    return found


def files_json(item: DesiredContainer) -> dict[str, dict[str, str]]:
    return {f["dest"]: f for f in json.loads(item.files["config.json"])["files"]}


def test_the_file_store_is_the_default_and_renders_as_before(tmp_path: Path) -> None:
    api = glance_api(config_dir(tmp_path, "enable_ceph: true\n"))
    conf = ini(api.files["glance-api.conf"])
    assert conf["DEFAULT"]["enabled_backends"] == "file:file"
    assert conf["DEFAULT"]["show_image_direct_url"] == "false"
    assert conf["glance_store"]["default_backend"] == "file"
    assert conf["file"]["filesystem_store_datadir"] == "/var/lib/glance/images/"
    assert not conf.has_section("rbd")
    assert not {"ceph.conf", "ceph.client.glance.keyring", "glance-swift.conf"} & set(api.files)


def test_rbd_stores_images_in_the_images_pool_as_client_glance(tmp_path: Path) -> None:
    root = config_dir(tmp_path, RBD)
    api = glance_api(root)
    config = load_config(root)
    conf = ini(api.files["glance-api.conf"])
    assert conf["DEFAULT"]["enabled_backends"] == "rbd:rbd"
    assert conf["DEFAULT"]["show_image_direct_url"] == "true"  # Cinder clones volumes from the image's location
    assert conf["glance_store"]["default_backend"] == "rbd"
    rbd = conf["rbd"]
    assert (rbd["rbd_store_pool"], rbd["rbd_store_user"], rbd["rbd_store_ceph_conf"]) == (
        "images", "glance", "/etc/ceph/ceph.conf")
    assert not conf.has_section("file")
    key = config.passwords["ceph_client_glance_key"]
    assert api.files["ceph.client.glance.keyring"] == f"[client.glance]\n    key = {key}\n"
    assert key not in api.files["glance-api.conf"] and key not in api.files["ceph.conf"]
    ceph = ini(api.files["ceph.conf"])
    assert ceph["global"]["fsid"] == config.passwords["ceph_fsid"]
    assert ceph["global"]["mon_host"] == "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]"
    modes = {dest: (f["mode"], f["owner"]) for dest, f in files_json(api).items()}
    assert modes["/etc/ceph/ceph.client.glance.keyring"] == ("0600", "glance")
    assert modes["/etc/ceph/ceph.conf"] == ("0644", "glance")


def test_rbd_without_ceph_is_a_configuration_error_naming_the_key_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, "glance_backend: rbd\n"))
    assert "globals.yml: glance_backend: rbd requires ceph; set enable_ceph: true or glance_backend: file" in (
        info.value.details)


def test_an_unknown_backend_is_refused_with_the_choices(tmp_path: Path) -> None:
    (tmp_path / "globals.yml").write_text("glance_backend: s3\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert any("glance_backend" in p and "'file'" in p and "'rbd'" in p and "'swift'" in p
               for p in info.value.details), info.value.details


def test_swift_stores_images_in_the_glance_container_as_the_glance_user(tmp_path: Path) -> None:
    root = config_dir(tmp_path, "enable_swift: true\nglance_backend: swift\n")
    api = glance_api(root)
    conf = ini(api.files["glance-api.conf"])
    assert conf["DEFAULT"]["enabled_backends"] == "swift:swift"
    assert conf["glance_store"]["default_backend"] == "swift"
    swift = conf["swift"]
    assert (swift["swift_store_container"], swift["swift_store_create_container_on_put"],
            swift["swift_store_multi_tenant"]) == ("glance", "true", "false")
    assert (swift["default_swift_reference"], swift["swift_store_config_file"]) == (
        "berth", "/etc/glance/glance-swift.conf")
    assert swift["swift_store_endpoint_type"] == "internalURL"
    assert not {"file", "rbd"} & set(conf.sections())
    password = load_config(root).passwords["glance_keystone_password"]
    ref = ini(api.files["glance-swift.conf"])["berth"]
    assert (ref["auth_address"], ref["user"], ref["key"], ref["auth_version"]) == (
        "http://127.0.0.1:5000/v3", "service:glance", password, "3")
    assert password not in api.files["glance-api.conf"].split("[keystone_authtoken]")[0]
    assert files_json(api)["/etc/glance/glance-swift.conf"]["mode"] == "0600"
    assert not {"ceph.conf", "ceph.client.glance.keyring"} & set(api.files)


def test_swift_without_swift_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, "glance_backend: swift\n"))
    assert "globals.yml: glance_backend: swift requires swift; set enable_swift: true or glance_backend: file" in (
        info.value.details)


@pytest.mark.parametrize(("extra", "active_backup"), [("enable_ceph: true\n", True), (RBD, False),
                                                      ("enable_swift: true\nglance_backend: swift\n", False)])
def test_haproxy_balances_glance_over_every_controller_only_with_a_shared_store(
        tmp_path: Path, extra: str, active_backup: bool) -> None:
    root = config_dir(tmp_path, extra + HA, inventory=True)
    config = load_config(root, inventory_path=root / "multinode")
    [frontend] = [fe for fe in wiring.loadbalancer(config) if fe["service"] == "glance"]
    assert frontend["active_backup"] is active_backup
    assert [b["name"] for b in frontend["backends"]] == ["control01", "control02"]
    keystone = next(fe for fe in wiring.loadbalancer(config) if fe["service"] == "keystone")
    assert keystone["active_backup"] is False


def test_a_value_an_option_requires_must_be_one_of_its_choices() -> None:
    from berth.services.options import OptionDef

    with pytest.raises(ValueError, match="not among its choices"):
        OptionDef(name="x_backend", choices=["file", "rbd"], default="file", description="d",
                  requires={"s3": ["swift"]})


def test_service_users_carry_keystones_service_role(tmp_path: Path) -> None:
    """Nova calls Cinder with the user's token and its own service token; Cinder's keystonemiddleware
    (service_token_roles_required) refused such calls with 401 until the service users had the `service` role."""
    desired = render_desired(load_config(config_dir(tmp_path, "enable_ceph: true\nenable_cinder: true\n")), {},
                             pins={})
    keystone = next(s for s in desired.steps_of("keystone") if s.kind == "register")
    assert "service" in keystone.payload["roles"]
    for name in ("glance", "nova", "cinder", "neutron", "placement"):
        register = next(s for s in desired.steps_of(name) if s.kind == "register")
        assert all(u["roles"] == ["admin", "service"] for u in register.payload["users"]), register.payload["users"]
