"""`berth build enabled`: the word stands for the services globals.yml enables, and nothing else changes."""

from __future__ import annotations

from berth.cli.commands.build import with_enabled
from berth.config.globals import globals_model


def test_enabled_is_the_services_globals_enables() -> None:
    names = with_enabled(globals_model()(enable_designate=True, enable_heat=False), ("enabled", "registry"))
    assert "designate" in names and "keystone" in names and "nova" in names
    assert "heat" not in names and "ceph" not in names
    assert names[-1] == "registry" and len(set(names)) == len(names)


def test_other_words_pass_unchanged() -> None:
    assert with_enabled(globals_model()(), ("core", "registry")) == ("core", "registry")
    assert with_enabled(globals_model()(), ()) == ()
