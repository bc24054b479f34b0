"""Guards for a fresh machine: no path of one development machine, no program the README's commands don't install.

Both classes of failure pass on the machine a change was made on and fail on a fresh Debian 12 machine, so each
is checked statically here rather than found by a run elsewhere.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools import TOOLS

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("berth", "tests", "bench", "scripts", ".ci")
TEXT_SUFFIXES = {".py", ".sh", ".yml", ".yaml", ".j2", ".cfg", ".ini", ".toml", ".json", ".txt", ".md", ""}

# First components of absolute paths that belong to one machine or one person, never to the system or the
# repository: home directories and the folders development machines keep their work in.
PERSONAL_TOPS = {"home", "Users", "work", "workspace", "workspaces", "mnt", "media"}
# Components that mean "a virtualenv or interpreter install": the README's commands make only ./.venv.
ENV_PARTS = {"venv", ".venv", "virtualenv", ".virtualenvs", ".pyenv"}
# Inside images berth builds, root's cache is a system path (the recipes empty it).
ALLOWED = {"/root/.cache"}
ABSOLUTE = re.compile(r"(?<![\w.:/@$}-])(/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*)")


def scanned_files() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts:
                yield path


def machine_paths(text: str, checkout: Path) -> list[str]:
    """Absolute paths in `text` that exist only on some machine: personal folders, virtualenvs, this checkout."""
    out = []
    for match in ABSOLUTE.finditer(text):
        path = match.group(1)
        parts = path.strip("/").split("/")
        if path in ALLOWED or any(path.startswith(a + "/") for a in ALLOWED):
            continue
        personal = parts[0] in PERSONAL_TOPS or (parts[0] == "root" and len(parts) > 1)
        if personal or ENV_PARTS & set(parts) or path.startswith(str(checkout.parent) + "/"):
            out.append(path)
    return out


@pytest.mark.parametrize("text, found", [
    ('BERTH = "/h' + 'ome/dev/venv/bin/berth"', ["/h" + "ome/dev/venv/bin/berth"]),
    ("Run: /w" + "ork/venv/bin/python bench/x.py", ["/w" + "ork/venv/bin/python"]),
    ("exec /opt/.venv/bin/berth", ["/opt/.venv/bin/berth"]),
    ("rm -rf /root/.cache /var/lib/apt/lists/*", []),
    ("http://127.0.0.1:5000/v3 and /etc/berth/globals.yml and /usr/bin/qemu", []),
    ("mysql+pymysql://u:p@127.0.0.1:3306/keystone", []),
])
def test_machine_paths_finds_personal_and_virtualenv_paths(text: str, found: list[str]) -> None:
    assert machine_paths(text, Path("/nowhere/repo")) == found


def test_no_file_names_a_path_of_one_machine() -> None:
    problems = []
    for path in scanned_files():
        if path == Path(__file__).resolve():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            problems += [f"{path.relative_to(ROOT)}:{number}: {p}" for p in machine_paths(line, ROOT)]
    assert not problems, ("paths of one machine (find berth and python from sys.executable, files from the "
                          "repository):\n" + "\n".join(problems))


# --- programs the tests and benchmarks run -------------------------------------------------------------------------

RUNNERS = {"run", "check_output", "check_call", "call", "Popen"}
SHELLS = {"bash", "sh"}


def programs(source: str) -> set[str]:
    """Programs started by subprocess calls whose command is a literal: list heads, and the words that start
    each command of a shell string (`a | b && c`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUNNERS
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "subprocess" and node.args):
            continue
        command = node.args[0]
        if isinstance(command, ast.List) and command.elts and isinstance(command.elts[0], ast.Constant):
            found.add(str(command.elts[0].value))
        elif isinstance(command, (ast.Constant, ast.JoinedStr)):
            found |= shell_heads(_literal_text(command))
    return found


def _literal_text(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    parts = [v.value if isinstance(v, ast.Constant) else "X" for v in getattr(node, "values", [])]
    return "".join(str(p) for p in parts)


def shell_heads(script: str) -> set[str]:
    heads = set()
    for command in re.split(r"\|\||&&|[|;\n]", script):
        words = command.split()
        if words and re.fullmatch(r"[a-z][a-z0-9_.-]*", words[0]):
            heads.add(words[0])
    return heads


def test_programs_reads_list_heads_and_shell_strings() -> None:
    source = ('import subprocess\nsubprocess.run(["ip", "link"])\n'
              'subprocess.run(f"zcat {x} | cpio -t", shell=True)\nsubprocess.Popen([sys.executable, "-m", "x"])\n')
    assert programs(source) == {"ip", "zcat", "cpio"}


def test_every_program_the_tests_run_is_installed_by_the_test_command() -> None:
    unlisted = {}
    for top in ("tests", "bench"):
        for path in sorted((ROOT / top).rglob("*.py")):
            for program in programs(path.read_text()) - set(TOOLS):
                unlisted.setdefault(program, []).append(str(path.relative_to(ROOT)))
    assert not unlisted, ("programs run by tests or benchmarks but missing from tests/tools.py TOOLS (add each "
                          f"with its Debian package, so scripts/test.sh installs it): {unlisted}")
