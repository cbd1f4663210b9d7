# Benchmark (7.x): what notifier-top costs real HMM and ODP workloads, as total guest
# instructions (the instruction clock: a guest ns is one instruction, idle time skipped,
# so the figure is everything the guest executed, the tool's own reader included). Each
# workload untraced, under `record`, under `check`; the ratios go to docs/benchmarks.md.
# The goal for `record` is at most 1.02x. Fails only if it cannot measure.
# clock: instructions
# timeout: 1800
. tests/vm/lib.sh
case "$NT_RELEASE" in 7.*) ;; *) skip "test_hmm and rxe ODP need 7.x" ;; esac
nt-hmm-setup > /dev/null || fail "nt-hmm-setup"
on_exit 'rmmod test_hmm 2>/dev/null'
nt-rxe-setup > /dev/null || fail "nt-rxe-setup"
OUT=$VM_OUT/hmm-cost.txt
now() { date +%s%N; }
# Guest instructions one run of the workload takes: $1 = hmm or rxe.
run() {
    t0=$(now)
    case $1 in
        hmm) nt-hmm-tests > /tmp/hmm-tests.out 2>&1 || fail "hmm-tests: $(tail -n 3 /tmp/hmm-tests.out)" ;;
        rxe) nt-rxe-pingpong -o -n 500 > /tmp/rxe.out 2>&1 || fail "rxe pingpong: $(tail -n 3 /tmp/rxe.out)" ;;
    esac
    echo $(($(now) - t0))
}
measure() { # workload tracer
    case $2 in
        none) run "$1" ;;
        record) rm -f /tmp/cost.ntrec; start_top record -o /tmp/cost.ntrec; n=$(run "$1"); stop_top > /dev/null; echo "$n" ;;
        check) start_top check --json --slow-callback 50ms --read-begin-wait 200ms
            n=$(run "$1"); stop_top > /dev/null; echo "$n" ;;
    esac
}
echo "kernel $(uname -r): guest instructions per workload run (instruction clock)" > "$OUT"
for w in hmm rxe; do
    none=$(measure $w none) record=$(measure $w record) check=$(measure $w check)
    for n in "$none" "$record" "$check"; do
        case $n in ''|*[!0-9]*) fail "$w: could not measure: $n" ;; esac
    done
    ratio() { echo "scale=3; $1 / $none" | bc; }
    echo "$w: untraced $none, record $record ($(ratio "$record")x), check $check ($(ratio "$check")x)" \
        | tee -a "$OUT"
done
