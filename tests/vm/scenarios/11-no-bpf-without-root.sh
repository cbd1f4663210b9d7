# Privileges are capabilities, not uid 0: user nobody without any is refused with a message
# naming the missing ones and the fix (status 2); nobody given exactly CAP_BPF, CAP_PERFMON
# and CAP_SYSLOG (ambient, as setcap on the binary would give them) lists the hooks and
# takes a snapshot.
# timeout: 240
. tests/vm/lib.sh
command -v setpriv >/dev/null || skip "no setpriv"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
out=$(as_nobody "$NT_TOP" probes 2>&1)
rc=$?
echo "$out"
[ $rc = 2 ] || fail "probes as nobody exited $rc, expected 2"
echo "$out" | grep -q "needs CAP_BPF and CAP_PERFMON" || fail "message does not name the cause"
echo "$out" | grep -q "without CAP_BPF, CAP_PERFMON" || fail "missing capabilities not named"
echo "$out" | grep -q "setcap" || fail "no fix named"

caps=+bpf,+perfmon,+syslog
with_caps() { as_nobody --inh-caps $caps --ambient-caps $caps "$@"; }
with_caps "$NT_TOP" probes > /run/probes-caps.out 2>&1 ||
    fail "probes as nobody with $caps: $(cat /run/probes-caps.out)"
grep -q "insert" /run/probes-caps.out || fail "no hook table: $(cat /run/probes-caps.out)"
with_caps "$NT_TOP" snapshot > /run/snap-caps.json 2> /run/snap-caps.err ||
    fail "snapshot as nobody with $caps: $(cat /run/snap-caps.err)"
jq -e .processes /run/snap-caps.json > /dev/null || fail "snapshot is not JSON"
echo "nobody with $caps: probes and snapshot ran ($(tail -n1 /run/snap-caps.err))"
