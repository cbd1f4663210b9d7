# Benchmark (7.x): what the hazard rules cost a real workload. The same rxe ODP pingpong
# untraced, under plain capture (`record`) and under `check`, in usec/iter (figures for
# docs/benchmarks.md). Fails if it cannot measure, or if `check` finds anything in that
# clean traffic.
# timeout: 400
. tests/vm/lib.sh
case "$NT_RELEASE" in 7.*) ;; *) skip "rxe ODP needs 7.x" ;; esac
W=$VM_OUT/rules-cost
mkdir -p $W
usec() { sed -n 's/.* = \([0-9.]*\) usec\/iter.*/\1/p' "$1"; }
nt-rxe-pingpong -o -n 2000 > $W/rxe-none.out || fail "rxe pingpong"
start_top record -o $W/rxe.ntrec
nt-rxe-pingpong -o -n 2000 > $W/rxe-record.out || fail "rxe pingpong under record"
stop_top > /dev/null
start_top check --json --slow-callback 15ms --read-begin-wait 50ms
nt-rxe-pingpong -o -n 2000 > $W/rxe-check.out || fail "rxe pingpong under check"
stop_top > $W/rxe-check.json
assert_findings $W/rxe-check.json
for f in none record check; do
    [ -n "$(usec $W/rxe-$f.out)" ] || fail "no usec/iter in $W/rxe-$f.out: $(tail -3 $W/rxe-$f.out)"
done
echo "rxe ODP pingpong, 2000 iterations, usec/iter: untraced $(usec $W/rxe-none.out)," \
    "record $(usec $W/rxe-record.out), check $(usec $W/rxe-check.out)"
