# Every misbehaviour switch of the fixture produces exactly its finding (with a stack naming
# the offending function where the rule records one), and clean traffic — the fixture's
# clean scenarios, an idle system, rxe ODP pingpong on 7.x — produces none. The expected
# table is docs/rules.md. (What `check` costs the rxe workload: tests/vm/bench/50-rules-cost.sh.)
# timeout: 400
# Kernel reports the misbehaviour switches cause on purpose: ret-false returns false for a
# blockable range (mm/mmu_notifier.c WARNs); wrong-lock calls insert_locked without the
# mmap lock held for write (7.x: rwsem.h's assertion WARNs).
# sleep-nonblock drives a memory cgroup into the OOM killer, whose report has a Call Trace.
# expect-warning: mm/mmu_notifier\.c:[0-9]+ (at )?[_a-z]
# expect-warning: include/linux/rwsem\.h:[0-9]+ (at )?mmu_interval_notifier_insert_locked
# On a lockdep kernel (7.3-lockdep) the first lock misbehaviour also gets lockdep's report
# (alloc, lock-chain: a circular dependency; read-in-cb, wrong-lock: recursive locking),
# and lockdep then turns itself off for the rest of the boot.
# expect-warning: possible (circular|recursive) locking (dependency )?detected
# expect-warning: invoked oom-killer
. tests/vm/lib.sh
load_fixture
W=$VM_OUT/hazards
mkdir -p $W
case "$NT_RELEASE" in 7.*) RXE=1 ;; *) RXE= ;; esac

# Clean traffic first: no findings, exit status 0. Software emulation stretches kernel code
# 20-50x, so a clean callback can pass the 5 ms default of NT008: the latency thresholds are
# raised for this run (the misbehaviours below use the defaults).
start_top check --json --raw-pointers --slow-callback 15ms --read-begin-wait 50ms
sleep 3 # an idle system
nfctl scenario basic > /dev/null && nfctl scenario read-side > /dev/null && nfctl purge
[ -n "$RXE" ] && { nt-rxe-pingpong -o -n 50 > $W/clean-rxe.out || fail "rxe pingpong"; }
sleep 1
stop_top > $W/clean.json
[ "$(jq length $W/clean.json)" = 0 ] || { cat $W/clean.json; fail "findings on clean traffic"; }
echo "clean: no findings (idle, fixture basic/read-side/purge${RXE:+, rxe ODP pingpong})"

# Each misbehaviour in turn. The fixture's callback is hooked when an insert first names it,
# which takes a moment (kprobe registration patches kernel text, slow under emulation):
# callbacks before that are not traced (a known gap, issue 14). Clean traffic names it
# first, and the misbehaviours start once the hook is in place.
start_top -v check --json --raw-pointers
nfctl scenario basic > /dev/null && nfctl purge
wait_hooked nf_invalidate
for s in alloc lock-chain ret-false read-in-cb mmput-in-cb wrong-lock slow read-wait \
    sleep-nonblock exit-with-intervals; do
    nfctl scenario $s > /dev/null || fail "scenario $s"
done
# NT010 reports intervals still registered 10 s (of event time) after exit_mmap.
sleep 10.5
nfctl scenario basic > /dev/null
sleep 1
stop_top_expect 1 > $W/findings.json
cp "$NT_ERR" $W/check.err
grep "notifier-top check: NT.*unavailable" $W/check.err && fail "a rule was unavailable on this kernel"
frames() { jq -r --arg c "$1" '[.[] | select(.code == $c) | .stack_frames[][]] | join(" ")' $W/findings.json; }
assert_findings $W/findings.json NT001 NT002 NT003 NT004 NT005 NT006 NT007 NT008 NT009 NT010
frames NT001 | grep -q nf_invalidate || fail "NT001 stack does not name nf_invalidate: $(frames NT001)"
frames NT002 | grep -q nf_chain_alloc || fail "NT002 stack does not name nf_chain_alloc: $(frames NT002)"
frames NT003 | grep -q nf_invalidate || fail "NT003 stack does not name nf_invalidate: $(frames NT003)"
frames NT005 | grep -q nf_invalidate || fail "NT005 stack does not name nf_invalidate: $(frames NT005)"
# nf_insert is static: gcc may inline it into nf_ioctl (it does on 7.3-lockdep).
frames NT006 | grep -Eq "nf_insert|nf_ioctl" || fail "NT006 stack names neither nf_insert nor nf_ioctl: $(frames NT006)"
frames NT007 | grep -q nf_invalidate || fail "NT007 stack does not name nf_invalidate: $(frames NT007)"
jq -r '.[] | "\(.code) \(.name): \(.detail) ×\(.count)"' $W/findings.json
