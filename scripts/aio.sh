#!/usr/bin/env bash
# berth's main job on this host: an all-in-one OpenStack cloud in containers, from nothing.
# Safe to re-run: every step skips what is already done (cached images, no-op deploy, existing secrets).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
need_root
ensure_venv
CONFIG_DIR="${BERTH_CONFIG_DIR:-/etc/berth}"
export BERTH_CONFIG_DIR="$CONFIG_DIR"

step() { echo; echo "==> berth $*"; berth "$@"; }

step bootstrap-host
if [ ! -e "$CONFIG_DIR/globals.yml" ]; then
    install -d -m 0700 "$CONFIG_DIR"
    install -m 0644 etc/berth/globals.yml "$CONFIG_DIR/globals.yml"
    echo "wrote $CONFIG_DIR/globals.yml (edit it to change the defaults)"
fi
step genpwd
step config validate
for cmd in build prechecks deploy post-deploy init-runonce; do
    if ! berth "$cmd" --help >/dev/null 2>&1; then
        echo "note: \`berth $cmd\` is not available in this version yet; stopping here"
        exit 0
    fi
    case "$cmd" in
        build) step build core ;;
        deploy) step deploy --yes --skip-prechecks ;;
        init-runonce) step init-runonce --boot-test-server ;;
        *) step "$cmd" ;;
    esac
done
cat <<MSG

berth: your cloud is ready.
  credentials:  source $CONFIG_DIR/admin-openrc.sh   (or OS_CLOUD=berth-admin with $CONFIG_DIR/clouds.yaml)
  passwords:    $CONFIG_DIR/passwords.yml (mode 0600)
  status:       berth status
MSG
