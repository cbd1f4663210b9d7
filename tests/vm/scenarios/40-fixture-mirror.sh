# Fixture scenarios in both attach modes: after the scenarios the mirror equals the
# fixture's ground truth exactly — including an insert deferred during an in-flight
# invalidation, a remove that waited for it, and intervals left behind by an exited process.
# timeout: 300
. tests/vm/lib.sh
load_fixture
for mode in fentry kprobe; do
    W=$VM_OUT/fixture-$mode
    mkdir -p $W
    : > $W/scenarios.jsonl
    start_top trace --json --raw-pointers --attach $mode --summary-json $W/summary.json
    for s in basic deferred exit-with-intervals read-side; do
        nfctl scenario $s >> $W/scenarios.jsonl || fail "scenario $s"
    done
    sleep 1
    stop_top > $W/trace.jsonl
    nfctl truth > $W/truth.jsonl
    intervals_of $W/summary.json > $W/mirror.txt
    truth_of $W/truth.jsonl > $W/truth.txt
    echo "$mode: truth $(wc -l < $W/truth.txt) intervals, mirror $(wc -l < $W/mirror.txt)"
    diff $W/truth.txt $W/mirror.txt || fail "$mode: mirror differs from the fixture's ground truth"
    [ "$(wc -l < $W/truth.txt)" -ge 7 ] || fail "$mode: expected the kept intervals in the truth"
    grep '"kind":"insert"' $W/trace.jsonl | grep -q '"deferred"' || fail "$mode: no deferred insert seen"
    grep -q '"kind":"deferred_insert_applied"' $W/trace.jsonl || fail "$mode: deferred insert never applied"
    waited=$(jq -s '[.[] | select(.scenario == "deferred") | .remove_waited_ms] | first' $W/scenarios.jsonl)
    echo "$mode: the deferred remove waited ${waited} ms"
    # That remove is announced at entry (it can wait) and its duration is measured.
    took=$(jq -s '[.[] | select(.kind == "remove_begin") | .sub] as $begun
        | [.[] | select(.kind == "remove_end") | select(.sub as $s | $begun | any(. == $s))
            | .dur_ns // 0] | max // 0 | . / 1000000 | floor' $W/trace.jsonl)
    echo "$mode: notifier-top saw the longest announced remove take ${took} ms"
    [ "$took" -ge $((waited * 9 / 10)) ] ||
        fail "$mode: the remove that waited ${waited} ms was not announced with its duration"
    child=$(jq -s '[.[] | select(.scenario == "exit-with-intervals") | .child] | first' $W/scenarios.jsonl)
    exited=$(jq "[.processes[] | select(.tgids | index($child)) | .exited] | first" $W/summary.json)
    [ "$exited" = true ] || fail "$mode: the exited child's mm is not marked exited ($exited)"
    nfctl purge
done
