# bpftrace attaches kprobe:mmu_interval_notifier_insert and counts the interval inserts of an
# ODP pingpong (each side registers its buffer: at least 2). Proves the guest can run tracing
# tools against the kernel under test.
# timeout: 240
. tests/vm/lib.sh
case "$NT_RELEASE" in 7.*) ;; *) skip "the ODP workload needs 7.x" ;; esac
out=$VM_OUT/03-bpftrace
# count(): per-CPU counters (`@n++` loses increments made on two CPUs at once); bpftrace prints
# `@inserts: N` when it exits.
bpftrace -e 'kprobe:mmu_interval_notifier_insert { @inserts = count(); }' > $out.bt 2>&1 &
bt=$!
# bpftrace compiles with LLVM first (slow under emulation): wait until it has attached.
i=0
until grep -q "^Attaching" $out.bt; do
    kill -0 $bt 2>/dev/null || fail "bpftrace exited: $(cat $out.bt)"
    i=$((i + 1)); [ $i -lt 900 ] || fail "bpftrace did not attach within 180s"
    sleep 0.2
done
nt-rxe-pingpong -o -n 20 > $out.pingpong || { kill -INT $bt; fail "ODP pingpong"; }
kill -INT $bt
wait $bt
n=$(sed -n 's/^@inserts: //p' $out.bt)
echo "bpftrace counted ${n:-no} inserts"
[ "${n:-0}" -ge 2 ] || fail "expected at least 2 inserts, bpftrace printed: $(cat $out.bt)"
