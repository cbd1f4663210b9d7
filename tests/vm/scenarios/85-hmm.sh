# The kernel's own HMM test driver (lib/test_hmm.c) under notifier-top, 7.x only (Debian's
# 6.1 and 6.12 are built without DEVICE_PRIVATE: test_hmm cannot load there). hmm-tests
# runs untraced, then once more under `record` (the automatic attach mode: fentry) and
# `check` forced into kprobes (audits every second in both), with bpftrace counting the same
# kernel functions: the pass count is the untraced one; in both sessions every capture and
# HMM-layer kind equals bpftrace's count; nothing lost, no drift; the exited hmm-tests
# processes leave nothing in the final mirror; the owners are test_hmm's two callbacks; the
# recording exports as a Perfetto trace; `check` finds nothing (latency thresholds raised as
# docs/rules.md says: emulation stretches callbacks). Then test_hmm's non-blockable path:
# the OOM reaper unmaps a killed process holding /dev/hmm_dmirror0 (the fixture's memcg
# recipe), test_hmm's callback trylocks and may return false there, which is correct: no
# finding at all. Each hmm-tests run has 300 s (about 30 s here): a hang fails at once,
# naming what blocked, rather than at the scenario's limit.
# The OOM killer's report has a Call Trace.
# expect-warning: invoked oom-killer
# timeout: 900
. tests/vm/lib.sh
nt-hmm-setup > "$VM_OUT/hmm-setup.txt" 2>&1
case $? in
    0) ;;
    77) skip "$(head -n1 "$VM_OUT/hmm-setup.txt")" ;;
    *) fail "nt-hmm-setup: $(cat "$VM_OUT/hmm-setup.txt")" ;;
esac
on_exit 'rmmod test_hmm 2>/dev/null'
W=$VM_OUT/hmm
mkdir -p "$W"
# kselftest's closing line: "# Totals: pass:N fail:N xfail:N xpass:N skip:N error:N".
totals() { sed -n 's/^# Totals: //p' "$1"; }
passed() { totals "$1" | sed -n 's/^pass:\([0-9]*\).*/\1/p'; }

bounded 300 "$W/untraced.txt" nt-hmm-tests
untraced=$(passed "$W/untraced.txt")
[ -n "$untraced" ] && [ "$untraced" -gt 0 ] || fail "hmm-tests untraced: $(tail -n 5 "$W/untraced.txt")"
echo "untraced: $(totals "$W/untraced.txt")"

# The reference: bpftrace counting the same functions with kfunc probes (count() is
# atomic; @n++ lost increments once).
FUNCS="mmu_interval_notifier_insert mmu_interval_notifier_remove mmu_interval_read_begin
hmm_range_fault migrate_vma_setup migrate_vma_pages migrate_vma_finalize make_device_exclusive
migrate_device_range migrate_device_pages migrate_device_finalize"
for f in $FUNCS; do printf 'kfunc:%s { @n["%s"] = count(); }\n' "$f" "$f"; done > "$W/count.bt"
bpftrace "$W/count.bt" > "$W/bpftrace.txt" 2>&1 &
BT=$!
on_exit "kill $BT 2>/dev/null"
i=0; until grep -q Attaching "$W/bpftrace.txt"; do
    i=$((i + 1)); [ $i -lt 600 ] || fail "bpftrace never attached: $(cat "$W/bpftrace.txt")"; sleep 0.2
done
sleep 1

start_top -v record -o "$W/hmm.ntrec" --raw-pointers --summary-json "$W/summary.json" --audit-every 1s
REC=$NT_PID REC_ERR=$NT_ERR REC_OUT=$NT_OUT
start_top -v check --attach kprobe --json --raw-pointers --audit-every 1s \
    --summary-json "$W/summary-kprobe.json" --slow-callback 50ms --read-begin-wait 200ms
# test_hmm's callbacks hooked in both sessions before the workload: kernel text patched
# while both vCPUs run it is where emulation has hung before (docs/testbed.md).
hmm-tests -r hmm.hmm_device_private.open_close > /dev/null 2>&1
wait_hooked dmirror_interval_invalidate
NT_ERR=$REC_ERR wait_hooked dmirror_interval_invalidate
bounded 300 "$W/traced.txt" nt-hmm-tests
traced=$(passed "$W/traced.txt")
sleep 2
stop_top > "$W/findings.json"
NT_PID=$REC NT_ERR=$REC_ERR NT_OUT=$REC_OUT stop_top > /dev/null
stop_bg $BT 60 bpftrace
echo "traced: $(totals "$W/traced.txt")"
[ "$traced" = "$untraced" ] || fail "hmm-tests passed $traced under notifier-top, $untraced untraced"

# Every count equals bpftrace's (notifier-top names kinds after their kernel function).
bt() { sed -n "s/^@n\[$1\]: //p" "$W/bpftrace.txt"; }
# The count of kind $1 in the fentry session, or in the session of mode $2.
nt() { jq -r --arg k "$1" '.counters.by_kind[$k] // 0' "$W/summary${2:+-$2}.json"; }
for mode in "" kprobe; do for pair in insert:mmu_interval_notifier_insert remove_end:mmu_interval_notifier_remove \
    read_begin:mmu_interval_read_begin hmm_range_fault:hmm_range_fault \
    migrate_vma_setup:migrate_vma_setup migrate_vma_pages:migrate_vma_pages \
    migrate_vma_finalize:migrate_vma_finalize make_device_exclusive:make_device_exclusive \
    migrate_device_range:migrate_device_range migrate_device_pages:migrate_device_pages \
    migrate_device_finalize:migrate_device_finalize; do
    kind=${pair%%:*} func=${pair#*:}
    want=$(bt "$func"); want=${want:-0}; got=$(nt "$kind" "$mode")
    echo "$kind: notifier-top (${mode:-fentry}) $got, bpftrace $want"
    [ "$got" = "$want" ] || fail "$kind: notifier-top (${mode:-fentry}) counted $got, bpftrace $want"
done; done
[ "$(nt hmm_range_fault)" -gt 0 ] && [ "$(nt migrate_vma_pages)" -gt 0 ] \
    || fail "hmm-tests made no device faults or migrations"
# The recording as a Perfetto trace, exported in the guest; after the suites, `cargo xtask
# test` exports it again on the host and reads it back with Perfetto's classes
# (tests/perfetto.rs), as every recording the scenarios leave in $VM_OUT.
$NT_TOP export perfetto "$W/hmm.ntrec" -o "$W/hmm.pftrace" 2> "$W/export.err" \
    || fail "export perfetto: $(cat "$W/export.err")"
[ -s "$W/hmm.pftrace" ] || fail "export perfetto wrote nothing"
echo "perfetto trace: $(stat -c %s "$W/hmm.pftrace") bytes"

# Nothing lost by the fentry session. The kprobe session may have program runs the kernel
# skipped (a kprobe firing while another BPF program runs on that CPU, 6.7+; here the
# rules' lock hooks): those are counted and reported, and the counts above still agree.
lost=$(jq '.counters.lost + .counters.skipped' "$W/summary.json")
kprobe_lost=$(jq .counters.lost "$W/summary-kprobe.json")
echo "kprobe session: $kprobe_lost lost, $(jq .counters.skipped "$W/summary-kprobe.json") runs skipped (reported)"
[ "$kprobe_lost" = 0 ] || fail "the kprobe session lost $kprobe_lost events"
drift=$(jq '.audit.missing + .audit.extra' "$W/summary.json")
audits=$(jq .audit.mms_checked "$W/summary.json")
echo "lost $lost, drift $drift, $audits mm audits"
[ "$lost" = 0 ] || fail "$lost events lost"
[ "$drift" = 0 ] || fail "audit drift: $(jq -c .audit.drift "$W/summary.json")"
[ "$audits" -gt 0 ] || fail "no audit ran"

left=$(jq '[.processes[] | select(.comms | index("hmm-tests")) | .intervals | length] | add // 0' \
    "$W/summary.json")
[ "$left" = 0 ] || fail "$left intervals of the exited hmm-tests processes remain in the mirror"
owners=$(jq -r '[.owners[].owner] | sort | join(", ")' "$W/summary.json")
echo "owners: $owners"
[ "$owners" = "dmirror_interval_invalidate [test_hmm], dmirror_snapshot_invalidate [test_hmm]" ] \
    || fail "owners: $owners"
# Every fault named a test_hmm interval: the owners' fault counts add up to bpftrace's.
faults=$(jq '[.owners[].hmm.faults // 0] | add' "$W/summary.json")
echo "device faults by owner: $(jq -c '[.owners[] | {owner, faults: (.hmm.faults // 0),
    busy: (.hmm.faults_busy // 0), p99_ns: .hmm.fault_p99_ns}]' "$W/summary.json")"
[ "$faults" = "$(bt hmm_range_fault)" ] || fail "owners account for $faults of $(bt hmm_range_fault) faults"
assert_findings "$W/findings.json"
echo "check: no findings"

# The non-blockable path. The fixture module only keeps the victim's mm alive (a thread
# stalled uninterruptibly in it) until the reaper has run.
load_fixture
start_top -v check --json --raw-pointers --slow-callback 50ms --read-begin-wait 200ms
CHECK=$NT_PID CHECK_ERR=$NT_ERR CHECK_OUT=$NT_OUT
start_top -v trace --json --raw-pointers
hmm-tests -r hmm.hmm_device_private.open_close > /dev/null 2>&1 # names test_hmm's callbacks to both sessions
wait_hooked dmirror_interval_invalidate
NT_ERR=$CHECK_ERR wait_hooked dmirror_interval_invalidate
nfctl scenario hmm-nonblock > "$W/nonblock.json" || fail "scenario hmm-nonblock"
jq -e '.killed_by == 9' "$W/nonblock.json" > /dev/null || fail "the OOM killer did not kill: $(cat "$W/nonblock.json")"
sleep 1
stop_top > "$W/nonblock-trace.jsonl"
NT_PID=$CHECK NT_ERR=$CHECK_ERR NT_OUT=$CHECK_OUT stop_top > "$W/nonblock-findings.json"
# Callbacks test_hmm got with a non-blockable range, by return value (1: done, 0: contended).
jq -s -c '[.[] | select(.kind == "callback" and .owner == "dmirror_interval_invalidate [test_hmm]"
    and (.flags | index("blockable") | not))] | group_by(.ret) | map({ret: .[0].ret, n: length})' \
    "$W/nonblock-trace.jsonl" > "$W/nonblock-callbacks.json"
echo "test_hmm's non-blockable callbacks by return value: $(cat "$W/nonblock-callbacks.json")"
[ "$(jq '[.[].n] | add // 0' "$W/nonblock-callbacks.json")" -gt 0 ] \
    || fail "the OOM reaper made no non-blockable call to test_hmm's callback"
assert_findings "$W/nonblock-findings.json"
echo "non-blockable path: no findings"
