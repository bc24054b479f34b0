#!/bin/sh
# /init of berth's test guest (busybox only). It proves a cloud works end to end: the virtio NIC comes up,
# DHCP gives an address, the metadata service answers with this instance's id, and the console shows it all.
# Kernel command line knobs: berth.metadata_timeout=SECONDS (default 30), berth.dhcp_tries=N (default 15).
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /run /tmp /etc /www
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

param() {  # param NAME DEFAULT: value of NAME=... on the kernel command line
    v=$(tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | tail -n 1)
    echo "${v:-$2}"
}

say() {  # marker lines go to the console, and also to ttyS0 when the console is elsewhere
    echo "$*"
    grep -q 'console=ttyS0' /proc/cmdline || { [ -c /dev/ttyS0 ] && echo "$*" > /dev/ttyS0; }
}

for m in $(cat /etc/berth/modules); do
    insmod "/lib/modules/$m.ko" || echo "berth-guest: insmod $m failed"
done
echo 1 > /proc/sys/kernel/printk   # keep kernel messages from splitting the marker lines

ip link set lo up
iface=""
for _ in $(seq 50); do
    iface=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
    [ -n "$iface" ] && break
    sleep 0.1
done

addr=none
if [ -n "$iface" ]; then
    ip link set "$iface" up
    udhcpc -i "$iface" -s /etc/udhcpc.script -t "$(param berth.dhcp_tries 15)" -T 2 -b
    [ -s /run/berth-ip ] && addr=$(cat /run/berth-ip)
fi

fetch() {  # busybox 1.35's `wget -T` crashes when a connection fails, so `timeout` bounds it instead
    timeout 5 wget -q -O - "$1" 2>/dev/null
}

metadata_id() {  # OpenStack metadata first, EC2-style as the fallback
    fetch http://169.254.169.254/openstack/latest/meta_data.json \
        | grep -o '"uuid": *"[^"]*"' | head -n 1 | cut -d '"' -f 4 | grep . && return 0
    fetch http://169.254.169.254/latest/meta-data/instance-id | grep .
}

id=unknown
deadline=$(( $(date +%s) + $(param berth.metadata_timeout 30) ))
while [ "$addr" != none ]; do
    got=$(metadata_id) && { id=$(echo "$got" | head -n 1); break; }
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 1
done

say "BERTH-TEST-GUEST-OK"
say "BERTH-IP $addr"
say "BERTH-INSTANCE-ID $id"
printf 'BERTH-TEST-GUEST-OK\nBERTH-IP %s\nBERTH-INSTANCE-ID %s\n' "$addr" "$id" > /www/index.html
httpd -p 80 -h /www

# Disks beyond the root disk (vda), e.g. a volume attached to the running server: checked every second. On a
# disk not seen before the guest reads the first sector: a line `BERTH-DISK-MARK <token>` there is reported as
# `BERTH-DISK <dev> found <token>`; otherwise it writes a new token there and reports `BERTH-DISK <dev> wrote
# <token>`. A disk that goes away (detached) is reported as `BERTH-DISK <dev> gone`. So a test proves a volume
# keeps what the guest wrote: attach (wrote T), detach (gone), attach again (found T).
disk_mark() {
    got=$(dd if="/dev/$1" bs=512 count=1 2>/dev/null | tr -d '\000' | head -n 1 \
        | sed -n 's/^BERTH-DISK-MARK \([0-9a-f-][0-9a-f-]*\)$/\1/p')
    if [ -n "$got" ]; then
        say "BERTH-DISK $1 found $got"
        return
    fi
    token=$(cat /proc/sys/kernel/random/uuid)
    if printf 'BERTH-DISK-MARK %s\n' "$token" | dd of="/dev/$1" bs=512 count=1 conv=sync,fsync 2>/dev/null; then
        sync
        say "BERTH-DISK $1 wrote $token"
    else
        say "BERTH-DISK $1 write-failed"
    fi
}
watch_disks() {
    seen=""
    while :; do
        now=""
        for d in $(ls /sys/block 2>/dev/null | grep '^vd[b-z]'); do
            # a hot-plugged disk: its node and its size may come a moment after its sysfs entry
            [ -b "/dev/$d" ] && [ "$(cat "/sys/block/$d/size" 2>/dev/null || echo 0)" != 0 ] || continue
            now="$now $d"
            case " $seen " in *" $d "*) ;; *) disk_mark "$d" ;; esac
        done
        for d in $seen; do
            case " $now " in *" $d "*) ;; *) say "BERTH-DISK $d gone" ;; esac
        done
        seen=$now
        sleep 1
    done
}
watch_disks &

# User data may ask the guest to reach other addresses: a line `berth-ping ADDRESS` pings it (up to a minute)
# and says `BERTH-PING ADDRESS ok` or `BERTH-PING ADDRESS failed` on the console: how a test proves that one
# server reaches another (through a router, across hosts) without logging in.
ping_until() {
    for _ in $(seq 30); do
        ping -c 1 -W 2 "$1" >/dev/null 2>&1 && { say "BERTH-PING $1 ok"; return; }
    done
    say "BERTH-PING $1 failed"
}
if [ "$addr" != none ]; then
    for target in $(fetch http://169.254.169.254/openstack/latest/user_data | sed -n 's/^berth-ping  *//p'); do
        ping_until "$target" &
    done
fi

# PID 1 must never exit (the kernel would panic); waiting also reaps orphaned processes.
while :; do
    sleep 3600 &
    wait
done
