# rxe ODP on 7.3: every insert, remove, invalidation and read_begin the ODP pingpong causes is
# captured — the counts equal bpftrace's on the same functions in the same run, up to the runs
# the kernel reports it skipped — notifier-top reports its own skipped runs, and the mirror ends
# empty for the pingpong processes.
# timeout: 240
. tests/vm/lib.sh
case "$NT_RELEASE" in 7.*) ;; *) skip "rxe ODP needs 7.x (6.12's rxe has no ODP)" ;; esac
command -v bpftool >/dev/null || skip "no bpftool (it reads the reference's skipped runs)"
gid=$(nt-rxe-setup) || fail "nt-rxe-setup"
W=$VM_OUT/rxe
mkdir -p $W
# kfunc (fentry), not kprobes: a kprobe program is skipped whenever its CPU's bpf_prog_active is
# taken (another kprobe or tracepoint program running, or a BPF map syscall such as
# notifier-top's own map reads, preempted) — bpftrace's kprobes missed up to two of these
# calls in a run. fentry programs only skip a run when the same program is already running on
# that CPU: 7.3 is PREEMPT_LAZY, so a program preempted mid-run makes the next task there
# untraced. The kernel counts
# those skips (recursion_misses): each side's count may differ from the other's by no more
# than the runs the kernel skipped, and by nothing when it skipped none.
# count(), not `@n++`: `++` is a read-modify-write of one shared map value, and the two
# pingpong processes exiting on both CPUs at once lost an increment (7 invalidations counted,
# 8 printed by the same program). count() keeps one counter per CPU; bpftrace prints the
# maps (`@range_start: 8`) when it exits.
bpftrace -e '
kfunc:mmu_interval_notifier_insert /comm == "ibv_rc_pingpong"/ { @insert = count() }
kfunc:mmu_interval_notifier_remove /comm == "ibv_rc_pingpong"/ { @remove = count() }
kfunc:mmu_interval_read_begin /comm == "ibv_rc_pingpong"/ { @read_begin = count() }
kfunc:__mmu_notifier_invalidate_range_start /comm == "ibv_rc_pingpong"/ { @range_start = count() }
' > $W/bpftrace.out 2>$W/bpftrace.err &
BT=$!
start_top trace --json --raw-pointers --summary-json $W/summary.json
# bpftrace compiles its programs with LLVM (slow under emulation): wait until it attached.
i=0
until grep -q "^Attaching" $W/bpftrace.out; do
    kill -0 $BT || fail "bpftrace died: $(cat $W/bpftrace.err)"
    i=$((i + 1)); [ $i -lt 600 ] || fail "bpftrace never attached"
    sleep 0.2
done
timeout 60 ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 20 > $W/server.out 2>&1 &
SRV=$!
sleep 2
timeout 60 ibv_rc_pingpong -d rxe0 -g "$gid" -o -n 20 10.77.0.1 > $W/client.out 2>&1 ||
    fail "pingpong client: $(cat $W/client.out)"
wait $SRV || fail "pingpong server: $(cat $W/server.out)"
sleep 1
# Both tools are still loaded; the workload is over, so the skip counts are final.
bpftool prog show -j > $W/progs.json
kill -INT $BT; wait $BT
stop_top > $W/trace.jsonl
mv "$NT_ERR" $W/ 2>/dev/null
grep '"comm":"ibv_rc_pingpong"' $W/trace.jsonl > $W/pp.jsonl
ours() { grep -c "\"kind\":\"$1\"" $W/pp.jsonl; }
theirs() { sed -n "s/^@$1: //p" $W/bpftrace.out | grep . || echo 0; }
cat $W/bpftrace.out
# bpftrace names its programs after the probed function; notifier-top's are its own.
skipped() {
    jq "[.[] | select(.type == \"tracing\" or .type == \"kprobe\")
         | select(.name | test(\"^_*mmu_(interval|notifier)\") | $1)
         | .recursion_misses // 0] | add // 0" $W/progs.json
}
bt_skipped=$(skipped .); nt_skipped=$(skipped not)
reported=$(jq .counters.skipped $W/summary.json)
echo "runs skipped by the kernel: bpftrace $bt_skipped, notifier-top $nt_skipped (it reported $reported)"
[ "$reported" = "$nt_skipped" ] || fail "notifier-top reported $reported skipped runs, the kernel counted $nt_skipped"
slack=$((bt_skipped + nt_skipped))
for k in insert:insert remove:remove_end read_begin:read_begin range_start:range_start; do
    b=${k%%:*}; o=${k#*:}
    t=$(theirs $b); u=$(ours $o)
    echo "$b: bpftrace $t notifier-top $u"
    d=$((u > t ? u - t : t - u))
    [ $d -le $slack ] || fail "$b count differs by $d; the kernel skipped $slack runs"
done
[ "$(ours insert)" -ge 2 ] || fail "expected at least one ODP MR per side"
left=$(jq '[.processes[] | select(.comms | index("ibv_rc_pingpong")) | .intervals | length] | add // 0' $W/summary.json)
[ "$left" = 0 ] || fail "$left intervals left in the mirror after the workload exited"
