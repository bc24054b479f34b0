"""tempest.conf for `berth verify`, computed from what the cloud says about itself (pure logic, no I/O).

Tempest assumes a devstack cloud unless told otherwise (Swift and Cinder available, Keystone v2, a cirros image
that answers SSH): every one of those guesses is a false failure on a berth cloud. So nothing here is a default
taken on trust: services come from the catalog, microversion ranges from each API's version document, API
extensions from Neutron's and Cinder's extension lists, the image, flavors and public network from the cloud.
`berth.lifecycle.verify_discover` collects those facts; this module only turns them into INI text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.errors import BerthError

# catalog type -> tempest's [service_available] option (a type absent from the catalog is set to False)
SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "nova": ("compute",), "neutron": ("network",), "glance": ("image",), "cinder": ("volumev3", "block-storage"),
    "swift": ("object-store",), "designate": ("dns",), "heat": ("orchestration",),
}
TEMPEST_HOME = "/var/lib/tempest"
HTTP_TIMEOUT_S = 300
_MICROVERSION = re.compile(r"^\d+\.\d+$")


@dataclass(frozen=True)
class Credentials:
    """The cloud administrator tempest creates its per-test projects and users with (clouds.yaml)."""

    auth_url: str  # Keystone's public URL ending in /v3
    username: str
    password: str
    project_name: str
    domain_name: str = "Default"
    region: str = "RegionOne"
    cacert: str | None = None  # path inside the tempest container, when Keystone's public side is TLS


@dataclass(frozen=True)
class CloudFacts:
    """What the deployed cloud offers, as discovered through its APIs."""

    catalog: Mapping[str, str]  # service type -> public URL (this region)
    microversions: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # compute/volume/placement
    network_extensions: Sequence[str] = ()
    volume_extensions: Sequence[str] = ()
    image_id: str = ""
    flavor_ids: tuple[str, str] = ("", "")  # flavor_ref, flavor_ref_alt
    public_network_id: str = ""
    public_network_name: str = ""
    dashboard_url: str | None = None
    volume_backup: bool = False
    compute_nodes: int = 1


def public_urls(catalog: Sequence[Mapping[str, Any]], region: str | None = None) -> dict[str, str]:
    """Service type -> public URL from a Keystone v3 catalog (the token's `catalog` list)."""
    urls: dict[str, str] = {}
    for service in catalog:
        for endpoint in service.get("endpoints") or []:
            if endpoint.get("interface") != "public":
                continue
            if region and endpoint.get("region_id", endpoint.get("region")) not in (None, region):
                continue
            urls.setdefault(str(service["type"]), str(endpoint["url"]))
    return urls


def microversion_range(document: Mapping[str, Any]) -> tuple[str, str] | None:
    """(min, max) microversion from an API's version document, or None when it has no microversions.

    Nova's versioned root says `{"version": {"min_version", "version"}}`, Cinder's and Placement's roots list
    `{"versions": [...]}` with `min_version` and `version` or `max_version`; the CURRENT entry (else the last)
    counts. Versions without microversions leave both empty.
    """
    entries = [document["version"]] if isinstance(document.get("version"), Mapping) else \
        [v for v in document.get("versions") or [] if isinstance(v, Mapping)]
    if not entries:
        return None
    current = [v for v in entries if str(v.get("status", "")).upper() == "CURRENT"] or entries[-1:]
    low = str(current[0].get("min_version") or "")
    high = str(current[0].get("max_version") or current[0].get("version") or "")
    if not (_MICROVERSION.match(low) and _MICROVERSION.match(high)):
        return None
    return low, high


def available(facts: CloudFacts) -> dict[str, bool]:
    """tempest's [service_available]: each service known to tempest, True when the catalog has it."""
    found = {name: any(t in facts.catalog for t in types) for name, types in SERVICE_TYPES.items()}
    found["horizon"] = facts.dashboard_url is not None
    return found


def check_facts(facts: CloudFacts) -> None:
    """A cloud tempest cannot test at all fails here, before any container runs, naming what is missing."""
    missing = [t for t in ("identity", "compute", "image", "network") if t not in facts.catalog]
    if missing:
        raise BerthError(f"the catalog has no {', '.join(missing)} endpoint: `berth verify` needs Keystone, Nova, "
                         "Glance and Neutron", hint="enable them in globals.yml and run `berth deploy`")
    if not facts.image_id or not all(facts.flavor_ids):
        raise BerthError("no test image or flavors for tempest",
                         hint="run `berth init-runonce` (it uploads the test guest and makes the flavors)")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _identity(creds: Credentials) -> dict[str, dict[str, str]]:
    identity = {"uri_v3": creds.auth_url, "auth_version": "v3", "region": creds.region,
                "v3_endpoint_type": "public", "disable_ssl_certificate_validation": "false"}
    if creds.cacert:
        identity["ca_certificates_file"] = creds.cacert
    return {
        "auth": {"use_dynamic_credentials": "true", "create_isolated_networks": "true",
                 "admin_username": creds.username, "admin_password": creds.password,
                 "admin_project_name": creds.project_name, "admin_domain_name": creds.domain_name},
        "identity": identity,
        "identity-feature-enabled": {"api_v2": "false", "api_v3": "true"},
    }


def _microversions(facts: CloudFacts, kind: str) -> dict[str, str]:
    found = facts.microversions.get(kind)
    return {"min_microversion": found[0], "max_microversion": found[1]} if found else {}


def _compute(facts: CloudFacts) -> dict[str, dict[str, str]]:
    image, (flavor, flavor_alt) = facts.image_id, facts.flavor_ids
    return {
        "compute": {"image_ref": image, "image_ref_alt": image, "flavor_ref": flavor, "flavor_ref_alt": flavor_alt,
                    "min_compute_nodes": str(facts.compute_nodes), "build_timeout": "300",
                    **_microversions(facts, "compute")},
        # One host: no live migration; berth's test guest has no SSH server and no guest agent.
        "compute-feature-enabled": {"live_migration": _bool(facts.compute_nodes > 1),
                                    "cold_migration": _bool(facts.compute_nodes > 1),
                                    "console_output": "true", "change_password": "false",
                                    "personality": "false", "attach_encrypted_volume": "false",
                                    "config_drive": "false", "metadata_service": "true"},
        "validation": {"run_validation": "false"},
    }


def _network(facts: CloudFacts) -> dict[str, dict[str, str]]:
    network = {"project_networks_reachable": "false", "shared_physical_network": "false", "build_timeout": "300"}
    if facts.public_network_id:
        network |= {"public_network_id": facts.public_network_id,
                    "floating_network_name": facts.public_network_name}
    extensions = ", ".join(sorted(facts.network_extensions)) or "all"
    return {"network": network,
            "network-feature-enabled": {"api_extensions": extensions,
                                        "floating_ips": _bool(bool(facts.public_network_id))}}


def _volume(facts: CloudFacts) -> dict[str, dict[str, str]]:
    if not available(facts)["cinder"]:
        return {}
    catalog_type = "volumev3" if "volumev3" in facts.catalog else "block-storage"
    extensions = ", ".join(sorted(facts.volume_extensions)) or "all"
    return {"volume": {"catalog_type": catalog_type, "build_timeout": "300", **_microversions(facts, "volume")},
            "volume-feature-enabled": {"api_extensions": extensions, "backup": _bool(facts.volume_backup)}}


def _plugins(facts: CloudFacts, creds: Credentials) -> dict[str, dict[str, str]]:
    """Settings of the plugins in berth's tempest image whose service the cloud has (their tests skip else)."""
    sections: dict[str, dict[str, str]] = {}
    if facts.dashboard_url:
        sections["dashboard"] = {"dashboard_url": facts.dashboard_url.rstrip("/") + "/"}
    if available(facts)["heat"]:
        sections["heat_plugin"] = {
            "auth_url": creds.auth_url, "auth_version": "3", "region": creds.region,
            "username": creds.username, "password": creds.password, "project_name": creds.project_name,
            "admin_username": creds.username, "admin_password": creds.password,
            "admin_project_name": creds.project_name, "user_domain_name": creds.domain_name,
            "project_domain_name": creds.domain_name, "image_ref": facts.image_id,
            "minimal_image_ref": facts.image_id, "instance_type": facts.flavor_ids[0],
            "minimal_instance_type": facts.flavor_ids[0], "floating_network_name": facts.public_network_name,
            "skip_functional_tests": "true", "skip_scenario_tests": "true"}
    return sections


def tempest_sections(facts: CloudFacts, creds: Credentials) -> dict[str, dict[str, str]]:
    """Every section and option berth sets, in writing order."""
    sections: dict[str, dict[str, str]] = {
        "DEFAULT": {"debug": "false", "use_stderr": "false"},
        "oslo_concurrency": {"lock_path": f"{TEMPEST_HOME}/lock"},
        # tempest's 60 s gives up on a request a busy small host is still serving; its retry then fails on what the
        # first one made ("Router already has a port on subnet"), so it waits longer instead
        "service-clients": {"http_timeout": str(HTTP_TIMEOUT_S)},
        **_identity(creds),
        "service_available": {name: _bool(on) for name, on in available(facts).items()},
        **_compute(facts),
        "image-feature-enabled": {"api_v2": "true", "api_v1": "false"},
        **_network(facts),
        **_volume(facts),
    }
    if "placement" in facts.microversions:
        sections["placement"] = _microversions(facts, "placement")
    return {**sections, **_plugins(facts, creds)}


def render_ini(sections: Mapping[str, Mapping[str, str]]) -> str:
    """INI text; a value with a newline would start a new option in oslo.config, so it is refused."""
    lines: list[str] = []
    for name, options in sections.items():
        lines.append(f"[{name}]")
        for key, value in options.items():
            if "\n" in value:
                raise BerthError(f"tempest.conf [{name}] {key}: a value may not contain a newline")
            lines.append(f"{key} = {value}")
        lines.append("")
    return "\n".join(lines)


def tempest_conf(facts: CloudFacts, creds: Credentials) -> str:
    check_facts(facts)
    return render_ini(tempest_sections(facts, creds))
