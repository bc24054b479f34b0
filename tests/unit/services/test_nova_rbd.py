"""Nova's `nova_backend` option: the servers' disks as files in the instances volume by default (nova.conf as
before), or RBD images in Ceph's `vms` pool as client.nova with `rbd` (its keyring and libvirt secret 0600, root
only; the secret defined before nova-compute starts), a configuration error without Ceph.

Pure: no engine, TEST-NET addresses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.config.loader import load_config
from berth.errors import ConfigError
from berth.lifecycle.render import render_desired
from berth.state.desired import DesiredContainer
from tests.unit.services.rendering import config_dir, ini

COMMAND = ["nova-compute", "--config-file", "/etc/nova/nova.conf"]
WITH_SECRETS = ["/bin/sh", "/etc/nova/berth-libvirt-secrets.sh", *COMMAND]
CEPH_FILES = {"ceph.conf", "ceph.client.nova.keyring", "libvirt-secret-nova.xml", "ceph-client-nova.key"}


def nova_compute(root: Path) -> DesiredContainer:
    found = render_desired(load_config(root), {}, pins={}).container("nova_compute")
    assert found is not None
    return found


def config_json(item: DesiredContainer) -> dict[str, object]:
    data: dict[str, object] = json.loads(item.files["config.json"])
    return data


def test_local_is_the_default_and_nova_conf_names_no_rbd(tmp_path: Path) -> None:
    compute = nova_compute(config_dir(tmp_path, "enable_ceph: true\n"))
    libvirt = ini(compute.files["nova.conf"])["libvirt"]
    assert not {"images_type", "images_rbd_pool", "rbd_user", "rbd_secret_uuid"} & set(libvirt)
    assert config_json(compute)["command"] == COMMAND
    assert not CEPH_FILES & set(compute.files)


def test_rbd_puts_the_disks_in_the_vms_pool_as_client_nova(tmp_path: Path) -> None:
    root = config_dir(tmp_path, "enable_ceph: true\nnova_backend: rbd\n")
    passwords = load_config(root).passwords
    compute = nova_compute(root)
    libvirt = ini(compute.files["nova.conf"])["libvirt"]
    assert (libvirt["images_type"], libvirt["images_rbd_pool"], libvirt["images_rbd_ceph_conf"]) == (
        "rbd", "vms", "/etc/ceph/ceph.conf")
    uuid = passwords["nova_rbd_secret_uuid"]
    assert (libvirt["rbd_user"], libvirt["rbd_secret_uuid"]) == ("nova", uuid)
    key = passwords["ceph_client_nova_key"]
    assert compute.files["ceph.client.nova.keyring"] == f"[client.nova]\n    key = {key}\n"
    assert compute.files["ceph-client-nova.key"] == key
    assert f"<uuid>{uuid}</uuid>" in compute.files["libvirt-secret-nova.xml"]
    assert "<name>client.nova secret</name>" in compute.files["libvirt-secret-nova.xml"]
    ceph = ini(compute.files["ceph.conf"])["global"]
    assert (ceph["fsid"], ceph["mon_host"]) == (passwords["ceph_fsid"], "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]")
    assert not any(key in compute.files[name] for name in ("nova.conf", "ceph.conf", "berth-libvirt-secrets.sh"))
    # without Cinder only client.nova's secret is defined, before nova-compute starts
    assert config_json(compute)["command"] == WITH_SECRETS
    script = compute.files["berth-libvirt-secrets.sh"]
    assert f"secret-set-value --secret {uuid} --file /etc/nova/berth-secrets/nova.key" in script
    assert "cinder" not in script.split("set -eu")[1] and "libvirt-secret-cinder.xml" not in compute.files
    modes = {f["dest"]: (f["mode"], f["owner"]) for f in config_json(compute)["files"]}  # type: ignore[attr-defined]
    for secret in ("/etc/ceph/ceph.client.nova.keyring", "/etc/nova/berth-secrets/nova.key",
                   "/etc/nova/berth-secrets/nova.xml"):
        assert modes[secret] == ("0600", "root"), secret


def test_rbd_with_cinder_defines_both_secrets_and_nova_uses_its_own(tmp_path: Path) -> None:
    root = config_dir(tmp_path, "enable_ceph: true\nenable_cinder: true\nnova_backend: rbd\n")
    passwords = load_config(root).passwords
    compute = nova_compute(root)
    script = compute.files["berth-libvirt-secrets.sh"]
    for client in ("cinder", "nova"):
        uuid = passwords[f"{client}_rbd_secret_uuid"]
        assert f"secret-set-value --secret {uuid} --file /etc/nova/berth-secrets/{client}.key" in script
    # Cinder's attachments carry client.cinder and its secret themselves; nova.conf's pair is for its own disks
    libvirt = ini(compute.files["nova.conf"])["libvirt"]
    assert (libvirt["rbd_user"], libvirt["rbd_secret_uuid"]) == ("nova", passwords["nova_rbd_secret_uuid"])


def test_rbd_without_ceph_is_a_configuration_error_naming_the_key_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, "nova_backend: rbd\n"))
    assert "globals.yml: nova_backend: rbd requires ceph; set enable_ceph: true or nova_backend: local" in (
        info.value.details)
