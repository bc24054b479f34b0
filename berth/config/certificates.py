"""TLS on the external VIP: a private CA and HAProxy's server certificate (`berth certificates`), or the operator's.

Files, in `<config-dir>/certificates/` (the directory 0700, private keys 0600):
- `ca.crt`: the CA clients trust (admin-openrc.sh and clouds.yaml name it); `ca.key`: its key (berth's CA only);
- `haproxy.pem`: the server certificate, its chain and its private key, which HAProxy serves on the external VIP.
An operator's own certificate replaces `haproxy.pem` (and `ca.crt` with the CA that signed it); berth then only
checks that it covers the external address.

The loader reads them into the secrets mapping (`tls_certificate`: {pem, ca}) so every plan, diff and log masks
the private key like any password, and HAProxy's template writes the PEM into its container (mode 0600).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.errors import ConfigError

DIRECTORY = "certificates"
CA_CERT, CA_KEY, SERVER_PEM = "ca.crt", "ca.key", "haproxy.pem"
SECRET_KEY = "tls_certificate"  # in the secrets mapping (passwords): {pem, ca}
CA_DAYS, SERVER_DAYS = 3650, 825


@dataclass(frozen=True)
class Made:
    """What `berth certificates` wrote (paths) and what it left as it was."""

    written: list[Path]
    kept: list[Path]


def folder(config_dir: Path) -> Path:
    return config_dir / DIRECTORY


def make(config_dir: Path, addresses: Sequence[str], names: Sequence[str] = (), renew: bool = False) -> Made:
    """A CA (kept when it exists) and a server certificate for `addresses` (IPs) and `names` (DNS), signed by it.

    The server certificate is made again when it is missing, does not cover every address and name, or `renew`.
    """
    base = folder(config_dir)
    base.mkdir(mode=0o700, exist_ok=True)
    os.chmod(base, 0o700)
    written, kept = [], []
    ca_cert_path, ca_key_path, pem_path = base / CA_CERT, base / CA_KEY, base / SERVER_PEM
    if ca_cert_path.exists() and ca_key_path.exists():
        ca_cert, ca_key = _load_ca(ca_cert_path, ca_key_path)
        kept += [ca_cert_path, ca_key_path]
    else:
        ca_cert, ca_key = _new_ca()
        _write(ca_key_path, _key_pem(ca_key), 0o600)
        _write(ca_cert_path, _cert_pem(ca_cert), 0o644)
        written += [ca_cert_path, ca_key_path]
    if renew or not pem_path.exists() or missing_names(pem_path.read_text(), addresses, names):
        key = _new_key()
        cert = _server_cert(ca_cert, ca_key, key, addresses, names)
        _write(pem_path, _cert_pem(cert) + _cert_pem(ca_cert) + _key_pem(key), 0o600)
        written.append(pem_path)
    else:
        kept.append(pem_path)
    return Made(written, kept)


def load(config_dir: Path) -> dict[str, str] | None:
    """{pem, ca} from the certificates folder, or None when there is no server certificate."""
    base = folder(config_dir)
    pem = base / SERVER_PEM
    if not pem.exists():
        return None
    if pem.stat().st_mode & 0o077:
        os.chmod(pem, 0o600)  # a private key: readable by root only, as passwords.yml
    ca = base / CA_CERT
    return {"pem": pem.read_text(), "ca": ca.read_text() if ca.exists() else ""}


def missing_names(pem: str, addresses: Sequence[str], names: Sequence[str] = ()) -> list[str]:
    """The addresses and names the PEM's first certificate does not cover (its subjectAltName)."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return [*addresses, *names]
    ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    dns = set(san.get_values_for_type(x509.DNSName))
    return [a for a in addresses if a not in ips] + [n for n in names if n not in dns]


def check(config_dir: Path, addresses: Sequence[str]) -> None:
    """TLS needs a server certificate that covers the external address: a clear error otherwise."""
    loaded = load(config_dir)
    where = folder(config_dir) / SERVER_PEM
    if loaded is None:
        raise ConfigError(f"enable_tls_external is set but {where} does not exist",
                          f"run `berth --config-dir {config_dir} certificates`, or put your certificate, chain and "
                          "key there (PEM)")
    missing = missing_names(loaded["pem"], addresses)
    if missing:
        raise ConfigError(f"{where}: the certificate does not cover {', '.join(missing)}",
                          "make it again with `berth certificates --renew`, or use one whose subjectAltName "
                          "names the external VIP")
    if "PRIVATE KEY" not in loaded["pem"]:
        raise ConfigError(f"{where}: no private key in the file",
                          "HAProxy needs the certificate, its chain and its key in one PEM file")


# --- cryptography ---------------------------------------------------------------------------------------------------


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "berth"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _new_ca() -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    name = _name("berth private CA")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _server_cert(ca_cert: Any, ca_key: Any, key: Any, addresses: Sequence[str], names: Sequence[str]) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.UTC)
    alt: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    alt += [x509.DNSName(n) for n in names]
    common = (list(names) or list(addresses) or ["berth"])[0]
    return (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _load_ca(cert_path: Path, key_path: Path) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{cert_path.parent}: cannot read the CA ({exc})",
                          f"remove {cert_path.name} and {key_path.name} to make a new CA, or fix them") from None
    return cert, key


def _key_pem(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert_pem(cert: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _write(path: Path, text: str, mode: int) -> None:
    """Written whole under a temporary name with its final mode, then moved: never half a key, never readable."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
