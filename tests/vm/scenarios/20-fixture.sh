# The fixture module loads, every scenario and misbehaviour switch runs without hanging or
# crashing the guest, its ground truth is readable, and it unloads cleanly.
# timeout: 180
# Kernel reports the misbehaviour switches cause on purpose: ret-false returns false for a
# blockable range (mm/mmu_notifier.c WARNs); wrong-lock calls insert_locked without the
# mmap lock held for write (7.x: rwsem.h's assertion WARNs).
# expect-warning: mm/mmu_notifier\.c:[0-9]+ (at )?[_a-z]
# expect-warning: include/linux/rwsem\.h:[0-9]+ (at )?mmu_interval_notifier_insert_locked
# On a lockdep kernel (7.3-lockdep) the first lock misbehaviour also gets lockdep's report
# (alloc, lock-chain: a circular dependency; read-in-cb, wrong-lock: recursive locking),
# and lockdep then turns itself off for the rest of the boot.
# expect-warning: possible (circular|recursive) locking (dependency )?detected
. tests/vm/lib.sh
load_fixture
for s in basic deferred exit-with-intervals "churn 2000" read-side \
    alloc lock-chain ret-false read-in-cb slow wrong-lock; do
    nfctl scenario $s || fail "scenario $s"
done
nfctl truth > "$VM_OUT/fixture-truth.json" || fail "truth"
[ "$(grep -c . "$VM_OUT/fixture-truth.json")" -gt 0 ] || fail "no kept intervals in the truth"
nfctl purge || fail "purge"
[ "$(nfctl truth | grep -c .)" = 0 ] || fail "intervals left after purge"
rmmod notifier_fixture || fail "rmmod"
NT_FIXTURE_LOADED=
dmesg | grep -E "BUG|Oops|general protection" && fail "kernel complained"
true
