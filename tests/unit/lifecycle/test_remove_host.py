"""remove-host's decisions over a fake cloud: refuse with servers, disable once, forget services and agents."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest

from berth.errors import BerthError
from berth.lifecycle import remove_host


class FakeCloud:
    """The few openstacksdk calls remove-host makes, recorded."""

    def __init__(self, servers: list[Any]) -> None:
        self.calls: list[tuple[str, str]] = []
        self.services = [NS(host="c4", binary="nova-compute", status="enabled", state="up", id="s1"),
                         NS(host="c2", binary="nova-compute", status="enabled", state="up", id="s2")]
        self.agents = {"c4": [NS(agent_type="Linux bridge agent", is_alive=True, id="a1")]}
        self.servers = servers
        self.compute = NS(services=lambda: list(self.services), servers=self._servers,
                          disable_service=lambda s, h, b, disabled_reason: self.calls.append(("disable", s.id)),
                          delete_service=self._delete_service)
        self.network = NS(agents=lambda host: list(self.agents.get(host, [])), delete_agent=self._delete_agent)

    def _servers(self, all_projects: bool, compute_host: str) -> list[Any]:
        assert all_projects
        return list(self.servers)  # as if the API ignored the filter: remove-host must check the host itself

    def _delete_service(self, service: Any) -> None:
        self.calls.append(("delete service", service.id))
        self.services.remove(service)

    def _delete_agent(self, agent: Any) -> None:
        self.calls.append(("delete agent", agent.id))
        self.agents["c4"].remove(agent)


def test_servers_on_the_host_refuse_removal_naming_them() -> None:
    cloud = FakeCloud([NS(compute_host="c4", name="vm1", id="i1", status="ACTIVE")])
    found = remove_host.find(cloud, "c4")
    with pytest.raises(BerthError, match=r"1 server\(s\) still run on c4: vm1 \(i1\)") as err:
        remove_host.check(found, migrate=False)
    assert "--migrate" in (err.value.hint or "")
    remove_host.check(found, migrate=True)  # migrating them first is allowed


def test_disable_then_forget_only_that_hosts_services_and_agents_and_again_is_a_no_op() -> None:
    cloud = FakeCloud([NS(compute_host="c2", name="vm2", id="i2", status="ACTIVE")])
    found = remove_host.find(cloud, "c4")
    assert found.servers == () and "nova service nova-compute (enabled, up)" in found.describe()
    remove_host.disable_compute(cloud, found, lambda _m: None)
    done = remove_host.forget(cloud, "c4", lambda _m: None)
    assert cloud.calls == [("disable", "s1"), ("delete service", "s1"), ("delete agent", "a1")]
    assert len(done) == 2 and [s.host for s in cloud.services] == ["c2"]
    assert remove_host.forget(cloud, "c4", lambda _m: None) == []
