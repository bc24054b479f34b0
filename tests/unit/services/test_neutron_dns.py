"""Neutron's DNS integration: with Designate enabled (and `neutron_dns_integration`, on by default) neutron-server
publishes ports' and floating IPs' names there as the neutron user; without Designate nothing of it is set."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.errors import ConfigError
from berth.lifecycle.render import render_desired
from berth.state.desired import DesiredState


def _desired(root: Path, extra: str) -> DesiredState:
    root.mkdir()
    (root / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {root}/state\n"
                                      f"neutron_external_interface: unit-ext0\n{extra}")
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return render_desired(load_config(root), {})


def _ini(state: DesiredState, name: str) -> configparser.ConfigParser:
    server = state.container("neutron_server")
    assert server is not None
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(server.files[name])
    return parser


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DesiredState]:
    root = tmp_path_factory.mktemp("neutron-dns")
    return {"designate": _desired(root / "designate", "enable_designate: true\nneutron_dns_domain: cloud.example.\n"),
            "off": _desired(root / "off", "enable_designate: true\nneutron_dns_integration: false\n"),
            "plain": _desired(root / "plain", "")}


def test_with_designate_ports_are_published_there_as_the_neutron_user(states: dict[str, DesiredState]) -> None:
    conf = _ini(states["designate"], "neutron.conf")
    assert conf["DEFAULT"]["external_dns_driver"] == "designate"
    assert conf["DEFAULT"]["dns_domain"] == "cloud.example."
    designate = conf["designate"]
    assert designate["url"] == "http://127.0.0.1:9001/v2" and designate["username"] == "neutron"
    assert designate["allow_reverse_dns_lookup"] == "false"
    drivers = _ini(states["designate"], "ml2_conf.ini")["ml2"]["extension_drivers"].split(",")
    assert drivers == ["port_security", "dns_domain_ports"]


@pytest.mark.parametrize("case", ["off", "plain"])
def test_without_the_integration_nothing_of_it_is_set(states: dict[str, DesiredState], case: str) -> None:
    conf = _ini(states[case], "neutron.conf")
    assert "external_dns_driver" not in conf["DEFAULT"] and not conf.has_section("designate")
    assert conf["DEFAULT"]["dns_domain"] == "openstack.internal."  # not Neutron's own, which ignores dns_name
    assert _ini(states[case], "ml2_conf.ini")["ml2"]["extension_drivers"] == "port_security"


def test_a_dns_domain_without_its_final_dot_is_refused(tmp_path: Path) -> None:
    (tmp_path / "globals.yml").write_text("neutron_dns_domain: cloud.example\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert [p for p in info.value.details if "globals.yml" in p and "neutron_dns_domain" in p]
