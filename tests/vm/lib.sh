# Helpers shared by the VM scenarios (sourced).
set -u
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "$*"; exit 77; }

# Starts notifier-top in the background with the given arguments, waits until its hooks
# are armed, and sets NT_PID. Its stderr goes to $VM_OUT/<scenario>.top.err.
start_top() {
    NT_ERR="$VM_OUT/$(basename "$0" .sh).top.err"
    NT_OUT="$VM_OUT/$(basename "$0" .sh).top.out"
    "$NT_TOP" "$@" >"$NT_OUT" 2>"$NT_ERR" &
    NT_PID=$!
    i=0
    while ! grep -q "notifier-top: ready" "$NT_ERR" 2>/dev/null; do
        kill -0 "$NT_PID" 2>/dev/null || { cat "$NT_ERR"; fail "notifier-top exited before it was ready"; }
        i=$((i + 1)); [ $i -lt 600 ] || fail "notifier-top not ready after 120s"
        sleep 0.2
    done
}

# Stops notifier-top (SIGINT, as Ctrl-C would), waits for it (failing on a non-zero exit)
# and prints its stdout.
stop_top() {
    kill -INT "$NT_PID"
    wait "$NT_PID"
    rc=$?
    [ $rc = 0 ] || { cat "$NT_ERR" "$NT_OUT"; fail "notifier-top exited with $rc"; }
    cat "$NT_OUT"
}

# Number of JSON-lines events of a kind in a trace file.
count_kind() { grep -c "\"kind\":\"$2\"" "$1" || true; }
