# The fixture module loads, every scenario and misbehaviour switch runs without hanging or
# crashing the guest, its ground truth is readable, and it unloads cleanly.
# timeout: 180
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
