#!/bin/sh
# The README's main-job command runs this in the VM: notifier-top tracing a real workload —
# soft-RoCE On-Demand Paging (7.x) and the fixture driver — then the final mirror.
set -u
T=$NT_TARGET
echo "== notifier-top $(uname -r): tracing rxe ODP and the notifier_fixture driver"
gid=""
case "$(uname -r)" in 7.*) gid=$(nt-rxe-setup) || gid="" ;; esac
insmod "$T/fixtures/$(uname -r)/notifier_fixture.ko" 2>/dev/null
"$T/release/notifier-top" trace --summary-json "$VM_OUT/demo-summary.json" 2>"$VM_OUT/demo.err" &
TOP=$!
while ! grep -q "ready" "$VM_OUT/demo.err" 2>/dev/null; do
    kill -0 $TOP 2>/dev/null || { cat "$VM_OUT/demo.err"; exit 1; }
    sleep 0.2
done
grep ready "$VM_OUT/demo.err"
if [ -n "$gid" ]; then
    odp_workload rxe0 4 > "$VM_OUT/odp.out"
    ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 10 >/dev/null 2>&1 &
    sleep 2
    ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 10 10.77.0.1 >/dev/null 2>&1
    wait
fi
nfctl scenario basic >/dev/null
nfctl scenario deferred >/dev/null
nfctl scenario exit-with-intervals >/dev/null
sleep 1
kill -INT $TOP; wait $TOP
tail -n 2 "$VM_OUT/demo.err"
echo
echo "== final mirror: processes with registered intervals"
jq -r '.processes[] | select(.intervals | length > 0) | "\(.comms | join(",")) pids \(.tgids | map(tostring) | join(",")) exited=\(.exited): \(.intervals | length) intervals" , (.intervals[] | "    \(.start)-\(.last) \(.size/1024)KiB \(.state) \(.owner) invalidations=\(.invalidations)")' "$VM_OUT/demo-summary.json"
echo "== owners"
jq -r '.owners[] | "  \(.driver // .owner): inserts \(.inserts) removes \(.removes) invalidations \(.invalidations) live \(.live_intervals)"' "$VM_OUT/demo-summary.json"
nfctl purge
echo "(summary JSON: target/vm/$NT_KERNEL/out/demo-summary.json)"
