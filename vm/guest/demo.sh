#!/bin/sh
# The README's main-job command runs this in the VM: notifier-top on real workloads —
# soft-RoCE On-Demand Paging (7.x), the kernel's own HMM test driver test_hmm with a
# subset of its selftest (7.x: faults, migrations to and from device memory, a fork, a
# snapshot, device-exclusive access) and the fixture driver. `demo.sh tui` (a terminal):
# the interactive view while the workload runs in a loop, until the user quits.
# `demo.sh headless`: a trace, then the final mirror, on stdout.
set -u
T=$NT_TARGET
MODE=${1:-headless}
gid=""
case "$(uname -r)" in 7.*) gid=$(nt-rxe-setup) || gid="" ;; esac
insmod "$T/fixtures/$(uname -r)/notifier_fixture.ko" 2>/dev/null
HMM=
nt-hmm-setup > /dev/null 2>&1 && HMM=1
# A few of hmm-tests' cases, one of each kind of HMM-layer work.
hmm_subset() {
    [ -n "$HMM" ] || return 0
    d=hmm.hmm_device_private
    nt-hmm-tests -r $d.anon_read -r $d.anon_write_child -r $d.migrate -r $d.migrate_fault \
        -r $d.exclusive -r hmm2.hmm2_device_private.snapshot
}

if [ "$MODE" = tui ]; then
    # The workload, over and over: ODP memory registrations and pingpong traffic, the
    # fixture's inserts/removes, deferred operations, munmap holes and stack-notifier churn.
    (
        while [ ! -e /tmp/demo.stop ]; do
            if [ -n "$gid" ]; then
                odp_workload rxe0 4 > /dev/null 2>&1
                timeout 60 ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 200 > /dev/null 2>&1 &
                sleep 2
                timeout 60 ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 200 10.77.0.1 > /dev/null 2>&1
                wait
            fi
            hmm_subset > /dev/null 2>&1
            # Churn paced at 5k pairs/s: an unpaced burst outruns the view under emulation.
            for s in basic deferred read-side exit-with-intervals "churn-rate 5000 3"; do
                [ -e /tmp/demo.stop ] && break
                nfctl scenario $s > /dev/null 2>&1
                sleep 1
            done
            nfctl purge
        done
    ) &
    LOOP=$!
    "$T/release/notifier-top" top
    rc=$?
    echo "demo: stopping the workload (a few seconds), then the VM powers off"
    touch /tmp/demo.stop
    wait $LOOP
    nfctl purge
    exit $rc
fi

echo "== notifier-top $(uname -r): tracing rxe ODP and the notifier_fixture driver"
# The full trace goes to a file: the serial console carries ~10 KB/s, and a fork's
# copy-on-write protection alone produces thousands of range events.
"$T/release/notifier-top" trace --summary-json "$VM_OUT/demo-summary.json" >"$VM_OUT/demo-trace.txt" 2>"$VM_OUT/demo.err" &
TOP=$!
while ! grep -q "ready" "$VM_OUT/demo.err" 2>/dev/null; do
    kill -0 $TOP 2>/dev/null || { cat "$VM_OUT/demo.err"; exit 1; }
    sleep 0.2
done
grep ready "$VM_OUT/demo.err"
if [ -n "$gid" ]; then
    odp_workload rxe0 4 > "$VM_OUT/odp.out"
    timeout 60 ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 10 >/dev/null 2>&1 &
    SRV=$!
    sleep 2
    timeout 60 ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 10 10.77.0.1 >/dev/null 2>&1
    wait $SRV
fi
hmm_subset > "$VM_OUT/demo-hmm-tests.txt" 2>&1
nfctl scenario basic >/dev/null
nfctl scenario deferred >/dev/null
nfctl scenario exit-with-intervals >/dev/null
sleep 1
kill -INT $TOP; wait $TOP
tail -n 1 "$VM_OUT/demo.err"
echo
echo "== the trace without the invalidation brackets (first 40 of $(wc -l < "$VM_OUT/demo-trace.txt") events)"
grep -v -e range_start -e range_end "$VM_OUT/demo-trace.txt" | head -n 40
echo "== final mirror: processes with registered intervals"
jq -r '.processes[] | select(.intervals | length > 0) | "\(.comms | join(",")) pids \(.tgids | map(tostring) | join(",")) exited=\(.exited): \(.intervals | length) intervals" , (.intervals[] | "    \(.start)-\(.last) \(.size/1024)KiB \(.state) \(.owner) invalidations=\(.invalidations)")' "$VM_OUT/demo-summary.json"
if [ -n "$HMM" ]; then
    echo "== the HMM layer (test_hmm under hmm-tests: $(sed -n 's/^# Totals: //p' "$VM_OUT/demo-hmm-tests.txt"))"
    # The selftest's processes are gone by now (their address spaces left the mirror with
    # them): the stream's totals and the owners keep what the HMM layer did.
    jq -r '.counters.by_kind | "  calls: \(.hmm_range_fault // 0) device faults, \(.migrate_vma_pages // 0) migrations, \(.migrate_device_pages // 0) evictions, \(.make_device_exclusive // 0) exclusive grants"' \
        "$VM_OUT/demo-summary.json"
    jq -r '.owners[] | select(.hmm) | "  \(.owner): \(.hmm.faults) device faults (\(.hmm.faults_busy) -EBUSY), p99 \(.hmm.fault_p99_ns) ns"' \
        "$VM_OUT/demo-summary.json"
fi
echo "== owners"
jq -r '.owners[] | "  \(.driver // .owner): inserts \(.inserts) removes \(.removes) invalidations \(.invalidations) live \(.live_intervals)"' "$VM_OUT/demo-summary.json"
nfctl purge
echo "(full trace: target/vm/$NT_KERNEL/out/demo-trace.txt, summary JSON: demo-summary.json beside it)"
