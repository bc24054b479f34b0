"""A stand-in for `berth` on a host, for transport tests: `fakeberth.py LOGDIR HOST MODE <berth arguments>`.

`observe --json` prints an empty host's observation; `--json apply-plan FILE` checks the shipped file (mode 0600,
a plan for HOST) and prints results, or fails like a failed deploy when MODE is `fail`. Every call is logged.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path


def main() -> int:
    logdir, host, mode, *args = sys.argv[1:]
    with open(Path(logdir) / f"{host}.log", "a") as log:
        log.write(" ".join(args) + "\n")
    if "observe" in args:
        deployment = args[args.index("--deployment") + 1]
        print(json.dumps({"version": 2, "hostname": host, "actual": {"deployment": deployment, "containers": [],
                                                                   "images": {}, "volumes": {}, "stamps": {}}}))
        return 0
    plan = Path(args[-1])
    assert stat.S_IMODE(os.stat(plan).st_mode) == 0o600, oct(os.stat(plan).st_mode)
    assert json.loads(plan.read_text())["host"] == host
    ok = mode != "fail"
    status = "succeeded" if ok else "failed"
    print(json.dumps({"host": host, "results": {"ok": ok, "elapsed": 1.5, "services": {
        "memcached": {"status": status, "message": "" if ok else "not healthy", "elapsed": 1.0, "done": []}}}}))
    if not ok:
        print("error: deploy failed in memcached: memcached did not become healthy", file=sys.stderr)
        print("  last log line of memcached", file=sys.stderr)
        return 7
    return 0


if __name__ == "__main__":
    sys.exit(main())
