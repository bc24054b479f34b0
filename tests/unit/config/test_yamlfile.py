"""Configuration files that cannot hurt: every kind of bad file gives berth's own located error, fast, and never
a traceback. Pure (files in a temporary directory)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.config.yamlfile import MAX_NODES, load_mapping, mapping_from_text
from berth.errors import ConfigError

LOCATED = re.compile(r"^\S+\.yml(:\d+)?(:\d+)?: ")


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    return info.value


def test_a_key_given_twice_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "globals.yml"
    path.write_text("a: 1\nnested:\n  x: 1\n  y: 2\n  x: 3\n")
    error = error_of(path)
    assert error.message == f"{path}:5: key 'x' is given twice in this mapping (first at line 3)"
    assert "keep one" in (error.hint or "")


def test_merge_keys_and_the_same_key_in_two_mappings_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "globals.yml"
    path.write_text("base: &b {x: 1}\none: {<<: *b, y: 2}\ntwo: {<<: *b, y: 3}\n")
    assert load_mapping(path).data["two"] == {"x": 1, "y": 3}


def test_aliases_that_explode_are_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 10)]  # 10**10 values
    path = tmp_path / "globals.yml"
    path.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    error = error_of(path)
    assert time.monotonic() - started < 1.0
    assert f"expand to more than {MAX_NODES:,} values" in error.message and LOCATED.match(error.message)


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "globals.yml"
    path.write_text("a: &loop\n  - *loop\n")
    assert "refers to the node that contains it" in error_of(path).message


@pytest.mark.parametrize(("content", "expected"), [
    (b"a: 1\nb: \xff\xfe\n", ":2: not UTF-8 text (byte 0xff at offset 8)"),
    (b"a: 1\n\x00\x01\x02", ":2: a binary file (NUL byte)"),
])
def test_files_that_are_not_utf8_text_are_located(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "globals.yml"
    path.write_bytes(content)
    assert expected in error_of(path).message


def test_a_directory_a_symlink_loop_and_an_unreadable_file(tmp_path: Path) -> None:
    folder = tmp_path / "globals.yml"
    folder.mkdir()
    assert error_of(folder).message == f"{folder}: is a directory, expected a file"
    loop = tmp_path / "passwords.yml"
    loop.symlink_to(loop)
    assert error_of(loop).message == f"{loop}: cannot read: a symlink loop"
    locked = tmp_path / "inventory.yml"
    locked.write_text("a: 1\n")
    locked.chmod(0)
    if os.geteuid() != 0:  # root reads it anyway
        assert "cannot read: Permission denied" in error_of(locked).message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list("ab:-&*[]{},\n #'\"!|>%@`\t<") + ["x1", "  ", "&a", "*a", "<<", ": "]),
                max_size=60).map("".join))
def test_any_text_gives_a_mapping_or_berths_own_located_error(text: str) -> None:
    try:
        located = mapping_from_text(text, Path("globals.yml"))
    except ConfigError as exc:
        assert LOCATED.match(exc.message) or exc.message.startswith("globals.yml: "), exc.message
    else:
        assert isinstance(located.data, dict)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_mapping_or_berths_own_error(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / "globals.yml"
    path.write_bytes(raw)
    try:
        load_mapping(path)
    except ConfigError as exc:
        assert exc.message.startswith(str(path)), exc.message
