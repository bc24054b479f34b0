"""Runs tempest inside berth's tempest container and reports each test as one JSON line on stdout.

`berth verify` reads these lines from the container's output while it runs (its progress line) and saves them.
Tempest's own output (subunit) is decoded here, where python3-subunit is installed, so berth's host side needs
no subunit library. Arguments: the concurrency, then the test selection of `tempest run` (--smoke, --regex R).

Lines: {"event": "listed", "count": N}, one {"event": "test", "id", "status", "seconds", "reason"} per test,
then {"event": "end", "code": tempest's exit status}. Anything else tempest prints goes to stderr.
"""

import json
import os
import subprocess
import sys

from subunit import ByteStreamToStreamResult
from testtools import StreamToDict

CONF = "/etc/tempest/tempest.conf"
WORK = "/var/lib/tempest/work"
REASON_LINES = 12  # the end of a traceback says why; its start is tempest's own frames


def emit(record):
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def text(details, key):
    content = details.get(key)
    if content is None:
        return ""
    try:
        return "".join(content.iter_text())
    except (LookupError, ValueError, TypeError):  # not text (an attachment): nothing useful here
        return ""


def reason(test):
    details = test["details"]
    found = text(details, "traceback") or text(details, "reason")
    lines = [line for line in found.rstrip().splitlines() if line.strip()]
    return "\n".join(lines[-REASON_LINES:])


def seconds(test):
    start, stop = test["timestamps"]
    return round((stop - start).total_seconds(), 3) if start and stop else None


def on_test(test):
    if test["status"] == "exists":
        return
    emit({"event": "test", "id": test["id"], "status": test["status"], "seconds": seconds(test),
          "reason": reason(test) if test["status"] not in ("success",) else ""})


def tempest(*args, **kwargs):
    return subprocess.Popen(["tempest", "run", "--config-file", CONF, *args], cwd=WORK, **kwargs)


def count(selection):
    listing = tempest("--list-tests", *selection, stdout=subprocess.PIPE, stderr=sys.stderr)
    out, _ = listing.communicate()
    names = [line for line in out.decode(errors="replace").splitlines() if "." in line and " " not in line.strip()]
    return len(names) if listing.returncode == 0 else None


def main(argv):
    concurrency, selection = argv[0], argv[1:]
    os.makedirs(WORK, exist_ok=True)
    if not os.path.isdir(os.path.join(WORK, ".stestr")):  # listing needs the test repository tempest run makes
        subprocess.run(["stestr", "init"], cwd=WORK, stdout=subprocess.DEVNULL, check=True)
    emit({"event": "listed", "count": count(selection)})
    run = tempest("--subunit", "--concurrency", concurrency, *selection, stdout=subprocess.PIPE, stderr=sys.stderr)
    result = StreamToDict(on_test)
    result.startTestRun()
    ByteStreamToStreamResult(run.stdout, non_subunit_name="stdout").run(result)
    result.stopTestRun()
    code = run.wait()
    emit({"event": "end", "code": code})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
