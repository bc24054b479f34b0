"""What nova's migrations between compute hosts need, as rendered: nova_ssh, the key pair, libvirt and nova.conf.

Rendered for three hosts (one controller, two computes, TEST-NET addresses) and for the all-in-one; no engine.
The key pair is berth's generated secret: the files carry it with mode 0600, masking hides it, and the private
half matches the public half the other computes authorize.
"""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from berth.config.loader import load_config
from berth.config.passwords import MASK, mask
from berth.lifecycle.render import render_desired
from berth.state.desired import DesiredContainer, DesiredState
from tests.unit.threehosts import ADDRESSES, COMPUTES, CONTROLLER, make_config_dir, three_hosts

SSH_FILES = {"id_ed25519": "0600", "known_hosts": "0644", "ssh_config": "0644"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_config_dir(tmp_path_factory.mktemp("migration"))


@pytest.fixture(scope="module")
def hosts(root: Path) -> dict[str, DesiredState]:
    config = three_hosts(root)
    return {host: render_desired(config, {}, host, pins={}) for host in ADDRESSES}


@pytest.fixture(scope="module")
def aio(root: Path) -> DesiredState:
    return render_desired(load_config(root), {}, pins={})


@pytest.fixture(scope="module")
def passwords(root: Path) -> dict[str, dict[str, str]]:
    return yaml.safe_load((root / "passwords.yml").read_text())  # type: ignore[no-any-return]


def container(state: DesiredState, key: str) -> DesiredContainer:
    found = state.container(key)
    assert found is not None, f"{key} is not on {state.containers[0].host}"
    return found


def config_json(c: DesiredContainer) -> dict[str, dict[str, str]]:
    """config.json's files by source name: dest, owner, mode."""
    return {f["source"]: f for f in json.loads(c.files["config.json"])["files"]}


def keyvalues(text: str) -> dict[str, str]:
    """`Key value` lines of an sshd_config / ssh_config (first value wins, as in OpenSSH)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            out.setdefault(key.lower(), value.strip())
    return out


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(text)
    return parser


def flat(text: str) -> dict[str, str]:
    """libvirtd.conf / qemu.conf assignments (`key = "value"`)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip().strip('"') for k, v in pairs}


def test_nova_ssh_runs_on_every_compute_and_only_there(hosts: dict[str, DesiredState]) -> None:
    assert hosts[CONTROLLER].container("nova_ssh") is None
    for compute in COMPUTES:
        sshd = keyvalues(container(hosts[compute], "nova_ssh").files["sshd_config"])
        assert sshd["listenaddress"] == ADDRESSES[compute] and sshd["port"] == "8022"
        assert sshd["allowusers"] == "nova" and sshd["permitrootlogin"] == "no"
        assert sshd["passwordauthentication"] == "no" and sshd["kbdinteractiveauthentication"] == "no"
        assert sshd["subsystem"] == "sftp internal-sftp"  # scp speaks SFTP since OpenSSH 9


def test_the_instances_directory_is_one_volume_for_compute_libvirt_and_sshd(hosts: dict[str, DesiredState]) -> None:
    state = hosts[COMPUTES[0]]
    for key in ("nova_compute", "nova_libvirt", "nova_ssh"):
        assert "unit_nova_instances:/var/lib/nova/instances" in container(state, key).spec["volumes"], key
    assert "unit_libvirt_run:/run/libvirt" in container(state, "nova_ssh").spec["volumes"]  # qemu+ssh's helper
    directories = json.loads(container(state, "nova_ssh").files["config.json"])["directories"]
    assert {"path": "/var/lib/nova/instances", "owner": "nova", "mode": "0755", "recurse": False} in directories


def test_every_compute_authorizes_the_key_every_client_holds(hosts: dict[str, DesiredState],
                                                             passwords: dict[str, dict[str, str]]) -> None:
    pair, host_key = passwords["nova_ssh_key"], passwords["nova_ssh_host_key"]
    private = serialization.load_ssh_private_key(pair["private_key"].encode(), None)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert public.decode() == pair["public_key"].strip()
    for compute in COMPUTES:
        state = hosts[compute]
        assert container(state, "nova_ssh").files["authorized_keys"] == pair["public_key"].strip() + "\n"
        assert container(state, "nova_ssh").files["ssh_host_ed25519_key"] == host_key["private_key"].strip() + "\n"
        for key in ("nova_compute", "nova_libvirt"):
            c = container(state, key)
            assert c.files["id_ed25519"] == pair["private_key"].strip() + "\n"
            assert c.files["known_hosts"] == f"berth-nova-ssh {host_key['public_key'].strip()}\n"


def test_key_files_are_private_and_clients_pin_the_host_key(hosts: dict[str, DesiredState]) -> None:
    state = hosts[COMPUTES[1]]
    for key in ("nova_compute", "nova_libvirt"):
        files = config_json(container(state, key))
        assert {name: files[name]["mode"] for name in SSH_FILES} == SSH_FILES
        assert files["id_ed25519"]["owner"] == "root" and files["ssh_config"]["dest"].endswith(".conf")
        client = keyvalues(container(state, key).files["ssh_config"])
        assert client["port"] == "8022" and client["user"] == "nova" and client["stricthostkeychecking"] == "yes"
        assert client["hostkeyalias"] == "berth-nova-ssh" and client["identityfile"] == files["id_ed25519"]["dest"]
    assert config_json(container(state, "nova_ssh"))["ssh_host_ed25519_key"]["mode"] == "0600"


def test_key_material_is_masked_and_never_in_the_container_spec(hosts: dict[str, DesiredState],
                                                                passwords: dict[str, dict[str, str]]) -> None:
    state = hosts[COMPUTES[0]]
    material = [line for name in ("nova_ssh_key", "nova_ssh_host_key") for half in passwords[name].values()
                for line in half.splitlines() if len(line) >= 16 and "OPENSSH" not in line]
    assert len(material) >= 4
    for key in ("nova_compute", "nova_libvirt", "nova_ssh"):
        c = container(state, key)
        shown = mask(json.dumps(dict(c.files)), state.secrets)  # as plans are masked: JSON, then mask
        assert not [m for m in material if m in shown] and MASK in shown
        assert not [m for m in material if m in json.dumps(c.spec)]


def test_live_migration_goes_over_ssh_to_the_destination_address(hosts: dict[str, DesiredState]) -> None:
    for compute in COMPUTES:
        state = hosts[compute]
        libvirt = ini(container(state, "nova_compute").files["nova.conf"])["libvirt"]
        assert libvirt["live_migration_scheme"] == "ssh" and libvirt["remote_filesystem_transport"] == "ssh"
        assert libvirt["live_migration_inbound_addr"] == ADDRESSES[compute]
        qemu = flat(container(state, "nova_libvirt").files["qemu.conf"])
        assert qemu["migration_address"] == ADDRESSES[compute] == qemu["migration_host"]
        daemon = flat(container(state, "nova_libvirt").files["libvirtd.conf"])
        assert daemon["listen_tcp"] == "0" and daemon["listen_tls"] == "0"  # libvirt listens on no address
        assert daemon["unix_sock_group"] == "libvirt"  # nova's qemu+ssh login reaches the socket


def test_each_compute_has_its_own_libvirt_host_uuid(hosts: dict[str, DesiredState], aio: DesiredState) -> None:
    uuids = {flat(container(hosts[c], "nova_libvirt").files["libvirtd.conf"])["host_uuid"] for c in COMPUTES}
    assert len(uuids) == 2
    assert "62657274-6800-4000-8000-0000c633640c" in uuids  # 198.51.100.12
    assert flat(container(aio, "nova_libvirt").files["libvirtd.conf"])["host_uuid"].endswith("7f000001")


def test_the_all_in_one_runs_nova_ssh_on_its_own_address(aio: DesiredState) -> None:
    sshd = keyvalues(container(aio, "nova_ssh").files["sshd_config"])
    assert sshd["listenaddress"] == "127.0.0.1"
    assert ini(container(aio, "nova_compute").files["nova.conf"])["libvirt"]["live_migration_inbound_addr"] == "127.0.0.1"


def test_the_default_all_in_one_names_no_local_migration_address(aio: DesiredState) -> None:
    """libvirt (Epoxy's 11.3) refuses to start when qemu.conf's migration_host or migration_address is 127.0.0.1
    (found by scripts/aio.sh on a fresh machine, whose default address that is)."""
    qemu = flat(container(aio, "nova_libvirt").files["qemu.conf"])
    assert "migration_host" not in qemu and "migration_address" not in qemu
    assert qemu["vnc_listen"] == "127.0.0.1"
