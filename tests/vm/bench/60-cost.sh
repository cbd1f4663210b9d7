# Benchmark (prints numbers, passes when it could measure): the in-kernel cost of
# notifier-top's programs next to bpftrace's on the same hooks, from the kernel's BPF
# run-time statistics.
#
# Six tracers, one after the other: notifier-top with fentry and with kprobes; bpftrace
# tracing the same facts notifier-top captures, once with kprobes and once with
# kfunc/kretfunc (the peer a driver developer would write: a printf line per call with the
# notifier's mm, bounds, callback and sequence, durations from entry maps); bpftrace only
# counting calls (nothing captured); and empty fentry/fexit programs on the three hooks
# (the floor: what attaching there costs before a program does anything). The figure is
# the in-kernel cost per insert/read_begin/remove cycle of the fixture's churn: the run
# time of every program the cycle hits, summed.
#
# The guest clock counts instructions (1 ns each): emulated wall time weighs instructions
# unevenly (the same programs measured 2.5x apart between two TCG threading modes), while
# instruction counts repeat within 1.5 %. Everything runs on CPU 0: QEMU runs both
# vCPUs on one host thread, in turns, and a program on one vCPU would be charged the other's
# turns (a tracer whose reader is busy on the other CPU looked twice as costly).
#
# The churn runs in SCHED_FIFO batches of BATCH cycles, N in all, and the readers drain
# between batches. FIFO, because fentry/fexit programs run preemptible (kprobe handlers
# never are): on a preemptible kernel (7.x, lazy preemption) whatever preempts one — a
# reader woken on the CPU — is charged to its run time (7.3: notifier-top's fentry cycle
# measured 6 201 instructions under a plain churn, 3 309 under FIFO batches; its kprobe
# cycle and bpftrace's kprobe programs the same either way). Batches, because a churn
# that runs flat out outpaces bpftrace's reader under emulation: with its default perf
# buffer bpftrace then drops events — the cheap path — and its figure means nothing
# (it did, unnoticed, before 2026-12-01). BATCH fits its default buffer; any tracer's
# lost event fails the run.
# clock: instructions
# timeout: 900
. tests/vm/lib.sh
taskset -pc 0 $$ > /dev/null || fail "cannot pin the scenario to CPU 0"
command -v bpftool >/dev/null || skip "no bpftool"
command -v chrt >/dev/null || skip "no chrt"
load_fixture
OUT=$VM_OUT/cost.txt
N=10000 BATCH=250
churn() {
    b=0
    while [ $b -lt $((N / BATCH)) ]; do
        chrt -f 10 nfctl scenario churn $BATCH > /tmp/churn.json || fail "churn batch $b"
        sleep 0.5
        b=$((b + 1))
    done
}
echo "kernel $(uname -r), $N insert/read_begin/remove cycles in SCHED_FIFO batches of $BATCH;" \
    "guest clock: 1 ns = 1 instruction" > $OUT
nfctl scenario churn $N > /tmp/churn.json || fail "churn"
echo "churn with no tracer: $(jq .pairs_per_sec /tmp/churn.json) pairs/s" >> $OUT
sysctl -qw kernel.bpf_stats_enabled=1 || fail "cannot enable BPF stats"

# The programs that ran between two `bpftool prog show` snapshots: id, name, runs and run
# time accrued in between.
delta() {
    jq -n --slurpfile a "$1" --slurpfile b "$2" '
        ($a[0] | map({key: (.id | tostring), value: .}) | from_entries) as $old
        | [$b[0][] | ($old[.id | tostring] // {}) as $o
            | {id, name, run_cnt: ((.run_cnt // 0) - ($o.run_cnt // 0)),
               run_time_ns: ((.run_time_ns // 0) - ($o.run_time_ns // 0))}
            | select(.run_cnt > 0)]'
}
# Runs the churn under the tracer loaded now: progs-$1.json.
measure() {
    bpftool prog show -j > /tmp/progs.0.json
    churn
    bpftool prog show -j > /tmp/progs.1.json
    delta /tmp/progs.0.json /tmp/progs.1.json > $VM_OUT/progs-$1.json
}
# Measures notifier-top with extra arguments.
under_top() {
    name=$1; shift
    rm -f /tmp/cost.ntrec
    start_top record -o /tmp/cost.ntrec "$@"
    # A hook that failed to load would make the cycle look cheaper than it is.
    ! grep -E "(insert|remove|read_begin)=missing" "$NT_ERR" \
        || fail "notifier-top ($name) runs without a hot-path hook: $(cat "$NT_ERR")"
    measure $name
    stop_top > /dev/null
    grep -q "(0 lost)" "$NT_ERR" || fail "notifier-top ($name) lost or skipped events: $(cat "$NT_ERR")"
}
# Measures a bpftrace script with $3 programs.
under_bpftrace() {
    name=$1 script=$2 programs=$3
    bpftrace -q -e "$script" > /tmp/$name.out 2>$VM_OUT/$name.err &
    BT=$!
    # bpftrace compiles with LLVM, slow under emulation: wait until its programs are in.
    i=0
    until [ "$(bpftool prog show -j |
        jq '[.[] | select(.type == "kprobe" or .type == "tracing")] | length')" -ge $programs ]; do
        kill -0 $BT 2>/dev/null || fail "bpftrace died: $(cat $VM_OUT/$name.err)"
        i=$((i + 1)); [ $i -lt 600 ] || fail "bpftrace never attached"
        sleep 0.2
    done
    sleep 1
    measure $name
    # bpftrace's program names are cut to 15 characters; the attachments name the hooks.
    bpftool perf show -j > $VM_OUT/perf-$name.json 2>/dev/null || echo '[]' > $VM_OUT/perf-$name.json
    kill -INT $BT; wait $BT
    # bpftrace reports "Lost N events" among its output.
    ! grep -i "^lost" /tmp/$name.out || fail "bpftrace ($name) lost events"
    rm -f /tmp/$name.out
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
# The floor: an empty fentry and fexit program on each hook. Under the run-time
# statistics an empty program is charged the trampoline's time stamps around it (about
# 97 instructions on 7.3).
FLOOR='
kfunc:mmu_interval_notifier_insert {}
kretfunc:mmu_interval_notifier_insert {}
kfunc:mmu_interval_read_begin {}
kretfunc:mmu_interval_read_begin {}
kfunc:mmu_interval_notifier_remove {}
kretfunc:mmu_interval_notifier_remove {}'

TRACERS="notifier-top-fentry notifier-top-kprobe bpftrace-capture bpftrace-capture-kfunc bpftrace-count floor"
under_top notifier-top-fentry --attach fentry
under_top notifier-top-kprobe --attach kprobe
under_bpftrace bpftrace-capture "$CAPTURE" 6
under_bpftrace bpftrace-capture-kfunc "$CAPTURE_KFUNC" 5
under_bpftrace bpftrace-count "$COUNT" 6
under_bpftrace floor "$FLOOR" 6
sysctl -qw kernel.bpf_stats_enabled=0

# Programs with runs: name, runs, total ns, ns per run. Each snapshot is taken while only
# one tracer has programs loaded (bookworm's bpftool shows no owning pids).
# A perf attachment list ($2, optional) names kprobe programs by hook.
per_hit() {
    [ -n "${2:-}" ] || set -- "$1" /dev/null
    jq -r --slurpfile perf "$2" '
        (($perf[0] // []) | map({key: (.prog_id | tostring), value: "\(.fd_type):\(.func)"})
            | from_entries) as $hooks
        | .[] | "\($hooks[.id | tostring] // .name) \(.run_cnt) \(.run_time_ns)"
            + " \((.run_time_ns / .run_cnt) | floor)"' "$1"
}
# In-kernel ns per churn cycle: programs that ran once per cycle, summed.
per_cycle() {
    jq -r --argjson n $N '[.[] | select(.run_cnt >= $n) | .run_time_ns] | add / $n | floor' \
        $VM_OUT/progs-$1.json
}
for t in $TRACERS; do
    case "$(per_cycle $t)" in ''|null) fail "no per-cycle figure for $t" ;; esac
    echo "$t programs (name, runs, total ns, ns/run):" >> $OUT
    per_hit $VM_OUT/progs-$t.json $(ls $VM_OUT/perf-$t.json 2>/dev/null) | sed 's/^/  /' >> $OUT
done
echo "in-kernel ns (= instructions) per cycle (insert + read_begin + remove, every program they hit):" >> $OUT
for t in $TRACERS; do
    echo "  $t $(per_cycle $t)" >> $OUT
done
for base in bpftrace-capture bpftrace-capture-kfunc floor; do
    echo "ratio to $base:" >> $OUT
    for t in $TRACERS; do
        [ $t = $base ] ||
            echo "  $t $(echo "$(per_cycle $t) $(per_cycle $base)" | awk '{ printf "%.2f", $1 / $2 }')" >> $OUT
    done
done
cat $OUT
