# Address spaces of exited processes, visible from the first frame. Before notifier-top
# starts, a forked child exits leaving two intervals (exit-with-intervals) and a whole
# process exits leaving three (`nfctl leak`): no task uses their mms and no event will name
# them. In each attach mode the first snapshot equals the fixture's ground truth for them,
# marks them exited and names the owner; so does the first summary; after the grace,
# `check` reports NT010 for them; the TUI's first frame shows them. Then among 2000 live
# processes (three of them holding intervals): the snapshot has exactly the ground truth,
# nothing missing and nothing invented, and says what the scan cost. --no-deep-scan
# leaves the dead ones out, as before the scan existed.
# timeout: 600
. tests/vm/lib.sh
# What the scan needs from the kernel's configuration (every Debian kernel has both).
[ -r /proc/kcore ] || skip "no /proc/kcore (CONFIG_PROC_KCORE)"
grep -q ' mm_cachep$' /proc/kallsyms || skip "no mm_cachep in kallsyms (CONFIG_KALLSYMS_ALL)"
load_fixture
W=$VM_OUT/dead-mms
mkdir -p $W

nfctl scenario exit-with-intervals > $W/exit.json || fail "exit-with-intervals"
CHILD=$(jq -s '[.[] | select(.scenario == "exit-with-intervals") | .child] | first' $W/exit.json)
nfctl leak 3 > $W/leak.json || fail "nfctl leak"
LEAKER=$(jq .tgid $W/leak.json)
nfctl truth > $W/truth.jsonl
DEAD="$CHILD $LEAKER"
for t in $DEAD; do
    [ -d /proc/$t ] && fail "process $t still exists"
    truth_of $W/truth.jsonl $t > $W/truth-$t.txt
    [ -s $W/truth-$t.txt ] || fail "no interval of exited process $t in the truth"
done
mm_of() { jq -r --argjson t "$1" 'select(.tgid == $t) | .mm' $W/truth.jsonl | head -1; }

# The dead address spaces of file $1 (snapshot or summary): each one's intervals equal the
# truth, it is marked exited, its owner is the fixture.
dead_ones_equal_truth() { # file what
    for t in $DEAD; do
        mm=$(mm_of $t)
        intervals_of_mm "$1" "$mm" | diff $W/truth-$t.txt - ||
            fail "$2: the intervals of exited process $t (mm $mm) differ from the truth"
        jq -e --arg mm "$mm" '[.processes[] | select(.mm == $mm)] | length == 1 and
            (.[0].exited == true) and ([.[0].intervals[].driver] | unique == ["notifier_fixture"])' \
            "$1" > /dev/null || fail "$2: mm $mm not marked exited or not owned by the fixture:
$(jq -c --arg mm "$mm" '.processes[] | select(.mm == $mm) | {exited, d: [.intervals[].driver]}' "$1")"
    done
}

for mode in fentry kprobe; do
    $NT_TOP snapshot --attach $mode --raw-pointers -o $W/snap-$mode.json 2> $W/snap-$mode.err ||
        fail "$mode: snapshot: $(cat $W/snap-$mode.err)"
    grep -q "deep scan: " $W/snap-$mode.err || fail "$mode: the snapshot does not say what the scan did"
    dead_ones_equal_truth $W/snap-$mode.json "$mode snapshot"
    echo "$mode: $(grep 'notifier-top snapshot' $W/snap-$mode.err)"

    # Past NT010's grace (10 s) with no event at all: the verdict comes at the end.
    S=$W/summary-$mode.json
    $NT_TOP check --attach $mode --duration 11s --json --raw-pointers --summary-json $S \
        > $W/check-$mode.json 2> $W/check-$mode.err
    [ $? = 1 ] || fail "$mode: check did not report findings: $(cat $W/check-$mode.err)"
    dead_ones_equal_truth $S "$mode summary"
    assert_findings $W/check-$mode.json NT010
    n=$(jq '[.[] | select(.code == "NT010") | .count] | add' $W/check-$mode.json)
    [ "$n" = 5 ] || fail "$mode: NT010 for $n intervals, expected the 5 of the exited processes"
    echo "$mode: snapshot and summary equal the truth for both exited address spaces; NT010 for $n intervals"
done

# The interactive view's first frame: both exited address spaces, with their intervals.
if command -v tmux > /dev/null; then
    on_exit 'tmux kill-server 2>/dev/null'
    start_view
    until_screen "PID +COMM" 120000 > /dev/null
    screen > $W/first-frame.txt
    quit_view
    rows=$(grep -c "(exited)" $W/first-frame.txt)
    [ "$rows" -ge 2 ] || fail "the first frame shows $rows exited address spaces, expected 2 (see $W/first-frame.txt)"
    echo "TUI: the first frame shows $rows exited address spaces"
fi

# Among many live processes, three holding intervals: exactly the truth, live and dead.
for i in 1 2 3; do
    nfctl hold 2 > $W/hold-$i.json &
    echo $! >> $W/pids
done
i=0; while [ "$(cat $W/hold-*.json 2>/dev/null | grep -c .)" -lt 3 ]; do
    i=$((i + 1)); [ $i -lt 200 ] || fail "holders never ready"; sleep 0.1
done
t0=$(date +%s)
spawn_sleepers 2000 600 >> $W/pids
echo "2000 processes started in $(($(date +%s) - t0)) s"
on_exit "kill \$(cat $W/pids) 2>/dev/null"
procs=$(ls -d /proc/[0-9]* | wc -l)
nfctl truth > $W/truth-all.jsonl
$NT_TOP snapshot --raw-pointers -o $W/snap-many.json 2> $W/snap-many.err ||
    fail "snapshot among many: $(cat $W/snap-many.err)"
jq -r '"\(.mm) \(.notifier) \(.start) \(.last)"' $W/truth-all.jsonl | sort > $W/truth-all.txt
jq -r '.processes[] | .mm as $mm | .intervals[] | "\($mm) \(.notifier) \(.start) \(.last)"' \
    $W/snap-many.json | sort > $W/snap-many.txt
diff $W/truth-all.txt $W/snap-many.txt || fail "among $procs processes the snapshot differs from the truth"
exited=$(jq -r '[.processes[] | select(.exited) | .mm] | sort | join(" ")' $W/snap-many.json)
want=$(for t in $DEAD; do mm_of $t; done | sort | paste -sd ' ')
[ "$exited" = "$want" ] || fail "exited address spaces: $exited, expected $want"
echo "among $procs processes: $(wc -l < $W/snap-many.txt) intervals equal the truth; $(grep 'notifier-top snapshot' $W/snap-many.err)"

# Without the scan the dead address spaces are not found (nothing names them).
$NT_TOP snapshot --no-deep-scan --raw-pointers -o $W/snap-off.json 2> $W/snap-off.err ||
    fail "snapshot --no-deep-scan: $(cat $W/snap-off.err)"
off=$(jq '[.processes[] | select(.exited)] | length' $W/snap-off.json)
[ "$off" = 0 ] || fail "--no-deep-scan still found $off exited address spaces"
grep -q "no deep scan" $W/snap-off.err || fail "--no-deep-scan not said: $(cat $W/snap-off.err)"
