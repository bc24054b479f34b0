#!/usr/bin/env bash
# berth's test suite on this host: unit tests, integration tests against the real Docker engine,
# and the whole-cloud end-to-end tests. Installs what it needs first (bootstrap-host, then the test tools).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not e2e"` or `scripts/test.sh tests/unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
need_root
ensure_venv test,multinode
echo "==> berth bootstrap-host"
berth bootstrap-host
# the programs the tests run (cpio, ping, ...): tests/tools.py names each with its package
python -m tests.tools --install
echo "==> pytest"
exec python -m pytest -p no:cacheprovider "${@:-tests}"
