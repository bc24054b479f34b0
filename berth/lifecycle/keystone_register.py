"""Keystone registration (projects, roles, services, endpoints, users) with openstacksdk, find-or-create.

One authenticated session per deploy, shared by every service's registration step: separate CLI runs cost about
a second each, and find-or-create makes a re-run after a failure safe.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from berth.errors import DeployError
from berth.retry import retried

ADMIN_DOMAIN = "Default"
# Behind a VIP Keystone answers a few seconds after it is healthy (Keepalived takes the address, HAProxy's checks
# mark the server up; until then HAProxy answers 503): the first call waits this long for a real answer.
REACH_PATIENCE = 60.0


def wait_reachable(url: str, patience: float = REACH_PATIENCE) -> None:
    """Until `url` answers below 500; a refused, unroutable or 5xx answer is tried again until `patience` runs out
    (then the caller's own call fails with its own error)."""
    import urllib.error
    import urllib.request

    def probe() -> None:
        try:
            with urllib.request.urlopen(url, timeout=5):  # the deployment's own Keystone URL
                return
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise

    try:
        retried(probe, lambda exc: isinstance(exc, OSError), patience)
    except OSError:
        pass


class Registrar:
    def __init__(self, auth_url: str, username: str, password: str, project: str, region: str) -> None:
        self.auth: dict[str, Any] = {"auth_url": auth_url, "username": username, "password": password, "project_name": project,
                     "user_domain_name": ADMIN_DOMAIN, "project_domain_name": ADMIN_DOMAIN}
        self.region = region
        self._conn: Any = None
        self._lock = threading.Lock()

    def connection(self) -> Any:
        with self._lock:
            if self._conn is None:
                import openstack

                wait_reachable(self.auth["auth_url"])
                # berth is a service of the cloud: the internal endpoints (the public ones may be TLS with a CA
                # only clients are given)
                self._conn = openstack.connect(**self.auth, region_name=self.region, identity_api_version="3",
                                               interface="internal",
                                               load_yaml_config=False, load_envvars=False)
            return self._conn

    def register(self, data: Mapping[str, Any], passwords: Mapping[str, Any]) -> list[str]:
        """Apply one service's registration; returns what was created or changed."""
        try:
            return self._register(self.connection().identity, data, passwords)
        except DeployError:
            raise
        except Exception as exc:  # openstacksdk raises many types: make it one located failure
            raise DeployError(f"Keystone registration failed: {type(exc).__name__}: {exc}",
                              "check that keystone is healthy (`berth status keystone`), then run `berth deploy` again"
                              ) from exc

    def _register(self, identity: Any, data: Mapping[str, Any], passwords: Mapping[str, Any]) -> list[str]:
        done: list[str] = []
        domain = identity.find_domain(ADMIN_DOMAIN, ignore_missing=False)
        for name in data.get("projects", []):
            if identity.find_project(name, domain_id=domain.id) is None:
                identity.create_project(name=name, domain_id=domain.id)
                done.append(f"project {name}")
        for name in data.get("roles", []):
            if identity.find_role(name) is None:
                identity.create_role(name=name)
                done.append(f"role {name}")
        services = {s.name: s for s in identity.services()}
        for item in data.get("services", []):
            if item["name"] not in services:
                services[item["name"]] = identity.create_service(name=item["name"], type=item["type"],
                                                                 description=item.get("description", ""))
                done.append(f"service {item['name']}")
        for item in data.get("endpoints", []):
            done += self._endpoints(identity, services[item["service"]], item)
        for user in data.get("users", []):
            done += self._user(identity, domain, user, str(passwords.get(user["password"], "")))
        return done

    def _endpoints(self, identity: Any, service: Any, item: Mapping[str, Any]) -> list[str]:
        done = []
        existing = {e.interface: e for e in identity.endpoints(service_id=service.id, region_id=self.region)}
        for interface in item["interfaces"]:
            found = existing.get(interface)
            url = item["urls"][interface]
            if found is None:
                identity.create_endpoint(service_id=service.id, interface=interface, url=url, region_id=self.region)
                done.append(f"endpoint {service.name} {interface}")
            elif found.url != url:
                identity.update_endpoint(found, url=url)
                done.append(f"endpoint {service.name} {interface} url")
        return done

    def _user(self, identity: Any, domain: Any, user: Mapping[str, Any], password: str) -> list[str]:
        found = identity.find_user(user["name"], domain_id=domain.id)
        if found is None:
            found = identity.create_user(name=user["name"], password=password, domain_id=domain.id)
            done = [f"user {user['name']}"]
        else:
            identity.update_user(found, password=password)
            done = []
        project = identity.find_project(user["project"], domain_id=domain.id, ignore_missing=False)
        for role_name in user["roles"]:
            role = identity.find_role(role_name, ignore_missing=False)
            identity.assign_project_role_to_user(project, found, role)
        return done
