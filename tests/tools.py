"""The programs the test suite runs, each with the Debian package that provides it.

`scripts/test.sh` installs the missing ones (`python -m tests.tools --install`) before pytest starts, and
`tests/conftest.py` refuses to start when one is still missing, naming the package: a test never skips or
fails deep inside because a tool is absent. `tests/unit/test_hygiene.py` checks that every program a test or
benchmark calls is listed here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

# program -> Debian package. berth's own CLI runs as `python -m berth` and needs no entry.
TOOLS: dict[str, str] = {
    "apt-get": "apt",
    "bash": "bash",
    "cpio": "cpio",
    "dig": "bind9-dnsutils",
    "docker": "docker.io",
    "git": "git",
    "ip": "iproute2",
    "iptables": "iptables",
    "ldd": "libc-bin",
    "nsenter": "util-linux",
    "pgrep": "procps",
    "ping": "iputils-ping",
    "sh": "dash",
    "ssh": "openssh-client",
    "zcat": "gzip",
}


def missing() -> dict[str, str]:
    """Programs not found on PATH (plus the system directories root's PATH may lack), with their packages."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return {tool: package for tool, package in TOOLS.items() if shutil.which(tool, path=path) is None}


def install() -> int:
    absent = missing()
    if not absent:
        return 0
    packages = sorted(set(absent.values()))
    print(f"==> installing the test tools {', '.join(sorted(absent))} (packages {' '.join(packages)})", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
    proc = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env,
                          check=False)
    still = missing()
    if proc.returncode or still:
        print(f"error: could not install {', '.join(sorted(set(still.values())))}", file=sys.stderr)
        return 1
    return 0


def describe(absent: dict[str, str]) -> str:
    tools = ", ".join(f"{tool} (package {package})" for tool, package in sorted(absent.items()))
    packages = " ".join(sorted(set(absent.values())))
    return (f"the test suite needs programs that are not installed: {tools}\n"
            f"fix: run the tests with scripts/test.sh (it installs them), or `apt-get install {packages}`")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--install", action="store_true", help="apt-get install the missing packages")
    args = parser.parse_args()
    if args.install:
        return install()
    absent = missing()
    if absent:
        print(describe(absent), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
