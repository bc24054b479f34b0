"""load_config: one Config with globals, secrets and inventory, or one ConfigError listing every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.config.inventory import LOCALHOST
from berth.config.loader import gather, load_config
from berth.config.passwords import genpwd, service_secret_specs
from berth.errors import ConfigError, ExitCode


def test_load_config_wires_everything(tmp_path: Path) -> None:
    genpwd(tmp_path / "passwords.yml", service_secret_specs())
    config = load_config(tmp_path)
    assert config.globals.network_interface == "lo" and config.api_address == "127.0.0.1"
    assert config.inventory.is_all_in_one and config.inventory.hosts_in("control") == [LOCALHOST]
    assert set(config.passwords) == set(service_secret_specs())
    assert config.overrides_dir == tmp_path / "config"


def test_load_config_with_inventory_file(tmp_path: Path) -> None:
    genpwd(tmp_path / "passwords.yml", service_secret_specs())
    inventory = tmp_path / "multinode"
    inventory.write_text("".join(f"[{g}]\nhost1\n" for g in
                                 ("control", "network", "compute", "storage", "monitoring", "deployment")))
    config = load_config(tmp_path, inventory_path=inventory)
    assert not config.inventory.is_all_in_one and config.inventory.groups_of("host1")[0] == "compute"


def test_load_config_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "globals.yml").write_text("network_interface: nosuch0\nimage_tagg: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, inventory_path=tmp_path / "missing")
    err = info.value
    assert err.exit_code == ExitCode.CONFIG and "3 problem(s)" in err.message
    assert err.details == [
        f"{tmp_path}/globals.yml:2: unknown key `image_tagg` (did you mean `image_tag`?)",
        f"{tmp_path}/passwords.yml: does not exist (run `berth --config-dir {tmp_path} genpwd` to create it)",
        f"{tmp_path}/missing: inventory does not exist",
    ]


def test_missing_interface_is_located_in_globals(tmp_path: Path) -> None:
    genpwd(tmp_path / "passwords.yml", service_secret_specs())
    (tmp_path / "globals.yml").write_text("# addresses\nnetwork_interface: nosuch0\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    [problem] = info.value.details
    assert problem.startswith(f"{tmp_path}/globals.yml:2: network_interface: interface `nosuch0` does not exist")


def test_a_service_enabled_without_one_it_requires_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    from berth.config import loader
    from berth.state import model

    defs = {"store": model.ServiceDef(name="store"),
            "user": model.ServiceDef(name="user", depends_on=["store"], requires=["store"]),
            "other": model.ServiceDef(name="other", depends_on=["store"])}  # depends_on alone: only ordering
    monkeypatch.setattr(model, "load_service", defs.__getitem__)
    assert loader.missing_requirements(["user", "store", "other"]) == []
    assert loader.missing_requirements(["other"]) == []
    assert loader.missing_requirements(["user", "other"]) == [
        "globals.yml: enable_user: user requires store; set enable_store: true or disable user"]


def test_an_option_value_that_requires_a_disabled_service_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from berth.config import loader
    from berth.services.options import OptionDef
    from berth.state import model

    option = OptionDef(name="store_backend", choices=["file", "shared"], default="file", description="d",
                       requires={"shared": ["cluster"]})
    defs = {"store": model.ServiceDef(name="store", options=[option]), "cluster": model.ServiceDef(name="cluster")}
    monkeypatch.setattr(model, "load_service", defs.__getitem__)
    chosen = SimpleNamespace(store_backend="shared")
    assert loader.option_requirements(chosen, ["store", "cluster"]) == []  # type: ignore[arg-type]
    assert loader.option_requirements(SimpleNamespace(store_backend="file"), ["store"]) == []  # type: ignore[arg-type]
    assert loader.option_requirements(chosen, ["store"]) == [  # type: ignore[arg-type]
        "globals.yml: store_backend: shared requires cluster; set enable_cluster: true or store_backend: file"]


def test_the_real_services_name_what_they_cannot_run_without(tmp_path: Path) -> None:
    """Keystone switched off under the default services: every service that needs it is named with both switches;
    an empty external interface while Neutron is enabled is refused at its line."""
    genpwd(tmp_path / "passwords.yml", service_secret_specs())
    (tmp_path / "globals.yml").write_text("enable_keystone: false\nneutron_external_interface: ''\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    expected = (f"{tmp_path}/globals.yml:2: `neutron_external_interface`: expected a string matching "
                "^[A-Za-z0-9_.:-]{1,15}$, got ''")
    assert info.value.details == [expected]
    (tmp_path / "globals.yml").write_text("enable_keystone: false\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "globals.yml: enable_glance: glance requires keystone; set enable_keystone: true or disable glance" in \
        info.value.details
    assert {p.split(":")[1].strip() for p in info.value.details} >= {
        "enable_glance", "enable_placement", "enable_nova", "enable_neutron", "enable_heat", "enable_horizon"}


def test_an_inventory_group_without_hosts_is_a_problem_for_the_services_that_need_it(tmp_path: Path) -> None:
    genpwd(tmp_path / "passwords.yml", service_secret_specs())
    inventory = tmp_path / "multinode"
    inventory.write_text("[deployment]\n[control]\n[network]\nh1 ansible_host=192.0.2.10\n[compute]\nh1\n"
                         "[storage]\n[monitoring]\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, inventory_path=inventory)
    [problem] = info.value.details
    assert problem.startswith(f"{inventory}: group `control` has no host, but glance, heat, horizon, keystone, ")
    assert "add a host under [control] or disable glance" in problem
    inventory.write_text("[deployment]\n[control]\nh1 ansible_host=192.0.2.10\n[network]\nh1\n[compute]\n"
                         "[storage]\n[monitoring]\n")
    config, problems, warnings = gather(tmp_path, inventory)
    assert config is not None and problems == []
    idle = f"{inventory}: group `compute` has no host: nova_libvirt, nova_ssh, nova_compute run nowhere until it has one"
    assert warnings == [idle]
