"""TLS on the external VIP: `berth certificates`, the checks, and what HAProxy, the catalog and clients get."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from berth.cli.main import main
from berth.config import certificates
from berth.config.loader import load_config
from berth.config.passwords import mask, secret_values
from berth.errors import BerthError
from berth.lifecycle.postdeploy import clouds_text, credentials, openrc_text
from berth.lifecycle.render import Renderer
from tests.unit.services.test_loadbalancer import INVENTORY, VIP, file_of

EXTERNAL = "198.51.100.200"


def tls_dir(root: Path, extra: str = "") -> Path:
    (root / "globals.yml").write_text(
        f"deployment_name: unit\nstate_dir: {root}/state\nlog_dir: {root}/log\ninternal_vip_address: {VIP}\n"
        f"external_vip_address: {EXTERNAL}\nenable_haproxy: true\nenable_keepalived: true\n"
        f"enable_tls_external: true\n{extra}")
    (root / "multinode").write_text(INVENTORY)
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return root


def test_certificates_make_a_ca_and_a_server_certificate_for_both_vips(tmp_path: Path) -> None:
    root = tls_dir(tmp_path)
    assert main(["--quiet", "--config-dir", str(root), "certificates", "--name", "cloud.example"]) == 0
    folder = certificates.folder(root)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "haproxy.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "ca.key").stat().st_mode) == 0o600
    pem = (folder / "haproxy.pem").read_text()
    assert certificates.missing_names(pem, [EXTERNAL, VIP], ["cloud.example"]) == []
    assert certificates.missing_names(pem, ["198.51.100.201"]) == ["198.51.100.201"]
    assert pem.count("BEGIN CERTIFICATE") == 2 and "BEGIN PRIVATE KEY" in pem
    ca = (folder / "ca.crt").read_text()
    again = certificates.make(root, [EXTERNAL, VIP])  # everything covered: kept as it is
    assert again.written == [] and (folder / "haproxy.pem").read_text() == pem
    renewed = certificates.make(root, [EXTERNAL], renew=True)
    assert renewed.written == [folder / "haproxy.pem"] and (folder / "ca.crt").read_text() == ca


def test_tls_without_a_certificate_says_how_to_make_one(tmp_path: Path) -> None:
    root = tls_dir(tmp_path)
    with pytest.raises(BerthError) as caught:
        load_config(root, inventory_path=root / "multinode")
    assert any("haproxy.pem does not exist" in d and "berth --config-dir" in d for d in caught.value.details)


def test_a_certificate_that_misses_the_external_vip_is_refused(tmp_path: Path) -> None:
    root = tls_dir(tmp_path)
    certificates.make(root, ["198.51.100.7"])
    with pytest.raises(BerthError) as caught:
        load_config(root, inventory_path=root / "multinode")
    assert any(f"does not cover {EXTERNAL}" in d for d in caught.value.details)


@pytest.mark.parametrize("extra, message", [
    ("enable_haproxy: false\nenable_keepalived: false\n", "needs `enable_haproxy: true`"),
    (f"external_vip_address: {VIP}\n", "an `external_vip_address` other than `internal_vip_address`"),
])
def test_tls_needs_haproxy_and_a_vip_of_its_own(tmp_path: Path, extra: str, message: str) -> None:
    root = tmp_path
    text = (f"deployment_name: unit\nstate_dir: {root}/s\ninternal_vip_address: {VIP}\nenable_haproxy: true\n"
            f"external_vip_address: {EXTERNAL}\nenable_tls_external: true\n")
    for line in extra.splitlines():
        key = line.split(":")[0]
        text = "\n".join(x for x in text.splitlines() if not x.startswith(key + ":")) + "\n" + line + "\n"
    (root / "globals.yml").write_text(text)
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    with pytest.raises(BerthError) as caught:
        load_config(root)
    assert any(message in d for d in caught.value.details)


def test_haproxy_serves_tls_on_the_external_vip_and_the_catalog_says_https(tmp_path: Path) -> None:
    root = tls_dir(tmp_path)
    certificates.make(root, [EXTERNAL, VIP])
    config = load_config(root, inventory_path=root / "multinode")
    state = Renderer(config, {}, "ctl1").render()
    cfg = file_of(state, "haproxy", "haproxy.cfg")
    assert f"bind {EXTERNAL}:5000 ssl crt /etc/haproxy/certs/haproxy.pem" in cfg
    assert f"bind {EXTERNAL}:3306" not in cfg  # the database stays internal
    pem = file_of(state, "haproxy", "haproxy.pem")
    assert pem.strip() == (certificates.folder(root) / "haproxy.pem").read_text().strip()
    # the private key is a secret like any password: masked wherever plans and diffs are shown
    key_line = next(line for line in pem.splitlines() if len(line) > 40 and "BEGIN" not in line)
    assert key_line not in mask(pem, secret_values(config.passwords))
    keepalived = file_of(state, "keepalived", "keepalived.conf")
    assert f"{EXTERNAL}/32 dev eth0" in keepalived and f"{VIP}/32 dev eth0" in keepalived
    glance = next(s for s in Renderer(config, {}, "ctl1").render().steps if s.id == "glance/keystone-register")
    urls = glance.payload["endpoints"][0]["urls"]
    assert urls == {"public": f"https://{EXTERNAL}:9292", "internal": f"http://{VIP}:9292"}


def test_clients_get_the_external_url_and_the_ca(tmp_path: Path) -> None:
    root = tls_dir(tmp_path)
    certificates.make(root, [EXTERNAL, VIP])
    creds = credentials(load_config(root, inventory_path=root / "multinode"))
    ca = str(certificates.folder(root) / "ca.crt")
    assert creds["auth_url"] == f"https://{EXTERNAL}:5000/v3" and creds["cacert"] == ca
    assert f"export OS_CACERT='{ca}'" in openrc_text(creds) and f"cacert: {ca}" in clouds_text(creds)
