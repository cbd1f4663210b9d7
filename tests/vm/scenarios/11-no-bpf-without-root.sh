# Without privileges the tool refuses with a message naming the cause and the fix.
. tests/vm/lib.sh
command -v setpriv >/dev/null || skip "no setpriv"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$NT_TOP" probes 2>&1) && fail "probes succeeded as nobody"
echo "$out"
echo "$out" | grep -q "needs root" || fail "message does not name the cause"
