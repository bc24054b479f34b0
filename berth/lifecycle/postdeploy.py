"""`berth post-deploy`: admin credentials for the standard clients, written mode 0600 into the config dir."""

from __future__ import annotations

from pathlib import Path

import yaml

from berth.config import certificates
from berth.config.loader import Config
from berth.lifecycle.wiring import exports
from berth.private import write_private

OPENRC = "admin-openrc.sh"
CLOUDS = "clouds.yaml"
CLOUD_NAME = "berth-admin"


def credentials(config: Config) -> dict[str, str]:
    """The cloud administrator as keystone exports it (public URL: these files are for clients)."""
    keystone = exports(config)
    admin = keystone["keystone_admin"]
    return {
        "auth_url": f"{keystone['keystone_public_url']}/v3",
        "username": admin["username"],
        "password": str(config.passwords.get(admin["password_key"], "")),
        "project_name": admin["project_name"],
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "region_name": admin["region_name"],
        # TLS on the external VIP: clients trust berth's CA (or the operator's), by path
        **({"cacert": str(certificates.folder(config.config_dir) / certificates.CA_CERT)}
           if config.globals.enable_tls_external else {}),
    }


def openrc_text(creds: dict[str, str]) -> str:
    def quote(value: str) -> str:
        return "'" + value.replace("'", "'\\''") + "'"

    lines = ["# berth: admin credentials; `. admin-openrc.sh` then use the openstack client",
             "for key in $( set | awk -F= '/^OS_/ {print $1}' ); do unset \"$key\"; done",
             f"export OS_AUTH_URL={quote(creds['auth_url'])}", f"export OS_USERNAME={quote(creds['username'])}",
             f"export OS_PASSWORD={quote(creds['password'])}",
             f"export OS_PROJECT_NAME={quote(creds['project_name'])}",
             "export OS_USER_DOMAIN_NAME=Default", "export OS_PROJECT_DOMAIN_NAME=Default",
             f"export OS_REGION_NAME={quote(creds['region_name'])}", "export OS_IDENTITY_API_VERSION=3",
             "export OS_INTERFACE=public"]
    if creds.get("cacert"):
        lines.append(f"export OS_CACERT={quote(creds['cacert'])}")
    lines.append("")
    return "\n".join(lines)


def clouds_text(creds: dict[str, str]) -> str:
    auth = {k: creds[k] for k in ("auth_url", "username", "password", "project_name", "user_domain_name",
                                  "project_domain_name")}
    cloud: dict[str, object] = {"auth": auth, "region_name": creds["region_name"], "identity_api_version": 3,
                                "interface": "public"}
    if creds.get("cacert"):
        cloud["cacert"] = creds["cacert"]
    return yaml.safe_dump({"clouds": {CLOUD_NAME: cloud}}, sort_keys=False)


def write_credentials(config: Config) -> list[Path]:
    creds = credentials(config)
    out = [config.config_dir / OPENRC, config.config_dir / CLOUDS]
    write_private(out[0], openrc_text(creds))
    write_private(out[1], clouds_text(creds))
    return out
