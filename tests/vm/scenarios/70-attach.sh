# Attach to running workloads. Intervals registered before notifier-top started are in its
# first snapshot and equal the fixture's ground truth; filters select in the kernel; with
# the deep scan off, an exited process's intervals (invisible to the task iterator) are
# learned from its first event (the scan itself: 72-dead-mms); under nouveau-like churn
# the periodic audit finds the mirror exact. rxe ODP (7.x): a pingpong server's ODP MR is
# in the snapshot while it waits for its client. (The churn rates, and what a filter
# saves: tests/vm/bench/70-attach-rate.sh.)
# timeout: 600
. tests/vm/lib.sh
load_fixture
W=$VM_OUT/attach
mkdir -p $W

# Before the tool: one process exits leaving two intervals, another holds five.
nfctl scenario exit-with-intervals > $W/exit.json || fail "exit-with-intervals"
CHILD=$(jq -s '[.[] | select(.scenario == "exit-with-intervals") | .child] | first' $W/exit.json)
nfctl hold 5 > $W/hold.json &
HOLD=$!
on_exit 'kill $HOLD 2>/dev/null'
i=0; until [ -s $W/hold.json ]; do i=$((i + 1)); [ $i -lt 100 ] || fail "hold never ready"; sleep 0.1; done
nfctl truth > $W/truth.jsonl

# The first snapshot equals the ground truth for the running process.
$NT_TOP snapshot --raw-pointers -o $W/snap.json 2> $W/snap.err || fail "snapshot: $(cat $W/snap.err)"
cat $W/snap.err
intervals_of $W/snap.json $HOLD > $W/snap-hold.txt
truth_of $W/truth.jsonl $HOLD > $W/truth-hold.txt
diff $W/truth-hold.txt $W/snap-hold.txt || fail "snapshot differs from the ground truth"
[ "$(wc -l < $W/snap-hold.txt)" = 5 ] || fail "expected the 5 held intervals"
[ "$(stat -c %a $W/snap.json)" = 600 ] || fail "snapshot file is readable by others"
grep -q '"h:' $W/snap.json && fail "--raw-pointers still hashed"
$NT_TOP snapshot -o $W/snap-hashed.json 2>/dev/null || fail "hashed snapshot"
grep -q '"0xff' $W/snap-hashed.json && fail "kernel pointers leaked without --raw-pointers"
$NT_TOP snapshot --format csv -o $W/snap.csv 2>/dev/null || fail "csv snapshot"
rows=$(($(wc -l < $W/snap.csv) - 1))
want=$(jq '[.processes[].intervals | length] | add' $W/snap-hashed.json)
[ "$rows" = "$want" ] || fail "csv has $rows rows for $want intervals"
echo "snapshot: $(wc -l < $W/snap-hold.txt) held intervals equal the truth; csv $rows rows"

# Filters are applied in the kernel: only the selected address spaces come back.
for f in "--pid $HOLD" "--comm nfctl" "--owner notifier_fixture" \
    "--pid $HOLD --owner notifier_fixture"; do
    $NT_TOP snapshot $f --raw-pointers -o $W/filtered.json 2>/dev/null || fail "snapshot $f"
    n=$(jq '.processes | length' $W/filtered.json)
    intervals_of $W/filtered.json $HOLD | diff $W/truth-hold.txt - > /dev/null ||
        fail "$f: held intervals differ"
    case "$f" in --pid*) [ "$n" = 1 ] || fail "$f: $n processes, expected 1" ;; esac
    echo "filter $f: $n processes"
done
# An owner that is not loaded is refused with the fix named; a loaded one selects nothing
# while no process uses it.
if lsmod | grep -q '^rdma_rxe '; then
    $NT_TOP snapshot --owner rdma_rxe -o $W/none.json 2>/dev/null || fail "--owner rdma_rxe"
    [ "$(jq '.processes | length' $W/none.json)" = 0 ] || fail "--owner rdma_rxe selected processes"
else
    $NT_TOP snapshot --owner rdma_rxe 2> $W/none.err > /dev/null && fail "--owner of an unloaded module accepted"
    grep -q lsmod $W/none.err || fail "no fix named: $(cat $W/none.err)"
fi

# In each attach mode: the exited process's mm is learned at its first event (a driver read
# side on one of its intervals), then audited with the rest every second while
# nouveau-like churn runs; then a session filtered to another process shows the filter works
# in the kernel (none of the churn's events reach userspace). N: a few seconds of churn under
# emulation on a slow host; the session lasts over 3.5 s for at least two audits.
N=20000
churn() { nfctl scenario churn $N > $W/churn-$1.json || fail "churn"; }
id=$(jq -r --argjson c "$CHILD" 'select(.tgid == $c) | .id' $W/truth.jsonl | head -1)
[ -n "$id" ] || fail "no interval of the exited child in the truth"
truth_of $W/truth.jsonl $CHILD > $W/truth-child.txt
# A walk attributes an mm without tasks to no process: match the child's mm by pointer.
mm=$(jq -r --argjson c "$CHILD" 'select(.tgid == $c) | .mm' $W/truth.jsonl | head -1)
for mode in fentry kprobe; do
    S=$W/summary-$mode.json
    start_top record -o $W/churn-$mode.ntrec --attach $mode --raw-pointers --summary-json $S \
        --audit-every 1s --no-deep-scan
    nfctl read "$id" || fail "$mode: read on the exited child's interval"
    sleep 1
    churn traced-$mode
    sleep 2.5
    stop_top > /dev/null
    intervals_of_mm $S "$mm" > $W/mirror-child-$mode.txt
    diff $W/truth-child.txt $W/mirror-child-$mode.txt || fail "$mode: the exited child's intervals were not learned"
    exited=$(jq --arg mm "$mm" '[.processes[] | select(.mm == $mm) | .exited] | first' $S)
    [ "$exited" = true ] || fail "$mode: the exited child's mm is not marked exited ($exited)"
    intervals_of $S $HOLD | diff $W/truth-hold.txt - || fail "$mode: held intervals differ after churn"
    jq -c '{audit: .audit | {mms_checked, intervals_checked, partial, missing, extra},
        lost: .counters.lost, skipped: .counters.skipped, events: .counters.events,
        durations_unknown: .counters.durations_unknown}' $S | tee $W/audit-$mode.json
    checked=$(jq .audit.mms_checked $S)
    drift=$(jq '.audit.missing + .audit.extra' $S)
    lost=$(jq '.counters.lost + .counters.skipped' $S)
    [ "$checked" -ge 2 ] || fail "$mode: the periodic audit did not run"
    # Exact means no drift; lost events (ring full, runs the kernel skipped) are counted, and any
    # drift they cause says so.
    [ "$drift" = 0 ] || [ "$lost" -gt 0 ] || fail "$mode: drift without lost events: $(jq -c .audit.drift $S)"
    jq -e '[.audit.drift[] | select(.cause | test("lost") | not)] | length == 0' $S > /dev/null \
        || fail "$mode: drift not explained by lost events: $(jq -c .audit.drift $S)"
    # Every read_begin and remove of the churn began after the session: each one's entry
    # state reached its return (preempted, migrated or not), so each duration is measured.
    unknown=$(jq .counters.durations_unknown $S)
    [ "$unknown" = 0 ] || [ "$lost" -gt 0 ] || fail "$mode: $unknown durations not measured"

    start_top record -o $W/filtered-$mode.ntrec --attach $mode --pid $HOLD \
        --summary-json $W/filtered-$mode.json --audit-every 0
    churn filtered-$mode
    stop_top > /dev/null
    fevents=$(jq .counters.events $W/filtered-$mode.json)
    echo "$mode: unfiltered session: $checked mm audits, drift $drift, lost $lost;" \
        "filtered session (--pid of another process) saw $fevents events"
    [ "$fevents" -lt 100 ] || fail "$mode: the filtered session received $fevents events of unrelated processes"
done

# rxe ODP (7.x): a server registers its ODP MR and waits for a client.
case "$NT_RELEASE" in 7.*) ;; *) echo "rxe ODP part skipped: needs 7.x"; exit 0 ;; esac
gid=$(nt-rxe-setup) || fail "nt-rxe-setup"
timeout 60 ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 5 > $W/server.out 2>&1 &
SRV=$!
sleep 3
PP=$(pgrep -n -x ibv_rc_pingpong) || fail "pingpong server not running: $(cat $W/server.out)"
$NT_TOP snapshot --raw-pointers --owner rdma_rxe -o $W/rxe.json 2> $W/rxe.err ||
    fail "rxe snapshot: $(cat $W/rxe.err)"
n=$(jq --argjson p $PP '[.processes[] | select(.tgids | index($p)) | .intervals[]
    | select(.driver == "rdma_rxe (RDMA ODP)")] | length' $W/rxe.json)
# The interval lies inside a mapping of the server, and covers at least the 4 KiB buffer.
jq -r --argjson p $PP '.processes[] | select(.tgids | index($p)) | .intervals[] | "\(.start) \(.size)"' \
    $W/rxe.json > $W/rxe-iv.txt
inside=0
while read -r start size; do
    s=$((start))
    while IFS=' -' read -r lo hi _; do
        [ $s -ge $((0x$lo)) ] && [ $s -lt $((0x$hi)) ] && [ "$size" -ge 4096 ] && inside=$((inside + 1))
    done < /proc/$PP/maps
done < $W/rxe-iv.txt
timeout 60 ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 5 10.77.0.1 > $W/client.out 2>&1 ||
    fail "pingpong client: $(cat $W/client.out)"
wait $SRV || fail "pingpong server: $(cat $W/server.out)"
echo "rxe: the waiting server has $n ODP intervals in the snapshot, $inside inside its mappings"
[ "$n" -ge 1 ] && [ "$inside" = "$n" ] || fail "the server's ODP MR is not in the snapshot"
