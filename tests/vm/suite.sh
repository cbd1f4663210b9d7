#!/bin/sh
# Runs inside the test VM: every scenario of a folder (tests/vm/scenarios for `cargo xtask
# test`, tests/vm/bench for `cargo xtask bench`), in name order, each in its own shell with a
# time limit, printing one verdict line per scenario:
#   NT-SCENARIO <name> <pass|fail|skip> <detail>
# A scenario passes by exiting 0, is skipped by exiting 77 (first line of its output
# says why), and fails otherwise. A scenario runs in the boot whose guest clock it names
# (`# clock: instructions`; wall time otherwise). A kernel WARNING, BUG, Oops, lockup or
# Call Trace in the kernel log while a scenario ran fails it (the console is at loglevel 3;
# dmesg sees everything), unless it is the report the scenario declares with
# `# expect-warning: <extended regex>` lines (any of them; a matching line and the rest of its report, up to
# `</TASK>` or `---[ end trace`, are ignored). A scenario that leaves a notifier-top
# session or the fixture module behind fails, and the leftovers are removed.
# Usage: suite.sh <expected uname -r> <wall|instructions> <scenario folder> [name filter]
export NT_RELEASE="$1" NT_CLOCK="$2" NT_DIR="$3" NT_FILTER="${4:-}"
export NT_TOP="$NT_TARGET/release/notifier-top"
export NT_FIXTURE="$NT_TARGET/fixtures/$NT_RELEASE/notifier_fixture.ko"
# The Debian package of `cargo xtask dist` (which empties target/dist first: one .deb), for
# 12-packaged; empty when dist has not run.
NT_DEB=$(ls "$NT_TARGET"/dist/notifier-top_*_amd64.deb 2>/dev/null | head -n 1)
export NT_DEB
cd "$NT_ROOT" || exit 1
[ -d "$NT_DIR" ] || { echo "suite.sh: no scenario folder $NT_DIR"; exit 1; }
for s in "$NT_DIR"/*.sh; do
    name=$(basename "$s" .sh)
    case "$name" in *"$NT_FILTER"*) ;; *) continue ;; esac
    clock=$(sed -n 's/^# clock: *//p' "$s"); [ "${clock:-wall}" = "$NT_CLOCK" ] || continue
    limit=$(sed -n 's/^# timeout: *//p' "$s"); limit=${limit:-120}
    log="$VM_OUT/$name.log"
    expect=$(sed -n 's/^# expect-warning: *//p' "$s" | paste -sd '|')
    dmesg --clear 2>/dev/null
    start=$(date +%s)
    timeout -k 5 "$limit" sh "$s" > "$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    # What a scenario left behind would fail the next ones: clean it up, and fail this one.
    left=
    if pkill -KILL -x notifier-top; then left="a notifier-top session"; sleep 0.5; fi
    if grep -q '^notifier_fixture ' /proc/modules; then
        nfctl purge > /dev/null 2>&1; rmmod notifier_fixture 2>/dev/null
        left="${left:+$left, }the fixture module"
    fi
    if [ -n "$left" ]; then
        echo "FAIL: $name left $left behind (removed)" >> "$log"
        [ $rc != 0 ] && [ $rc != 77 ] || rc=1
    fi
    dmesg > "$VM_OUT/$name.dmesg" 2>&1
    complaints=$(NT_EXPECT="$expect" awk '
        BEGIN { ok = ENVIRON["NT_EXPECT"] }
        ok != "" && $0 ~ ok { skip = 1 }
        skip { if ($0 ~ /<\/TASK>|---\[ end trace/) skip = 0; next }
        /WARNING:|BUG:|Oops|soft lockup|hard LOCKUP|Call Trace/ { print }' "$VM_OUT/$name.dmesg")
    if [ -n "$complaints" ]; then
        echo "FAIL: the kernel complained while $name ran (full log: $name.dmesg):" >> "$log"
        echo "$complaints" | head -n 5 >> "$log"
        [ $rc != 0 ] && [ $rc != 77 ] || rc=99
    fi
    case $rc in
        0) echo "NT-SCENARIO $name pass ${took}s" ;;
        77) echo "NT-SCENARIO $name skip $(head -n1 "$log")" ;;
        124|137)
            echo "NT-SCENARIO $name fail timed out after ${limit}s"
            tail -n 20 "$log" | sed 's/^/    /' ;;
        99)
            echo "NT-SCENARIO $name fail kernel warning after ${took}s"
            tail -n 6 "$log" | sed 's/^/    /' ;;
        *)
            echo "NT-SCENARIO $name fail exit $rc after ${took}s"
            tail -n 20 "$log" | sed 's/^/    /' ;;
    esac
done
exit 0
