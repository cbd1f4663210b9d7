# What reaches the user, as it happens and whatever happens: a trace is written while it
# runs (lines out a second after the events, not at exit); a process that names itself with
# terminal escape sequences reaches root's trace escaped; a recorder killed with SIGKILL
# leaves a file that replays everything up to its last flush; a trace whose reader goes
# away (`| head -2`) ends then, not at its --duration.
# timeout: 420
. tests/vm/lib.sh
load_fixture
W=$VM_OUT/outputs
mkdir -p $W

# Live and escaped: ESC ] 0 ; PWNED BEL ESC [ 2 J as the process's name.
hostile=$(printf '\033]0;PWNED\007\033[2J')
start_top trace --raw-pointers
NFCTL_COMM="$hostile" nfctl scenario basic > /dev/null || fail "scenario basic as the hostile name"
sleep 1.5
live=$(grep -c . "$NT_OUT")
cp "$NT_OUT" $W/live.txt
stop_top > $W/trace.txt
echo "live: $live lines out 1.5 s after the events, $(grep -c . $W/trace.txt) at exit"
[ "$live" -gt 0 ] || fail "the trace printed nothing while it ran"
esc=$(tr -cd '\033\007' < $W/trace.txt | wc -c)
[ "$esc" = 0 ] || fail "$esc raw ESC/BEL bytes in the trace"
grep -qF '\x1b]0;PWNED\x07\x1b[2J' $W/trace.txt || fail "the hostile name is not shown escaped: $(head -3 $W/trace.txt)"

# Killed: the churn's inserts all replay from a recording whose recorder got SIGKILL a
# second after the churn ended (blocks reach the file every 250 ms).
N=2000
start_top record -o $W/killed.ntrec --raw-pointers
nfctl scenario churn $N > /dev/null || fail "churn"
sleep 1
kill -KILL "$NT_PID"
wait "$NT_PID" 2>/dev/null
NT_PID=
[ -s $W/killed.ntrec ] || fail "SIGKILL left no recording under its name: $(ls -la $W)"
$NT_TOP replay $W/killed.ntrec --summary-json $W/killed.json > /dev/null 2> $W/killed.err ||
    fail "replay of the killed recording: $(cat $W/killed.err)"
inserts=$(jq .counters.by_kind.insert $W/killed.json)
echo "killed: $(stat -c %s $W/killed.ntrec) bytes; replayed $inserts inserts of the churn's $N;" \
    "$(grep -o 'recording cut at byte [0-9]*' $W/killed.err || echo 'not cut')"
[ "$inserts" -ge $N ] || fail "only $inserts of $N inserts replayed from the killed recording"

# Ended by its reader: events keep coming; head takes two lines and leaves.
( while :; do nfctl scenario basic > /dev/null; sleep 0.3; done ) &
GEN=$!
on_exit 'kill $GEN 2>/dev/null'
t0=$(date +%s)
"$NT_TOP" trace --duration 300s 2> $W/head.err | head -n 2 > $W/head.out
took=$(( $(date +%s) - t0 ))
kill $GEN
echo "head -2: notifier-top ended $took s after it started (--duration 300s)"
[ "$(grep -c . $W/head.out)" = 2 ] || fail "head got: $(cat $W/head.out)"
grep -q "error" $W/head.err && fail "a closed pipe is not an error: $(cat $W/head.err)"
[ "$took" -lt 150 ] || fail "trace ran $took s after its reader had gone"
