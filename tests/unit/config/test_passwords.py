"""genpwd / mergepwd / masking: secrets filled once, never changed, never readable by others."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.config.passwords import (
    MASK,
    SecretKind,
    check_passwords,
    genpwd,
    load_passwords,
    mask,
    mergepwd,
    secret_specs,
    secret_values,
)
from berth.errors import ConfigError


def _fake_services(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """A services layout like berth/services/<name>/service.yml, read the way the registry reads it."""
    layout = {
        "mariadb": "passwords:\n  - database_password\n",
        "keystone": ("passwords:\n  - keystone_admin_password\n  - keystone_database_password\n"
                     "  - {name: keystone_fernet_key, kind: fernet}\n"),
        "nova": "passwords:\n  - {name: nova_ssh_key, kind: ssh_key}\n  - {name: nova_uuid, kind: uuid}\n",
        "memcached": "containers: {}\n",
        "heat": "passwords:\n  - {name: heat_auth_key, kind: hex}\n  - database_password\n",
    }
    services = {}
    for name, text in layout.items():
        folder = tmp_path / "services" / name
        folder.mkdir(parents=True)
        (folder / "service.yml").write_text(text)
        services[name] = yaml.safe_load((folder / "service.yml").read_text())
    return services


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_specs_from_service_files(tmp_path: Path) -> None:
    specs = secret_specs(_fake_services(tmp_path))
    assert sorted(specs) == ["database_password", "heat_auth_key", "keystone_admin_password",
                             "keystone_database_password", "keystone_fernet_key", "nova_ssh_key", "nova_uuid"]
    assert specs["keystone_fernet_key"].kind is SecretKind.FERNET
    assert specs["nova_ssh_key"].kind is SecretKind.SSH_KEY
    assert specs["database_password"].service == "mariadb"  # shared secrets: first declaration wins


@pytest.mark.parametrize("meta, message", [
    ({"passwords": "x"}, "must be a list"),
    ({"passwords": [{"name": "a", "kind": "rot13"}]}, "unknown kind 'rot13'"),
    ({"passwords": [42]}, r"passwords\[0\]: expected a name"),
])
def test_malformed_declarations_name_the_service(meta: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"service glance: service.yml: .*{message}"):
        secret_specs({"glance": meta})


def test_conflicting_kinds_are_an_error() -> None:
    with pytest.raises(ConfigError, match="is a uuid here but a password in service a"):
        secret_specs({"a": {"passwords": ["x"]}, "b": {"passwords": [{"name": "x", "kind": "uuid"}]}})


def test_genpwd_creates_0600_file_with_every_kind(tmp_path: Path) -> None:
    path = tmp_path / "passwords.yml"
    result = genpwd(path, secret_specs(_fake_services(tmp_path)))
    assert result.created and len(result.filled) == 7 and _mode(path) == 0o600
    values = yaml.safe_load(path.read_text())
    assert len(values["database_password"]) == 40 and values["database_password"].isalnum()
    assert values["database_password"] != values["keystone_admin_password"]
    assert len(values["heat_auth_key"]) == 64 and int(values["heat_auth_key"], 16) >= 0
    assert len(values["nova_uuid"]) == 36
    from cryptography.fernet import Fernet

    assert Fernet(values["keystone_fernet_key"].encode()).decrypt(
        Fernet(values["keystone_fernet_key"].encode()).encrypt(b"x")) == b"x"
    key = values["nova_ssh_key"]
    assert key["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert key["public_key"].startswith("ssh-ed25519 ")
    assert not list(tmp_path.glob(".passwords.yml.*"))  # no temp file left behind


def test_genpwd_fills_only_empty_values_and_keeps_extra_keys(tmp_path: Path) -> None:
    path = tmp_path / "passwords.yml"
    path.write_text("database_password: mine\nkeystone_admin_password:\noperator_extra: ''\n"
                    "nova_ssh_key: {private_key: '', public_key: ''}\n")
    path.chmod(0o600)
    result = genpwd(path, secret_specs(_fake_services(tmp_path)))
    values = yaml.safe_load(path.read_text())
    assert values["database_password"] == "mine"
    assert "database_password" not in result.filled
    assert {"keystone_admin_password", "operator_extra", "nova_ssh_key"} <= set(result.filled)
    assert values["operator_extra"] and values["keystone_admin_password"]
    assert values["nova_ssh_key"]["public_key"].startswith("ssh-ed25519")
    assert result.kept == 1 and result.fixed_mode is None


def test_genpwd_is_idempotent_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "passwords.yml"
    specs = secret_specs(_fake_services(tmp_path))
    genpwd(path, specs)
    before = path.read_bytes()
    inode = path.stat().st_ino
    result = genpwd(path, specs)
    assert result.filled == [] and not result.written
    assert path.read_bytes() == before and path.stat().st_ino == inode


def test_genpwd_fixes_a_world_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "passwords.yml"
    path.write_text("database_password: mine\n")
    path.chmod(0o644)
    result = genpwd(path, {})
    assert result.fixed_mode == 0o644 and _mode(path) == 0o600
    assert path.read_text() == "database_password: mine\n"  # nothing to fill: content untouched


def test_mergepwd_old_values_win_new_keys_kept_old_only_dropped(tmp_path: Path) -> None:
    old, new, final = tmp_path / "old.yml", tmp_path / "new.yml", tmp_path / "final.yml"
    old.write_text("a: old-a\nb: old-b\ngone: x\nempty: ''\n")
    new.write_text("a: new-a\nc: new-c\nempty: new-e\n")
    result = mergepwd(old, new, final)
    assert yaml.safe_load(final.read_text()) == {"a": "old-a", "c": "new-c", "empty": "new-e"}
    assert result.kept == ["a"] and result.added == ["c", "empty"] and result.dropped == ["b", "gone"]
    assert _mode(final) == 0o600


def test_mergepwd_missing_input(tmp_path: Path) -> None:
    (tmp_path / "new.yml").write_text("a: 1\n")
    with pytest.raises(ConfigError, match="old.yml does not exist"):
        mergepwd(tmp_path / "old.yml", tmp_path / "new.yml", tmp_path / "final.yml")


def test_load_passwords_missing_hints_genpwd(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_passwords(tmp_path)
    assert "passwords.yml does not exist" in info.value.message
    assert info.value.hint and "genpwd" in info.value.hint


def test_check_passwords_lists_empty_and_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "passwords.yml"
    path.write_text("a: set\nb:\nc: ''\n")
    path.chmod(0o640)
    _values, problems, warnings = check_passwords(tmp_path, ["a", "b", "d"])
    assert problems == [
        (f"{path}:2: 2 empty secret(s): b (line 2), c (line 3) (run `berth --config-dir {tmp_path} genpwd` "
        "to fill them)"),
        f"{path}: 1 secret(s) missing: d (run `berth --config-dir {tmp_path} genpwd` to add them)",
    ]
    assert warnings and "mode 0640" in warnings[0]


def test_mask_hides_every_secret_longest_first() -> None:
    passwords = {"short": "abc", "pw": "s3cretvalue", "long": "s3cretvalue-and-more",
                 "key": {"private_key": "-----BEGIN-----\nAAAABBBBCCCCDDDDEEEE\n-----END-----", "public_key": None}}
    values = secret_values(passwords)
    assert "abc" not in values  # too short to mask safely
    text = "x=s3cretvalue-and-more y=s3cretvalue line AAAABBBBCCCCDDDDEEEE"
    masked = mask(text, values)
    assert masked == f"x={MASK} y={MASK} line {MASK}"


def test_cephx_keys_have_ceph_s_encoding() -> None:
    """What `ceph-authtool --gen-print-key` prints: AES cipher, creation time, 16-byte length, 16 random bytes."""
    import base64
    import struct

    from berth.config.passwords import cephx_key, generate

    key = cephx_key(created=1_700_000_000)
    raw = base64.b64decode(key, validate=True)
    assert len(key) == 40 and key.startswith("AQ") and len(raw) == 28
    assert struct.unpack("<HIIH", raw[:12]) == (1, 1_700_000_000, 0, 16)
    assert generate(SecretKind.CEPHX) != generate(SecretKind.CEPHX)
    assert secret_specs({"ceph": {"passwords": [{"name": "ceph_admin_key", "kind": "cephx"}]}})[
        "ceph_admin_key"].kind is SecretKind.CEPHX
