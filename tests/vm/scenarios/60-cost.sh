# Benchmark (prints numbers, passes when it could measure): the in-kernel cost per hit of
# notifier-top's programs next to bpftrace's on the same hooks, from the kernel's BPF
# run-time statistics, and the nouveau-like churn rate with no tracer, with notifier-top
# and with bpftrace. Figures go to $VM_OUT/cost.txt; docs/benchmarks.md keeps them.
# timeout: 300
. tests/vm/lib.sh
[ -f "$NT_FIXTURE" ] || fail "no fixture module"
command -v bpftool >/dev/null || skip "no bpftool"
insmod "$NT_FIXTURE" || fail "insmod"
trap 'rmmod notifier_fixture' EXIT
OUT=$VM_OUT/cost.txt
N=20000
rate() { nfctl scenario churn $N | jq -r .pairs_per_sec; }
echo "kernel $(uname -r), churn of $N insert/read_begin/remove cycles" > $OUT
echo "churn pairs/s, no tracer: $(rate)" >> $OUT
sysctl -qw kernel.bpf_stats_enabled=1 || fail "cannot enable BPF stats"

start_top record -o $VM_OUT/cost.ntrec
echo "churn pairs/s, notifier-top: $(rate)" >> $OUT
bpftool prog show -j > $VM_OUT/progs-top.json
stop_top > /dev/null

bpftrace -q -e '
kprobe:mmu_interval_notifier_insert { @i[comm] = count() }
kprobe:mmu_interval_notifier_remove { @r[comm] = count() }
kretprobe:mmu_interval_notifier_remove { @re[comm] = count() }
kprobe:mmu_interval_read_begin { @b[comm] = count() }
kretprobe:mmu_interval_read_begin { @be[comm] = count() }
kprobe:__mmu_notifier_invalidate_range_start { @s[comm] = count() }' > /dev/null 2>&1 &
BT=$!
sleep 5
echo "churn pairs/s, bpftrace: $(rate)" >> $OUT
bpftool prog show -j > $VM_OUT/progs-bpftrace.json
kill -INT $BT; wait $BT
sysctl -qw kernel.bpf_stats_enabled=0

# Programs with runs: name, runs, total ns, ns per run. Each snapshot is taken while only
# one tracer has programs loaded (bookworm's bpftool shows no owning pids).
per_hit() {
    jq -r '.[] | select((.run_cnt // 0) > 0)
        | "\(.name) \(.run_cnt) \(.run_time_ns) \((.run_time_ns / .run_cnt) | floor)"' "$1"
}
echo "notifier-top programs (name, runs, total ns, ns/run):" >> $OUT
per_hit $VM_OUT/progs-top.json | sed 's/^/  /' >> $OUT
echo "bpftrace programs (name, runs, total ns, ns/run):" >> $OUT
per_hit $VM_OUT/progs-bpftrace.json | sed 's/^/  /' >> $OUT
cat $OUT
grep -q "notifier-top: [0-9]" $OUT || fail "no churn rate under notifier-top"
