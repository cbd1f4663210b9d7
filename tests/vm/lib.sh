# Helpers shared by the VM scenarios (sourced).
set -u
fail() { echo "FAIL: $*" | tee /dev/stderr; exit 1; }
skip() { echo "$*"; exit 77; }

# Cleanup the EXIT trap runs before the fixture's own (`on_exit 'kill $PID'`), in order.
NT_CLEANUP=
on_exit() { NT_CLEANUP="$NT_CLEANUP$*;"; }
nt_exit_trap() {
    eval "$NT_CLEANUP"
    # A session still running holds the fixture's functions (fentry takes a module reference).
    [ -n "${NT_PID:-}" ] && kill -KILL "$NT_PID" 2>/dev/null && wait "$NT_PID" 2>/dev/null
    if [ -n "${NT_FIXTURE_LOADED:-}" ]; then
        nfctl purge
        rmmod notifier_fixture
    fi
}
trap nt_exit_trap EXIT
# suite.sh's time limit sends TERM: exit through the trap, so the cleanup runs then too.
trap 'exit 143' TERM

# Loads this kernel's fixture module ($NT_FIXTURE); at exit the scenario's own cleanup
# (on_exit) runs, then `nfctl purge` and `rmmod notifier_fixture`.
load_fixture() {
    [ -f "$NT_FIXTURE" ] || fail "no fixture module at $NT_FIXTURE"
    insmod "$NT_FIXTURE" || fail "insmod $NT_FIXTURE"
    NT_FIXTURE_LOADED=1
}

# "notifier start last" lines, sorted, of a summary or snapshot file (JSON), of every
# process or of one tgid.
NT_IV='.intervals[] | "\(.notifier) \(.start) \(.last)"'
intervals_of() { # file [tgid]
    if [ $# -ge 2 ]; then
        jq -r --argjson p "$2" ".processes[] | select(.tgids | index(\$p)) | $NT_IV" "$1"
    else
        jq -r ".processes[] | $NT_IV" "$1"
    fi | sort
}
# The same for the address space with this mm pointer (an exited process's mm has no tgid).
intervals_of_mm() { # file mm
    jq -r --arg mm "$2" ".processes[] | select(.mm == \$mm) | $NT_IV" "$1" | sort
}
# The same from the fixture's ground truth (`nfctl truth` JSON lines), of all or one tgid.
truth_of() { # truth.jsonl [tgid]
    if [ $# -ge 2 ]; then
        jq -r --argjson p "$2" 'select(.tgid == $p) | "\(.notifier) \(.start) \(.last)"' "$1"
    else
        jq -r '"\(.notifier) \(.start) \(.last)"' "$1"
    fi | sort
}

# Starts N processes that sleep S seconds, forked by one process (a shell loop forking and
# exec'ing sleep takes half a minute under emulation); prints their pids.
spawn_sleepers() { # N S
    python3 -c '
import os, sys, time
n, secs = int(sys.argv[1]), int(sys.argv[2])
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        time.sleep(secs)
        os._exit(0)
    print(pid, flush=True)
' "$1" "$2"
}

# Starts notifier-top in the background with the given arguments, waits until its hooks
# are armed, and sets NT_PID, NT_ERR and NT_OUT: its stderr and stdout go to
# $VM_OUT/<scenario>.top<N>.{err,out}, N counting the sessions a scenario starts.
start_top() {
    NT_SESSIONS=$((${NT_SESSIONS:-0} + 1))
    NT_ERR="$VM_OUT/$(basename "$0" .sh).top$NT_SESSIONS.err"
    NT_OUT="$VM_OUT/$(basename "$0" .sh).top$NT_SESSIONS.out"
    "$NT_TOP" "$@" >"$NT_OUT" 2>"$NT_ERR" &
    NT_PID=$!
    i=0
    while ! grep -q "notifier-top: ready" "$NT_ERR" 2>/dev/null; do
        kill -0 "$NT_PID" 2>/dev/null || { cat "$NT_ERR"; fail "notifier-top exited before it was ready"; }
        i=$((i + 1)); [ $i -lt 600 ] || fail "notifier-top not ready after 120s"
        sleep 0.2
    done
}

# Whether a process runs (a zombie, exited but not yet waited for, does not).
running() { st=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -c1); [ -n "$st" ] && [ "$st" != Z ]; }

# One task (a /proc/PID/task/TID folder) for a hang report: name, state, what it waits in,
# its syscall and its kernel stack.
task_report() { # task-dir
    echo "$1 $(cat "$1/comm") $(sed 's/.*) //' "$1/stat" | cut -c1)" \
        "wchan $(cat "$1/wchan") syscall $(cat "$1/syscall")"
    cat "$1/stack"
}

# Stops notifier-top (SIGINT, as Ctrl-C would), waits for it (30 s at most: a hang fails
# with each thread's state, syscall and kernel stack), fails unless it exited with the
# expected status, and prints its stdout.
stop_top_expect() { # status
    kill -INT "$NT_PID"
    i=0; while running "$NT_PID"; do
        i=$((i + 1))
        if [ $i -ge 300 ]; then
            {
                echo "notifier-top did not exit within 30 s of SIGINT; its threads:"
                for t in /proc/"$NT_PID"/task/*; do task_report "$t"; done 2>/dev/null
                tail -n 20 "$NT_ERR"
            } >&2
            fail "notifier-top hung after SIGINT"
        fi
        sleep 0.1
    done
    wait "$NT_PID"
    rc=$?
    NT_PID=
    [ $rc = "$1" ] || { cat "$NT_ERR" "$NT_OUT"; fail "notifier-top exited with $rc, expected $1"; }
    cat "$NT_OUT"
}
stop_top() { stop_top_expect 0; }

# Waits until the session ($NT_ERR, started with -v) traces the callback named $1.
wait_hooked() { # symbol
    i=0; until grep -q "tracing callback $1" "$NT_ERR"; do
        i=$((i + 1)); [ $i -lt 300 ] || fail "callback $1 was never hooked: $(tail -n 5 "$NT_ERR")"
        sleep 0.1
    done
}

# Stops a background tracer with SIGINT and waits at most $2 seconds for it to exit (it
# prints what it counted as it goes): one that hangs fails the scenario with each of its
# threads' state and kernel stack, rather than at the scenario's time limit.
stop_bg() { # pid seconds what
    kill -INT "$1"
    i=0; while running "$1"; do
        i=$((i + 1))
        if [ $i -gt $(($2 * 10)) ]; then
            for t in /proc/"$1"/task/*; do task_report "$t"; done 2>/dev/null
            kill -KILL "$1"
            fail "$3 did not exit within $2 s of SIGINT"
        fi
        sleep 0.1
    done
    wait "$1"
}

# Runs a command for at most $1 seconds, its output to file $2, and returns its status. One
# that hangs fails the scenario at once, with what every blocked task waits on (sysrq-w,
# into the kernel log kept as <scenario>.dmesg) and the kernel stack of each task in D state,
# instead of using up the scenario's whole time limit. (Not `timeout`: it waits for a killed
# command, and a task stuck in the kernel never goes.)
bounded() { # seconds file command...
    limit=$1 out=$2; shift 2
    "$@" > "$out" 2>&1 &
    pid=$!
    i=0; while running $pid; do
        i=$((i + 1))
        if [ $i -gt "$limit" ]; then
            echo "$* still running after ${limit}s; its last output: $(tail -n 3 "$out")"
            for t in /proc/[0-9]*/task/[0-9]*; do
                [ "$(sed 's/.*) //' "$t/stat" 2>/dev/null | cut -c1)" = D ] && task_report "$t"
            done 2>/dev/null
            echo w > /proc/sysrq-trigger
            kill -KILL $pid
            fail "$* did not finish within ${limit}s"
        fi
        sleep 1
    done
    wait $pid
}

# Number of JSON-lines events of a kind in a trace file.
count_kind() { grep -c "\"kind\":\"$2\"" "$1" || true; }

# Findings (a `check --json` array): whether one of this code is there.
has_finding() { # code file
    jq -e --arg c "$1" '[.[] | select(.code == $c)] | length > 0' "$2" > /dev/null
}
# Fails unless the findings are exactly these codes (each at least once, no other code);
# no codes: no findings at all.
assert_findings() { # file code...
    f=$1; shift
    got=$(jq -c '[.[].code] | unique' "$f") || fail "$f is not a findings array"
    for code in "$@"; do
        has_finding "$code" "$f" || fail "no $code finding; got $got"
    done
    want=$(echo "$@" | jq -R 'split(" ") | map(select(. != ""))')
    unexpected=$(jq -r --argjson want "$want" '[.[].code] - $want | unique | .[]' "$f")
    [ -z "$unexpected" ] || { cat "$f"; fail "unexpected findings: $unexpected"; }
}

# The interactive view in tmux session `nt` (the scenarios start it): its screen as text,
# and waits for what it shows. Failing screens are saved to $W/screen.txt.
screen() { tmux capture-pane -p -t nt; }
ms() { echo $(($(date +%s%N) / 1000000)); }
# Waits until the screen matches $1 (grep -E, within $2 ms, default 20 s); prints the ms it took.
until_screen() {
    t0=$(ms)
    while ! screen | grep -Eq "$1"; do
        [ $(($(ms) - t0)) -lt "${2:-20000}" ] ||
            { screen > "$W/screen.txt"; fail "screen never showed '$1' (see $W/screen.txt)"; }
        sleep 0.01
    done
    echo $(($(ms) - t0))
}
# Waits until the screen no longer matches $1; prints the ms it took.
until_gone() {
    t0=$(ms)
    while screen | grep -Eq "$1"; do
        [ $(($(ms) - t0)) -lt 20000 ] || fail "screen still shows '$1'"
        sleep 0.01
    done
    echo $(($(ms) - t0))
}

# Starts the interactive view (`notifier-top top`, its summary in $W/summary.json) in tmux
# session `nt`, 120x40; `quit_view` presses q and fails unless it exits 0.
start_view() {
    export TERM=xterm-256color
    tmux -f /dev/null new-session -d -s nt -x 120 -y 40 \
        "$NT_TOP top --summary-json $W/summary.json 2> $W/top.err; echo exited \$? > $W/exit"
}
quit_view() {
    tmux send-keys -t nt q
    i=0; until [ -s "$W/exit" ]; do i=$((i + 1)); [ $i -lt 300 ] || fail "the TUI did not quit"; sleep 0.1; done
    grep -q "exited 0" "$W/exit" || fail "notifier-top $(cat "$W/exit"): $(cat "$W/top.err")"
}
# Times three keys to the screen, in ms: the help overlay ($help), back ($back), the events
# view ($feed); then returns to the processes view.
time_keys() {
    help=$(tmux send-keys -t nt '?'; until_screen "keys")
    back=$(tmux send-keys -t nt Escape; until_gone "keys")
    feed=$(tmux send-keys -t nt 3; until_screen " events [^4]")
    tmux send-keys -t nt 1
}
