# Every misbehaviour switch of the fixture produces exactly its finding (with a stack naming
# the offending function where the rule records one), and clean fixture traffic produces
# none. The expected table is docs/rules.md.
# timeout: 300
. tests/vm/lib.sh
[ -f "$NT_FIXTURE" ] || fail "no fixture module at $NT_FIXTURE"
insmod "$NT_FIXTURE" || fail "insmod"
trap 'nfctl purge; rmmod notifier_fixture' EXIT
W=$VM_OUT/hazards
mkdir -p $W

# Clean traffic first: no findings, exit status 0.
start_top check --json --raw-pointers
nfctl scenario basic > /dev/null && nfctl scenario read-side > /dev/null && nfctl purge
sleep 1
stop_top > $W/clean.json
[ "$(jq length $W/clean.json)" = 0 ] || { cat $W/clean.json; fail "findings on clean traffic"; }

# Each misbehaviour in turn.
start_top check --json --raw-pointers
for s in alloc lock-chain ret-false read-in-cb wrong-lock slow sleep-nonblock; do
    nfctl scenario $s > /dev/null || fail "scenario $s"
done
sleep 1
kill -INT "$NT_PID"; wait "$NT_PID"; rc=$?
cp "$NT_OUT" $W/findings.json; cp "$NT_ERR" $W/check.err
[ $rc = 1 ] || { cat "$NT_ERR"; fail "check exited $rc, expected 1 (findings)"; }
grep "notifier-top check: NT.*unavailable" $W/check.err && fail "a rule was unavailable on this kernel"
has() { jq -e --arg c "$1" '[.[] | select(.code == $c)] | length > 0' $W/findings.json > /dev/null; }
frames() { jq -r --arg c "$1" '[.[] | select(.code == $c) | .stack_frames[][]] | join(" ")' $W/findings.json; }
for code in NT001 NT002 NT003 NT004 NT005 NT006 NT008; do
    has $code || fail "no $code finding; got $(jq -c '[.[].code]' $W/findings.json)"
done
frames NT001 | grep -q nf_invalidate || fail "NT001 stack does not name nf_invalidate: $(frames NT001)"
frames NT002 | grep -q nf_chain_alloc || fail "NT002 stack does not name nf_chain_alloc: $(frames NT002)"
frames NT003 | grep -q nf_invalidate || fail "NT003 stack does not name nf_invalidate: $(frames NT003)"
unexpected=$(jq -r '[.[].code] - ["NT001","NT002","NT003","NT004","NT005","NT006","NT008"] | .[]' $W/findings.json)
[ -z "$unexpected" ] || fail "unexpected findings: $unexpected"
jq -r '.[] | "\(.code) \(.name): \(.detail) ×\(.count)"' $W/findings.json
