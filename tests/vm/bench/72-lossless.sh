# Benchmark: nothing lost at full speed. The fixture's flat-out churn (100 000 pairs, 300 005
# events) under `record --attach fentry` with the default settings (but audits every second),
# three rounds: the churn's rate, events, lost and skipped, the audits and their drift, and
# the ring's size (1/64 of RAM, probe/ring.rs). Fails if anything was lost or skipped, or an
# audit disagreed with the mirror (figures for docs/benchmarks.md).
# timeout: 600
. tests/vm/lib.sh
load_fixture
W=$VM_OUT/lossless
mkdir -p $W
# A process holding intervals throughout, so each audit has a tree to compare.
nfctl hold 5 > $W/hold.json &
HOLD=$!
on_exit 'kill $HOLD 2>/dev/null'
i=0; until [ -s $W/hold.json ]; do i=$((i + 1)); [ $i -lt 100 ] || fail "hold never ready"; sleep 0.1; done
for round in 1 2 3; do
    start_top -v record -o $W/r.ntrec --attach fentry --summary-json $W/s.json --audit-every 1s
    nfctl scenario churn 100000 > $W/churn.json || fail "churn"
    sleep 3 # the audits after the churn
    stop_top > /dev/null
    rm -f $W/r.ntrec
    lost=$(jq .counters.lost $W/s.json) skipped=$(jq .counters.skipped $W/s.json)
    drift=$(jq '.audit.missing + .audit.extra' $W/s.json)
    echo "round $round: $(jq .pairs_per_sec $W/churn.json) pairs/s, $(jq .counters.events $W/s.json) events," \
        "lost $lost, skipped $skipped; $(jq .audit.mms_checked $W/s.json) mm audits, drift $drift;" \
        "$(grep -o 'ring buffer: [0-9]* MiB' "$NT_ERR")"
    [ "$lost" = 0 ] && [ "$skipped" = 0 ] || fail "round $round lost $lost events and skipped $skipped runs"
    [ "$drift" = 0 ] || fail "round $round: audit drift $(jq -c .audit.drift $W/s.json)"
    [ "$(jq .audit.mms_checked $W/s.json)" -gt 0 ] || fail "round $round: no audit ran"
done
