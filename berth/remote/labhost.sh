#!/bin/sh
# Boot script of one berth lab host: `berth lab up` copies it to <host dir>/boot.sh and runs it under a small init
# (PID 1) in fresh mount, UTS and PID namespaces, inside the host's network namespace.
# Usage: boot.sh NAME ADDRESS HOST_DIR
# The order of the mounts matters (docs/lab.md): fresh sysfs keeping the cgroups, then shared propagation,
# then a private /run, then the host's own directories, then dockerd and sshd.
set -eu
name=$1
address=$2
dir=$3
say() { echo "boot $name: $*"; }

hostname "$name"

# 1. A sysfs of this network namespace (/sys/class/net shows only lo and eth0: Ansible facts and neutron read it),
#    keeping the machine's cgroup mounts (dockerd needs them). The mounts are private to this namespace.
mkdir -p "$dir/cgroup-aside"
mount --rbind /sys/fs/cgroup "$dir/cgroup-aside"
umount -l /sys
mount -t sysfs sysfs /sys
mount --move "$dir/cgroup-aside" /sys/fs/cgroup

# 2. Shared propagation inside this mount namespace: containers bind /run/netns with `:shared`.
mount --make-rshared /

# 3. A private /run: the engine's socket, exec root and containerd, sshd's pid, the xtables lock, /run/netns.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/netns /run/sshd /run/lock /run/berth-lab
mount --bind /run/netns /run/netns
mount --make-shared /run/netns
mount --bind "$dir" /run/berth-lab

# 4. The host's own copies of the directories an engine and berth keep state in.
for pair in etc-docker:/etc/docker var-lib-docker:/var/lib/docker etc-berth:/etc/berth \
            var-lib-berth:/var/lib/berth var-log-berth:/var/log/berth; do
    mkdir -p "/run/berth-lab/root/${pair%%:*}"
    mount --bind "/run/berth-lab/root/${pair%%:*}" "${pair#*:}"
done
cp /run/berth-lab/daemon.json /etc/docker/daemon.json
mount --bind /run/berth-lab/hosts /etc/hosts   # this lab's host names (no DNS inside the lab)

# Network sysctls are per network namespace: what berth bootstrap-host sets on a real host.
echo 1 > /proc/sys/net/ipv4/ip_forward
echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind
echo 1 > /proc/sys/net/ipv6/ip_nonlocal_bind 2>/dev/null || true

# 5. The engine (it starts its own containerd: /run is private) and sshd on this host's address.
say "starting dockerd (log: $dir/log/dockerd.log)"
dockerd -H unix:///run/docker.sock -H unix:///run/berth-lab/docker.sock >>/run/berth-lab/log/dockerd.log 2>&1 &
say "starting sshd on $address:22"
exec /usr/sbin/sshd -D -e -f /run/berth-lab/ssh/sshd_config
