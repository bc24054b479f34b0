# Shared by scripts/aio.sh and scripts/test.sh: root check and the project's virtualenv.
# The venv is rebuilt only when pyproject.toml changes (a stamp holds its hash), so re-runs are fast.

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: run this as root (it installs packages and starts the Docker engine)" >&2
        echo "hint: sudo $0" >&2
        exit 8
    fi
}

ensure_python() {
    # A fresh Debian 12 may lack python3's venv module (package python3-venv).
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        echo "==> installing python3 and python3-venv"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip
    fi
}

ensure_venv() {
    # $1: pip extras to install with berth ("test" for the test suite). An install with extras also serves a
    # caller that needs none, so scripts/aio.sh and scripts/test.sh do not reinstall after each other.
    local extras="${1:-}"
    local venv="${BERTH_VENV:-$PWD/.venv}"
    local stamp="$venv/.berth-stamp"
    local hash have
    hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    ensure_python
    if [ ! -x "$venv/bin/python" ]; then
        echo "==> creating virtualenv $venv"
        python3 -m venv "$venv"
    fi
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [ "$have" != "$hash-$extras" ] && { [ -n "$extras" ] || [ "${have%-*}" != "$hash" ]; }; then
        echo "==> installing berth${extras:+ with [$extras]} and its dependencies into $venv"
        "$venv/bin/pip" install -q --upgrade pip
        "$venv/bin/pip" install -q -e ".${extras:+[$extras]}"
        echo "$hash-$extras" > "$stamp"
    fi
    export PATH="$venv/bin:$PATH"
}
