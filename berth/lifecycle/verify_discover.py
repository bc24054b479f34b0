"""What tempest needs to know about the deployed cloud, asked from its APIs (one openstacksdk session).

The catalog says which services exist; each API's version document says its microversion range; Neutron and
Cinder list their extensions. The image and flavors are berth's own (`berth init-runonce` makes them; found or
made again here the same way), the public network is the external one init-runonce creates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from berth.config.globals import is_enabled
from berth.config.loader import Config
from berth.lifecycle.init_runonce import EXT_NET, connect_cloud, ensure_flavors, ensure_images, horizon_url
from berth.lifecycle.postdeploy import CLOUD_NAME, CLOUDS
from berth.lifecycle.verify_conf import CloudFacts, Credentials, microversion_range, public_urls

Progress = Callable[[str], None]
CACERT_IN_CONTAINER = "/etc/tempest/ca.crt"
FLAVORS = ("m1.tiny", "m1.small")  # init-runonce's two smallest: tempest boots many servers at once


def credentials(config: Config) -> tuple[Credentials, str | None]:
    """The admin credentials of clouds.yaml (written 0600 by post-deploy) and the host path of its CA, if any."""
    entry = yaml.safe_load((config.config_dir / CLOUDS).read_text())["clouds"][CLOUD_NAME]
    auth, cacert = entry["auth"], entry.get("cacert")
    return Credentials(auth_url=auth["auth_url"], username=auth["username"], password=auth["password"],
                       project_name=auth["project_name"], domain_name=auth.get("user_domain_name", "Default"),
                       region=entry.get("region_name") or "RegionOne",
                       cacert=CACERT_IN_CONTAINER if cacert else None), cacert


def _root(url: str, keep_path: bool) -> str:
    """The URL where an API's version document is: the endpoint itself (Nova's /v2.1) or its root (Cinder's)."""
    parts = urlsplit(url)
    if keep_path:
        return url.rstrip("/") + "/"
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def _document(conn: Any, url: str) -> dict[str, Any]:
    """GET a version document (unauthenticated is enough, but the session's token does no harm)."""
    response = conn.session.get(url, endpoint_filter=None, raise_exc=False,
                                headers={"Accept": "application/json"})
    if response.status_code >= 400 and response.status_code != 300:
        return {}
    with contextlib.suppress(ValueError):
        found = response.json()
        return found if isinstance(found, dict) else {}
    return {}


def microversions(conn: Any, catalog: dict[str, str]) -> dict[str, tuple[str, str]]:
    wanted = {"compute": ("compute", True), "volume": ("volumev3", False), "placement": ("placement", True)}
    found: dict[str, tuple[str, str]] = {}
    for kind, (service_type, keep_path) in wanted.items():
        if service_type in catalog:
            span = microversion_range(_document(conn, _root(catalog[service_type], keep_path)))
            if span:
                found[kind] = span
    return found


def _volume_extensions(conn: Any, catalog: dict[str, str]) -> list[str]:
    if "volumev3" not in catalog:
        return []
    response = conn.session.get(catalog["volumev3"].rstrip("/") + "/extensions", raise_exc=False)
    if response.status_code != 200:
        return []
    return sorted(str(e["alias"]) for e in response.json().get("extensions", []))


def _public_network(conn: Any) -> tuple[str, str]:
    """init-runonce's external network, else the only external one; ("", "") when there is none."""
    net = conn.network.find_network(EXT_NET, ignore_missing=True)
    if net is None:
        external = list(conn.network.networks(is_router_external=True))
        net = external[0] if len(external) == 1 else None
    return (net.id, net.name) if net is not None else ("", "")


def _compute_nodes(conn: Any) -> int:
    return max(1, sum(1 for s in conn.compute.services(binary="nova-compute") if s.state == "up"))


def discover(config: Config, conn: Any, progress: Progress) -> CloudFacts:
    """Every fact of `CloudFacts`; the test image and flavors are found, or made as init-runonce makes them."""
    from berth.guest.glance import DISK_IMAGE

    access = conn.session.auth.get_access(conn.session)
    catalog = public_urls(access.service_catalog.catalog, conn.config.region_name)
    images = ensure_images(conn, progress)
    flavors = {item.name: item.id for item in ensure_flavors(conn)}
    net_id, net_name = _public_network(conn)
    return CloudFacts(
        catalog=catalog, microversions=microversions(conn, catalog),
        network_extensions=sorted(e.alias for e in conn.network.extensions()),
        volume_extensions=_volume_extensions(conn, catalog),
        image_id=next(i.id for i in images if i.name == DISK_IMAGE),
        flavor_ids=(flavors[FLAVORS[0]], flavors[FLAVORS[1]]),
        public_network_id=net_id, public_network_name=net_name,
        dashboard_url=horizon_url(config),
        volume_backup=is_enabled(config.globals, "cinder") and "backup" in
        {s.binary.removeprefix("cinder-") for s in conn.block_storage.services()},
        compute_nodes=_compute_nodes(conn))


def cloud_facts(config: Config, progress: Progress) -> tuple[CloudFacts, Credentials, str | None]:
    creds, cacert = credentials(config)
    conn = connect_cloud(config)
    try:
        return discover(config, conn, progress), creds, cacert
    finally:
        conn.close()
