#!/bin/busybox sh
# notifier-top test-bed init (PID 1 of the initramfs). Mounts the host root read-only over
# virtio-9p, the writable output share, makes the guest kernel's modules visible to plain
# modprobe, then runs the requested command chrooted into the host root and reports its
# exit status on the console as "NT-VM-EXIT <status>".
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do
    insmod "/modules/$m.ko" 2>/dev/null || echo "nt-vm: insmod $m failed"
done
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
R=/root
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot $R \
    || { echo "nt-vm: cannot mount the host root"; echo "NT-VM-EXIT 125"; poweroff -f; }
# A second view of the host root, kept free of the guest's own mounts below.
mkdir -p /host && mount -o bind $R /host
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts 2>/dev/null; mount -t devpts devpts $R/dev/pts 2>/dev/null
mount -t tmpfs tmpfs $R/tmp
mount -t tmpfs tmpfs $R/run
mount -t tmpfs tmpfs $R/var/tmp 2>/dev/null
mount -t tracefs tracefs $R/sys/kernel/tracing
mount -t debugfs debugfs $R/sys/kernel/debug
mount -t bpf bpf $R/sys/fs/bpf
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
# Host paths the command needs (project, target dir, cwd) that the tmpfs mounts above hide
# (a clone in /tmp) are bound back from the host root.
for p in $(arg ntkeep | tr ':' ' '); do
    [ -e "$R$p" ] || { mkdir -p "$R$p" && mount -o bind "/host$p" "$R$p"; } \
        || echo "nt-vm: cannot make $p visible"
done
# Plain `modprobe NAME` for the guest kernel: its modules over the host's /lib/modules.
REL=$(uname -r)
MODS=$(arg ntmods)
mount -t tmpfs tmpfs $R/usr/lib/modules
mkdir -p $R/usr/lib/modules/$REL
mount -o bind "/host$MODS" $R/usr/lib/modules/$REL
mkdir -p $R/run/vm-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmout $R/run/vm-out \
    || echo "nt-vm: no output share"
hostname nt-vm
echo "nt-vm: kernel $REL ready"
if [ -n "$(arg ntterm)" ]; then
    # Attached to the host's terminal (xtask vm with a terminal): the console becomes the
    # command's controlling tty, sized like the host's.
    stty -F /dev/ttyS0 rows "$(arg ntrows)" cols "$(arg ntcols)" sane
    TERM=$(arg ntterm) setsid -c chroot $R /bin/sh "$(arg ntcmd)" <>/dev/ttyS0 >&0 2>&1
    rc=$?
    echo $rc > $R/run/vm-out/.nt-vm-exit
else
    chroot $R /bin/sh "$(arg ntcmd)" </dev/null
    rc=$?
fi
echo "NT-VM-EXIT $rc"
sync
poweroff -f
