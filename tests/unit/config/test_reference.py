"""The generated globals.yml reference in docs/ and etc/ matches the model, and the example is valid."""

from __future__ import annotations

import re
from pathlib import Path

from berth.config.globals import GlobalsBase, globals_model, service_options
from berth.config.loader import validate_globals
from berth.config.reference import example_globals, replace_switches, replace_table, type_name
from berth.config.yamlfile import mapping_from_text

ROOT = Path(__file__).resolve().parents[3]


def test_docs_table_is_current() -> None:
    document = (ROOT / "docs" / "configuration.md").read_text()
    assert replace_table(document) == document, "run `python -m berth.config.reference` to regenerate"


def test_readme_switch_list_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "| `enable_central_logging` | `false` |" in replace_switches(readme)
    assert replace_switches(readme) == readme, "run `python -m berth.config.reference` to regenerate"


def test_example_globals_is_current() -> None:
    assert (ROOT / "etc" / "berth" / "globals.yml").read_text() == example_globals()


def test_example_uncommented_is_valid_and_equals_defaults() -> None:
    text = re.sub(r"^#(\w+:)", r"\1", example_globals(), flags=re.MULTILINE)
    text = re.sub(r"^#(  )", r"\1", text, flags=re.MULTILINE)
    located = mapping_from_text(text, Path("globals.yml"))
    model, problems = validate_globals(located)
    assert problems == [] and model is not None
    options = {option.name for _service, option in service_options()}
    assert set(located.data) == set(GlobalsBase.model_fields) | options
    defaults = globals_model()()
    assert all(getattr(model, key) == getattr(defaults, key) for key in located.data if key != "image_packages")
    assert model.image_packages["keystone"].append == ["vim-tiny"]


def test_type_names() -> None:
    fields = globals_model().model_fields
    assert type_name(fields["nova_compute_virt_type"].annotation) == "one of `auto`, `kvm`, `qemu`"
    assert type_name(fields["api_address"].annotation) == "string or null"


def test_service_options_are_documented_under_their_service() -> None:
    table = (ROOT / "docs" / "configuration.md").read_text()
    assert "| `neutron_plugin_agent` | neutron | one of `linuxbridge`, `openvswitch` |" in table
    assert "#rabbitmq_epmd_port: 4369" in example_globals()
