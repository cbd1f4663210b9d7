# Benchmark: what the deep scan costs (figures for docs/benchmarks.md): the scan's own time
# as `snapshot` reports it, per GiB of guest RAM, with the guest idle and with 2000 more
# processes (more mm_struct slabs to check), and the whole snapshot's wall time with the
# scan and with --no-deep-scan, median of 3 each, in the same boot. (Correctness:
# tests/vm/scenarios/72-dead-mms.sh.)
# timeout: 900
. tests/vm/lib.sh
load_fixture
W=$VM_OUT/deep-scan
mkdir -p $W
nfctl scenario exit-with-intervals > /dev/null || fail "exit-with-intervals"
median() { sort -n | sed -n 2p; }
# One snapshot: its wall time in ms, the scan's ms and its report line.
snap() { # tag [args]
    tag=$1; shift
    t0=$(date +%s%N)
    $NT_TOP snapshot "$@" -o $W/$tag.json 2> $W/$tag.err || fail "snapshot $*: $(cat $W/$tag.err)"
    echo $((($(date +%s%N) - t0) / 1000000)) >> $W/$tag.wall
    sed -n 's/.*deep scan: .* in \([0-9]*\) ms.*/\1/p' $W/$tag.err >> $W/$tag.scan
}
measure() { # label
    for i in 1 2 3; do snap scan-$1; snap off-$1 --no-deep-scan; done
    scan=$(median < $W/scan-$1.scan)
    [ -n "$scan" ] || fail "no scan time in $(cat $W/scan-$1.err)"
    gib=$(sed -n 's/.*deep scan: \([0-9.]*\) GiB.*/\1/p' $W/scan-$1.err)
    with=$(median < $W/scan-$1.wall)
    without=$(median < $W/off-$1.wall)
    echo "$1: $(ls -d /proc/[0-9]* | wc -l) processes; $(sed -n 's/.*deep scan: //p' $W/scan-$1.err)"
    echo "$1: scan $scan ms for $gib GiB = $(echo "$scan $gib" | awk '{printf "%.0f", $1 / $2}') ms/GiB;" \
        "snapshot $with ms with the scan, $without ms without" \
        "(ratio $(echo "$with $without" | awk '{printf "%.3f", $1 / $2}'))"
}
measure idle
spawn_sleepers 2000 900 >> $W/pids
on_exit "kill \$(cat $W/pids) 2>/dev/null"
measure busy
