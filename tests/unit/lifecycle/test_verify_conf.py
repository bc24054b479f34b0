"""tempest.conf from a fake catalog and version documents: what berth tells tempest about the cloud."""

from __future__ import annotations

import configparser

import pytest

from berth.errors import BerthError
from berth.lifecycle.verify_conf import (
    CloudFacts,
    Credentials,
    available,
    microversion_range,
    public_urls,
    render_ini,
    tempest_conf,
)

CREDS = Credentials("http://127.0.0.9:5000/v3", "admin", "s3cret-Pa55word", "admin")
CATALOG = [
    {"type": "identity", "endpoints": [
        {"interface": "internal", "region_id": "RegionOne", "url": "http://10.0.0.9:5000/v3"},
        {"interface": "public", "region_id": "RegionOne", "url": "http://127.0.0.9:5000/v3"}]},
    {"type": "compute", "endpoints": [{"interface": "public", "region_id": "RegionOne",
                                       "url": "http://127.0.0.9:8774/v2.1"}]},
    {"type": "image", "endpoints": [{"interface": "public", "region_id": "RegionOne", "url": "http://127.0.0.9:9292"}]},
    {"type": "network", "endpoints": [{"interface": "public", "region_id": "RegionOne",
                                       "url": "http://127.0.0.9:9696"}]},
    {"type": "placement", "endpoints": [{"interface": "public", "region_id": "Other", "url": "http://x:8778"}]},
]


def facts(**changes: object) -> CloudFacts:
    base: dict[str, object] = {
        "catalog": public_urls(CATALOG, "RegionOne"), "microversions": {"compute": ("2.1", "2.93")},
        "network_extensions": ["router", "external-net", "agent"], "image_id": "img-1",
        "flavor_ids": ("fl-1", "fl-2"), "public_network_id": "net-pub", "public_network_name": "public1"}
    return CloudFacts(**{**base, **changes})  # type: ignore[arg-type]


def parsed(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return parser


def test_public_urls_keep_the_public_interface_of_the_region_only() -> None:
    urls = public_urls(CATALOG, "RegionOne")
    assert urls["identity"] == "http://127.0.0.9:5000/v3"
    assert "placement" not in urls  # another region's


@pytest.mark.parametrize(("document", "expected"), [
    ({"version": {"id": "v2.1", "status": "CURRENT", "version": "2.93", "min_version": "2.1"}}, ("2.1", "2.93")),
    ({"versions": [{"id": "v3.0", "status": "CURRENT", "version": "3.70", "min_version": "3.0"}]}, ("3.0", "3.70")),
    ({"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0"}]}, ("1.0", "1.39")),
    ({"versions": [{"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": ""}]}, None),
    ({"versions": [{"status": "DEPRECATED", "version": "2.0", "min_version": "2.0"},
                   {"status": "CURRENT", "version": "2.9", "min_version": "2.1"}]}, ("2.1", "2.9")),
    ({}, None),
])
def test_microversion_range_from_version_documents(document: dict[str, object],
                                                   expected: tuple[str, str] | None) -> None:
    assert microversion_range(document) == expected


def test_services_missing_from_the_catalog_are_unavailable() -> None:
    found = available(facts())
    assert found["nova"] and found["neutron"] and found["glance"]
    assert not (found["cinder"] or found["swift"] or found["designate"] or found["heat"] or found["horizon"])


def test_tempest_conf_reflects_the_cloud() -> None:
    conf = parsed(tempest_conf(facts(dashboard_url="http://127.0.0.9/"), CREDS))
    assert conf.get("identity", "uri_v3") == CREDS.auth_url
    assert conf.get("identity", "auth_version") == "v3"
    assert conf.get("identity-feature-enabled", "api_v2") == "false"
    assert conf.get("auth", "admin_password") == CREDS.password
    assert conf.get("service_available", "swift") == "false"
    assert conf.get("service_available", "horizon") == "true"
    assert conf.get("dashboard", "dashboard_url") == "http://127.0.0.9/"
    assert (conf.get("compute", "image_ref"), conf.get("compute", "flavor_ref_alt")) == ("img-1", "fl-2")
    assert (conf.get("compute", "min_microversion"), conf.get("compute", "max_microversion")) == ("2.1", "2.93")
    assert conf.get("network", "public_network_id") == "net-pub"
    assert conf.get("network-feature-enabled", "api_extensions") == "agent, external-net, router"
    assert conf.get("network-feature-enabled", "floating_ips") == "true"
    assert conf.get("validation", "run_validation") == "false"
    assert conf.get("service-clients", "http_timeout") == "300"
    assert conf.get("compute-feature-enabled", "live_migration") == "false"
    assert not conf.has_section("volume") and not conf.has_section("heat_plugin")


def test_volume_and_heat_sections_only_with_their_services() -> None:
    catalog = {**public_urls(CATALOG), "volumev3": "http://127.0.0.9:8776/v3/%(project_id)s",
               "orchestration": "http://127.0.0.9:8004/v1/%(project_id)s"}
    conf = parsed(tempest_conf(facts(catalog=catalog, microversions={"volume": ("3.0", "3.70")},
                                     volume_extensions=["backups"], volume_backup=True), CREDS))
    assert conf.get("service_available", "cinder") == "true"
    assert conf.get("volume", "catalog_type") == "volumev3"
    assert conf.get("volume", "max_microversion") == "3.70"
    assert conf.get("volume-feature-enabled", "backup") == "true"
    assert conf.get("heat_plugin", "image_ref") == "img-1"
    assert conf.get("service_available", "heat") == "true"


def test_without_a_public_network_floating_ips_are_off() -> None:
    conf = parsed(tempest_conf(facts(public_network_id="", public_network_name=""), CREDS))
    assert conf.get("network-feature-enabled", "floating_ips") == "false"
    assert not conf.has_option("network", "public_network_id")


def test_several_compute_nodes_allow_migrations() -> None:
    conf = parsed(tempest_conf(facts(compute_nodes=3), CREDS))
    assert conf.get("compute", "min_compute_nodes") == "3"
    assert conf.get("compute-feature-enabled", "live_migration") == "true"


def test_tls_keystone_gets_the_ca_file() -> None:
    creds = Credentials("https://cloud.test:5000/v3", "admin", "pw-long-enough", "admin", cacert="/etc/tempest/ca.crt")
    conf = parsed(tempest_conf(facts(), creds))
    assert conf.get("identity", "ca_certificates_file") == "/etc/tempest/ca.crt"


@pytest.mark.parametrize(("change", "words"), [
    ({"catalog": {"identity": "http://x/v3", "image": "http://x:9292"}}, "no compute, network endpoint"),
    ({"image_id": ""}, "no test image or flavors"),
    ({"flavor_ids": ("fl-1", "")}, "no test image or flavors"),
])
def test_a_cloud_tempest_cannot_test_is_refused(change: dict[str, object], words: str) -> None:
    with pytest.raises(BerthError, match=words):
        tempest_conf(facts(**change), CREDS)


def test_a_value_with_a_newline_is_refused() -> None:
    with pytest.raises(BerthError, match=r"\[auth\] admin_password"):
        render_ini({"auth": {"admin_password": "a\nb"}})
