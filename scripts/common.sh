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
    local extras="${1:-}"
    local venv="${BERTH_VENV:-$PWD/.venv}"
    local stamp="$venv/.berth-stamp"
    local want
    want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)-${extras}"
    ensure_python
    if [ ! -x "$venv/bin/python" ]; then
        echo "==> creating virtualenv $venv"
        python3 -m venv "$venv"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "==> installing berth and its dependencies into $venv"
        "$venv/bin/pip" install -q --upgrade pip
        "$venv/bin/pip" install -q -e ".${extras:+[$extras]}"
        echo "$want" > "$stamp"
    fi
    export PATH="$venv/bin:$PATH"
}
