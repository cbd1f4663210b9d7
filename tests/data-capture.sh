#!/bin/sh
# Captures notifier-user/tests/data/vm-7.3.ntrec, the recording the TUI snapshot tests
# replay. Run: cargo xtask vm --kernel 7.3 -- sh tests/data-capture.sh
# then copy target/vm/7.3/out/vm-7.3.ntrec to notifier-user/tests/data/.
set -eu
gid=$(nt-rxe-setup)
insmod "$NT_TARGET/fixtures/$(uname -r)/notifier_fixture.ko"
rm -f "$VM_OUT/vm-7.3.ntrec"  # record never overwrites
notifier-top record -o "$VM_OUT/vm-7.3.ntrec" 2>"$VM_OUT/capture.err" &
TOP=$!
while ! grep -q ready "$VM_OUT/capture.err"; do sleep 0.2; done
odp_workload rxe0 4 >/dev/null
ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 10 >/dev/null 2>&1 &
sleep 2
ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 10 10.77.0.1 >/dev/null 2>&1
wait %2 || true
for s in basic deferred exit-with-intervals read-side ret-false slow; do nfctl scenario $s >/dev/null; done
sleep 1
kill -INT $TOP; wait $TOP
cat "$VM_OUT/capture.err"
