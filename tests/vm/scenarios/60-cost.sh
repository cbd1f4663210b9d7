# Benchmark (prints numbers, passes when it could measure): the in-kernel cost of
# notifier-top's programs next to bpftrace's on the same hooks, from the kernel's BPF
# run-time statistics, and the nouveau-like churn rate with no tracer and under each.
#
# Five tracers, one after the other, each over the same churn of N insert/read_begin/remove
# cycles: notifier-top with fentry and with kprobes; bpftrace tracing the same facts
# notifier-top captures, once with kprobes and once with kfunc/kretfunc (the peer a driver
# developer would write: a printf line per call with the notifier's mm, bounds, callback and
# sequence, durations from entry maps); and bpftrace only counting calls (a floor: nothing
# captured). The figure is the in-kernel cost per cycle: the run time of every program the
# cycle hits, summed.
#
# The guest clock counts instructions (1 ns each): emulated wall time weighs instructions
# unevenly (the same programs measured 2.5x apart between two TCG threading modes), while
# instruction counts repeat within 1.5 %. Everything runs on CPU 0: QEMU runs both
# vCPUs on one host thread, in turns, and a program on one vCPU would be charged the other's
# turns (a tracer whose reader is busy on the other CPU looked twice as costly). One round:
# three interleaved rounds agreed within 1.5 % on every kernel (ROUNDS="1 2 3" repeats them; the
# comparison is then each round's ratio to a bpftrace variant in that round, and the median).
# clock: instructions
# timeout: 600
. tests/vm/lib.sh
taskset -pc 0 $$ > /dev/null || fail "cannot pin the scenario to CPU 0"
[ -f "$NT_FIXTURE" ] || fail "no fixture module"
command -v bpftool >/dev/null || skip "no bpftool"
insmod "$NT_FIXTURE" || fail "insmod"
trap 'rmmod notifier_fixture' EXIT
OUT=$VM_OUT/cost.txt
N=100000
rate() { nfctl scenario churn $N | jq -r .pairs_per_sec; }
echo "kernel $(uname -r), churn of $N insert/read_begin/remove cycles; guest clock: 1 ns = 1 instruction" > $OUT
echo "churn pairs/s, no tracer: $(rate)" >> $OUT
sysctl -qw kernel.bpf_stats_enabled=1 || fail "cannot enable BPF stats"

# Runs the churn under notifier-top with extra arguments; snapshot in progs-$1.json.
under_top() {
    name=$1; shift
    start_top record -o /tmp/cost.ntrec "$@"
    echo "churn pairs/s, $name: $(rate)" >> $OUT
    bpftool prog show -j > $VM_OUT/progs-$name.json
    stop_top > /dev/null
}
# Runs the churn under a bpftrace script with $3 programs; snapshot in progs-$1.json.
under_bpftrace() {
    name=$1 script=$2 programs=$3
    bpftrace -q -e "$script" > /dev/null 2>$VM_OUT/$name.err &
    BT=$!
    # bpftrace compiles with LLVM, slow under emulation: wait until its programs are in.
    i=0
    until [ "$(bpftool prog show -j | jq '[.[] | select(.type == "kprobe" or .type == "tracing")] | length')" -ge $programs ]; do
        kill -0 $BT 2>/dev/null || fail "bpftrace died: $(cat $VM_OUT/$name.err)"
        i=$((i + 1)); [ $i -lt 600 ] || fail "bpftrace never attached"
        sleep 0.2
    done
    sleep 1
    echo "churn pairs/s, $name: $(rate)" >> $OUT
    bpftool prog show -j > $VM_OUT/progs-$name.json
    # bpftrace's program names are cut to 15 characters; the attachments name the hooks.
    bpftool perf show -j > $VM_OUT/perf-$name.json 2>/dev/null || echo '[]' > $VM_OUT/perf-$name.json
    kill -INT $BT; wait $BT
}

# The same capture with kfunc/kretfunc (fentry/fexit; bpftrace 0.17's names): typed
# arguments read directly, and the return sees the arguments, so no entry map for insert.
CAPTURE_KFUNC='
kretfunc:mmu_interval_notifier_insert {
    $n = args->interval_sub;
    printf("insert %llu %d %s %p mm=%p [%lx,%lx] cb=%p seq=%lu ret=%d\n", nsecs, tid, comm,
        $n, $n->mm, $n->interval_tree.start, $n->interval_tree.last, $n->ops->invalidate,
        $n->invalidate_seq, retval);
}
kfunc:mmu_interval_notifier_remove {
    $n = args->interval_sub;
    @rm[tid] = nsecs;
    printf("remove %llu %d %s %p mm=%p [%lx,%lx]\n", nsecs, tid, comm, $n, $n->mm,
        $n->interval_tree.start, $n->interval_tree.last);
}
kretfunc:mmu_interval_notifier_remove /@rm[tid]/ {
    printf("removed %llu %d %llu\n", nsecs, tid, nsecs - @rm[tid]);
    delete(@rm[tid]);
}
kfunc:mmu_interval_read_begin { @rb[tid] = nsecs }
kretfunc:mmu_interval_read_begin /@rb[tid]/ {
    $n = args->interval_sub;
    printf("read_begin %llu %d %s %p mm=%p [%lx,%lx] seq=%lu waited=%llu\n", nsecs, tid,
        comm, $n, $n->mm, $n->interval_tree.start, $n->interval_tree.last, retval,
        nsecs - @rb[tid]);
    delete(@rb[tid]);
}'
CAPTURE='
kprobe:mmu_interval_notifier_insert { @ins[tid] = arg0 }
kretprobe:mmu_interval_notifier_insert /@ins[tid]/ {
    $n = (struct mmu_interval_notifier *)@ins[tid];
    printf("insert %llu %d %s %p mm=%p [%lx,%lx] cb=%p seq=%lu ret=%d\n", nsecs, tid, comm,
        $n, $n->mm, $n->interval_tree.start, $n->interval_tree.last, $n->ops->invalidate,
        $n->invalidate_seq, retval);
    delete(@ins[tid]);
}
kprobe:mmu_interval_notifier_remove {
    $n = (struct mmu_interval_notifier *)arg0;
    @rm[tid] = nsecs;
    printf("remove %llu %d %s %p mm=%p [%lx,%lx]\n", nsecs, tid, comm, $n, $n->mm,
        $n->interval_tree.start, $n->interval_tree.last);
}
kretprobe:mmu_interval_notifier_remove /@rm[tid]/ {
    printf("removed %llu %d %llu\n", nsecs, tid, nsecs - @rm[tid]);
    delete(@rm[tid]);
}
kprobe:mmu_interval_read_begin { @rb[tid] = nsecs; @rbs[tid] = arg0 }
kretprobe:mmu_interval_read_begin /@rb[tid]/ {
    $n = (struct mmu_interval_notifier *)@rbs[tid];
    printf("read_begin %llu %d %s %p mm=%p [%lx,%lx] seq=%lu waited=%llu\n", nsecs, tid,
        comm, $n, $n->mm, $n->interval_tree.start, $n->interval_tree.last, retval,
        nsecs - @rb[tid]);
    delete(@rb[tid]);
    delete(@rbs[tid]);
}'
COUNT='
kprobe:mmu_interval_notifier_insert { @i[comm] = count() }
kretprobe:mmu_interval_notifier_insert { @ie[comm] = count() }
kprobe:mmu_interval_notifier_remove { @r[comm] = count() }
kretprobe:mmu_interval_notifier_remove { @re[comm] = count() }
kprobe:mmu_interval_read_begin { @b[comm] = count() }
kretprobe:mmu_interval_read_begin { @be[comm] = count() }'

TRACERS="notifier-top-fentry notifier-top-kprobe bpftrace-capture bpftrace-capture-kfunc bpftrace-count"
ROUNDS="1"
for round in $ROUNDS; do
    under_top notifier-top-fentry.$round --attach fentry
    under_top notifier-top-kprobe.$round --attach kprobe
    under_bpftrace bpftrace-capture.$round "$CAPTURE" 6
    under_bpftrace bpftrace-capture-kfunc.$round "$CAPTURE_KFUNC" 5
    under_bpftrace bpftrace-count.$round "$COUNT" 6
done
sysctl -qw kernel.bpf_stats_enabled=0

# Programs with runs: name, runs, total ns, ns per run. Each snapshot is taken while only
# one tracer has programs loaded (bookworm's bpftool shows no owning pids).
# A perf attachment list ($2, optional) names kprobe programs by hook.
per_hit() {
    [ -n "${2:-}" ] || set -- "$1" /dev/null
    jq -r --slurpfile perf "$2" '
        (($perf[0] // []) | map({key: (.prog_id | tostring), value: "\(.fd_type):\(.func)"})
            | from_entries) as $hooks
        | .[] | select((.run_cnt // 0) > 0)
        | "\($hooks[.id | tostring] // .name) \(.run_cnt) \(.run_time_ns) \((.run_time_ns / .run_cnt) | floor)"' "$1"
}
# In-kernel ns per churn cycle: programs that ran at least once per cycle, summed.
per_cycle() {
    jq -r --argjson n $N '[.[] | select((.run_cnt // 0) >= $n) | .run_time_ns] | add / $n | floor' "$1"
}
for round in $ROUNDS; do
    for t in $TRACERS; do
        echo "$t programs, round $round (name, runs, total ns, ns/run):" >> $OUT
        per_hit $VM_OUT/progs-$t.$round.json $(ls $VM_OUT/perf-$t.$round.json 2>/dev/null) \
            | sed 's/^/  /' >> $OUT
    done
done
echo "in-kernel ns (= instructions) per cycle (insert + read_begin + remove, every program they hit):" >> $OUT
for t in $TRACERS; do
    all="" best=""
    for round in $ROUNDS; do
        c=$(per_cycle $VM_OUT/progs-$t.$round.json)
        case "$c" in ''|null) fail "no per-cycle figure for $t, round $round" ;; esac
        all="$all $c"
        [ -z "$best" ] || [ "$c" -lt "$best" ] && best=$c
    done
    echo "  $t $best (rounds:$all)" >> $OUT
done
# Each round's ratio of $1's figure to $2's, then the median of the three.
ratios() {
    r=""
    for round in $ROUNDS; do
        r="$r $(echo "$(per_cycle $VM_OUT/progs-$1.$round.json) $(per_cycle $VM_OUT/progs-$2.$round.json)" \
            | awk '{ printf "%.2f", $1 / $2 }')"
    done
    echo "$r median $(echo $r | tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
}
for base in bpftrace-capture bpftrace-capture-kfunc; do
    echo "ratio to $base, per round, median last:" >> $OUT
    for t in notifier-top-fentry notifier-top-kprobe bpftrace-capture-kfunc bpftrace-count; do
        [ $t = $base ] || echo "  $t$(ratios $t $base)" >> $OUT
    done
done
cat $OUT
