# Benchmark: the nouveau-like churn the guest sustains untraced, under notifier-top (`record
# --audit-every 1s`) and under a session filtered to another process, in each attach mode
# (figures for docs/benchmarks.md). The filter is applied in the kernel: the same unrelated
# churn must cost less filtered than unfiltered. Also prints each unfiltered session's audits,
# drift and lost events. (Correctness under churn: tests/vm/scenarios/70-attach.sh.)
# timeout: 900
. tests/vm/lib.sh
load_fixture
W=$VM_OUT/attach-rate
mkdir -p $W
nfctl hold 5 > $W/hold.json &
HOLD=$!
on_exit 'kill $HOLD 2>/dev/null'
i=0; until [ -s $W/hold.json ]; do i=$((i + 1)); [ $i -lt 100 ] || fail "hold never ready"; sleep 0.1; done
N=100000
rate() {
    nfctl scenario churn $N > $W/churn-$1.json || fail "churn"
    r=$(jq .pairs_per_sec $W/churn-$1.json)
    [ "$r" -gt 0 ] 2>/dev/null || fail "no pairs_per_sec in $W/churn-$1.json"
    echo "$r"
}
# Measured first: one untraced measurement taken right after a session came out 30x lower.
untraced=$(rate untraced)
for mode in fentry kprobe; do
    S=$W/summary-$mode.json
    start_top record -o $W/churn-$mode.ntrec --attach $mode --summary-json $S --audit-every 1s
    traced=$(rate traced-$mode)
    stop_top > /dev/null
    checked=$(jq .audit.mms_checked $S)
    drift=$(jq '.audit.missing + .audit.extra' $S)
    lost=$(jq '.counters.lost + .counters.skipped' $S)
    start_top record -o $W/filtered-$mode.ntrec --attach $mode --pid $HOLD \
        --summary-json $W/filtered-$mode.json --audit-every 0
    filtered=$(rate filtered-$mode)
    stop_top > /dev/null
    fevents=$(jq .counters.events $W/filtered-$mode.json)
    echo "$mode: churn pairs/s: untraced $untraced, filtered (--pid of another process) $filtered," \
        "unfiltered $traced; unfiltered session: $checked mm audits, drift $drift, lost $lost;" \
        "filtered session saw $fevents events"
    [ "$filtered" -gt "$traced" ] || fail "$mode: filtering did not lower the overhead on an unrelated process"
done
