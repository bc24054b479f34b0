#!/usr/bin/env bash
# berth's test suite on this host: unit tests, integration tests against the real Docker engine,
# and the whole-cloud end-to-end tests. Installs what it needs (bootstrap-host) first.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not e2e"` or `scripts/test.sh tests/unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
need_root
ensure_venv test
echo "==> berth bootstrap-host"
berth bootstrap-host
echo "==> pytest"
exec python -m pytest -p no:cacheprovider "${@:-tests}"
