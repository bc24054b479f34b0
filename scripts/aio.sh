#!/usr/bin/env bash
# berth's main job on this host: an all-in-one OpenStack cloud in containers with a test VM running, from nothing.
# Safe to re-run: every step skips what is already done (cached images, no-op deploy, existing secrets, existing
# networks and servers). Configuration: $BERTH_CONFIG_DIR (default /etc/berth).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
need_root
ensure_venv
CONFIG_DIR="${BERTH_CONFIG_DIR:-/etc/berth}"
export BERTH_CONFIG_DIR="$CONFIG_DIR"
START=$(date +%s)

step() { echo; echo "==> berth $*"; berth "$@"; }

step bootstrap-host
if [ ! -e "$CONFIG_DIR/globals.yml" ]; then
    install -d -m 0700 "$CONFIG_DIR"
    install -m 0644 etc/berth/globals.yml "$CONFIG_DIR/globals.yml"
    echo "wrote $CONFIG_DIR/globals.yml (edit it to change the defaults)"
fi
step genpwd
step config validate
# The images of the enabled services only (and their parents): none that no container runs.
step build enabled
step prechecks
step deploy --yes --skip-prechecks
step post-deploy
step init-runonce --boot-test-server
echo
echo "berth: your cloud is ready ($(( $(date +%s) - START ))s)."
cat <<MSG
  ssh key:   $CONFIG_DIR/berth_id_ed25519 (keypair mykey; the test guest has no sshd, it answers ping)
  status:    berth status      remove it all: berth destroy --yes-i-really-really-mean-it
MSG
