"""passwords.yml: generating, merging, loading and masking the deployment's secrets.

The set of secrets is declared by the services themselves (`passwords:` in each service.yml), so adding a
service never touches this module. Secret files are always written atomically with mode 0600: a crash mid-write
must never leave a truncated file, and other users must never be able to read it.
"""

from __future__ import annotations

import base64
import secrets
import stat
import string
import struct
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from berth.config.yamlfile import Located, load_mapping
from berth.errors import ConfigError
from berth.private import write_private

PASSWORDS_FILE = "passwords.yml"
PASSWORD_LENGTH = 40  # 40 alphanumerics = 238 bits; no symbols, so values are safe in URLs, INI and shells
MASK = "********"
MIN_MASKED_LENGTH = 4  # shorter values would mask ordinary words all over the output


class SecretKind(str, Enum):
    """How a secret is generated."""

    PASSWORD = "password"
    UUID = "uuid"
    HEX = "hex"
    FERNET = "fernet"
    SSH_KEY = "ssh_key"
    CEPHX = "cephx"


@dataclass(frozen=True)
class SecretSpec:
    """One secret a service needs: its key in passwords.yml and how to generate it."""

    name: str
    kind: SecretKind
    service: str


def secret_specs(services: Mapping[str, Mapping[str, Any]]) -> dict[str, SecretSpec]:
    """Secrets declared by `services` (name -> raw service.yml); malformed declarations raise ConfigError."""
    specs: dict[str, SecretSpec] = {}
    for service, meta in services.items():
        items = meta.get("passwords") or []
        if not isinstance(items, list):
            raise _bad_decl(service, "`passwords` must be a list")
        for index, item in enumerate(items):
            spec = _spec_of(service, index, item)
            known = specs.get(spec.name)
            if known is not None and known.kind is not spec.kind:
                raise _bad_decl(service, f"`{spec.name}` is a {spec.kind.value} here but a "
                                         f"{known.kind.value} in service {known.service}")
            specs.setdefault(spec.name, spec)
    return specs


def _spec_of(service: str, index: int, item: Any) -> SecretSpec:
    if isinstance(item, str) and item:
        return SecretSpec(item, SecretKind.PASSWORD, service)
    if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
        kind = item.get("kind", "password")
        try:
            return SecretSpec(item["name"], SecretKind(kind), service)
        except ValueError:
            kinds = ", ".join(k.value for k in SecretKind)
            raise _bad_decl(service, f"passwords[{index}]: unknown kind {kind!r} (one of {kinds})") from None
    raise _bad_decl(service, f"passwords[{index}]: expected a name or {{name: ..., kind: ...}}, got {item!r}")


def _bad_decl(service: str, message: str) -> ConfigError:
    return ConfigError(f"service {service}: service.yml: {message}", "fix the service's `passwords:` list")


def service_secret_specs() -> dict[str, SecretSpec]:
    """Secrets of every service folder of this berth."""
    from berth.services.registry import service_dirs, service_meta

    return secret_specs({name: service_meta(name) for name in service_dirs()})


# --- generating ----------------------------------------------------------------------------------------------


def generate(kind: SecretKind) -> Any:
    """A fresh random value of `kind` (str, or a {private_key, public_key} mapping for ssh_key)."""
    if kind is SecretKind.PASSWORD:
        alphabet = string.ascii_letters + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(PASSWORD_LENGTH))
    if kind is SecretKind.UUID:
        return str(uuid.uuid4())
    if kind is SecretKind.HEX:
        return secrets.token_hex(32)
    if kind is SecretKind.FERNET:
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()
    if kind is SecretKind.CEPHX:
        return cephx_key()
    return _ssh_key_pair()


CEPHX_AES = 1  # the cipher number of an AES key in Ceph's key encoding


def cephx_key(created: int | None = None) -> str:
    """A cephx secret as keyrings and `ceph auth` take it (what `ceph-authtool --gen-print-key` prints): base64 of
    a little-endian header (cipher u16, creation time u32 seconds + u32 nanoseconds, key length u16) and 16 random
    bytes. 40 characters, starting with `AQ`."""
    secret = secrets.token_bytes(16)
    header = struct.pack("<HIIH", CEPHX_AES, int(time.time()) if created is None else created, 0, len(secret))
    return base64.b64encode(header + secret).decode()


def _ssh_key_pair() -> dict[str, str]:
    """An Ed25519 key pair in OpenSSH formats (fast to generate, accepted by every current OpenSSH)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return {"private_key": private.decode(), "public_key": public.decode()}


def is_empty(value: Any) -> bool:
    """Unset: None, "", or a key-pair mapping with neither half (a half-set pair is the operator's, kept)."""
    if isinstance(value, dict):
        return not value.get("private_key") and not value.get("public_key")
    return value is None or value == ""


@dataclass(frozen=True)
class GenResult:
    """What `genpwd` did (key names only: values are never reported)."""

    path: Path
    filled: list[str]
    kept: int
    created: bool
    fixed_mode: int | None  # the old, too open mode, when it was fixed
    written: bool


def genpwd(path: Path, specs: Mapping[str, SecretSpec]) -> GenResult:
    """Fill every empty secret of `path` (declared by `specs` or already present); never change a set value."""
    created = not path.exists()
    current = {} if created else _read_secrets(path)
    values = dict(current)
    filled = []
    for name in sorted(set(specs) | set(current)):
        if is_empty(values.get(name)):
            spec = specs.get(name)
            values[name] = generate(spec.kind if spec else SecretKind.PASSWORD)
            filled.append(name)
    fixed = None if created else fix_mode(path)
    if filled or created:
        write_secrets(path, values)
    return GenResult(path, filled, len(values) - len(filled), created, fixed, bool(filled or created))


def fix_mode(path: Path) -> int | None:
    """Make `path` 0600 when group or others may access it; the old mode when it was changed."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o600)
        return mode
    return None


def write_secrets(path: Path, values: Mapping[str, Any]) -> None:
    """Write `values` as YAML, mode 0600, atomically (temp file in the same directory + rename)."""
    text = yaml.safe_dump(dict(values), sort_keys=True, default_flow_style=False, width=1000)
    write_private(path, text)


def _read_secrets(path: Path) -> dict[str, Any]:
    return load_mapping(path).data


# --- merging for upgrades ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeResult:
    kept: list[str]  # keys whose old value won
    added: list[str]  # keys only in the new file
    dropped: list[str] = field(default_factory=list)  # keys only in the old file


def mergepwd(old: Path, new: Path, final: Path) -> MergeResult:
    """Old values win for keys the new file still has; new keys keep new values; keys only in old are dropped."""
    for path in (old, new):
        if not path.is_file():
            raise ConfigError(f"{path} does not exist", "pass existing files to --old and --new")
    old_values, new_values = _read_secrets(old), _read_secrets(new)
    merged, kept, added = {}, [], []
    for name, value in new_values.items():
        if name in old_values and not is_empty(old_values[name]):
            merged[name] = old_values[name]
            kept.append(name)
        else:
            merged[name] = value
            added.append(name)
    dropped = sorted(set(old_values) - set(new_values))
    write_secrets(final, merged)
    return MergeResult(sorted(kept), sorted(added), dropped)


# --- loading and checking ---------------------------------------------------------------------------------------


def load_passwords(config_dir: Path) -> dict[str, Any]:
    """The secrets of `config_dir`/passwords.yml; a missing file is a ConfigError pointing at genpwd."""
    path = config_dir / PASSWORDS_FILE
    if not path.is_file():
        raise ConfigError(f"{path} does not exist", f"run `berth --config-dir {config_dir} genpwd` to create it")
    return _read_secrets(path)


def check_passwords(config_dir: Path, required: Iterable[str]) -> tuple[dict[str, Any], list[str], list[str]]:
    """(secrets, problems, warnings): missing file, missing or empty required secrets, a too open mode."""
    path = config_dir / PASSWORDS_FILE
    hint = f"run `berth --config-dir {config_dir} genpwd`"
    if not path.is_file():
        return {}, [f"{path}: does not exist ({hint} to create it)"], []
    try:
        located = load_mapping(path)
    except ConfigError as err:
        return {}, [err.message], []
    problems = _empty_problems(located, required, hint)
    warnings = []
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        warnings.append(f"{path}: mode {mode:04o} lets other users read secrets (run `chmod 600 {path}` or {hint})")
    return located.data, problems, warnings


def _empty_problems(located: Located, required: Iterable[str], hint: str) -> list[str]:
    data = located.data
    empty = sorted(k for k, v in data.items() if is_empty(v))
    missing = sorted(set(required) - set(data))
    problems = []
    if empty:
        listed = ", ".join(f"{k} (line {located.lines.get(k, '?')})" for k in empty)
        problems.append(f"{located.where(empty[0])}: {len(empty)} empty secret(s): {listed} ({hint} to fill them)")
    if missing:
        problems.append(f"{located.path}: {len(missing)} secret(s) missing: {', '.join(missing)} "
                        f"({hint} to add them)")
    return problems


# --- masking ----------------------------------------------------------------------------------------------------


def secret_values(passwords: Mapping[str, Any]) -> list[str]:
    """Every secret string worth masking (key pairs: both halves and each long line), longest first."""
    found: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                add(item)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            text = str(value).strip()
            if len(text) >= MIN_MASKED_LENGTH:
                found.add(text)
            if "\n" in text:
                found.update(line for line in text.splitlines() if len(line) >= 16)

    for value in passwords.values():
        add(value)
    return sorted(found, key=lambda s: (-len(s), s))


def mask(text: str, secrets_: Iterable[str]) -> str:
    """`text` with every secret replaced by ********; longest first so a secret's substring never leaks.

    The one masking function of berth (plans, logs, config show, status); values shorter than
    MIN_MASKED_LENGTH are skipped, as secret_values() does, so ordinary short words stay readable.
    """
    for value in sorted({s for s in secrets_ if s and len(s) >= MIN_MASKED_LENGTH}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
