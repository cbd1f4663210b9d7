# `serve` under a real Prometheus (Debian's, from the shared root), scraping every second
# while the fixture runs: what Prometheus stored equals serve's own --summary-json for the
# same run; `promtool check metrics` finds nothing to say about /metrics; /snapshot and
# /healthz answer; once attached, every thread of serve holds exactly the kept
# capabilities; SIGTERM ends it cleanly; a restart mid-run is a counter reset Prometheus
# handles (increase() over both runs covers both). On 7.x rxe ODP pingpong runs too.
# timeout: 420
. tests/vm/lib.sh
command -v prometheus > /dev/null && command -v promtool > /dev/null ||
    skip "no prometheus/promtool on the shared root (cargo xtask setup installs them)"
load_fixture
# The guest boots with loopback down; traffic stays on it.
ip link set lo up || fail "ip link set lo up"
W=$VM_OUT/serve
mkdir -p $W
# And soft-RoCE ODP on 7.x (6.12's rxe has no ODP): a second driver, hooked after the drop.
RXE=
case "$NT_RELEASE" in 7.*)
    ibv_devinfo -d rxe0 > /dev/null 2>&1 || nt-rxe-setup > /dev/null || fail "nt-rxe-setup"
    RXE=1 ;;
esac
PORT=19477
URL=http://127.0.0.1:$PORT

cat > $W/prometheus.yml <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: notifier-top
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
# The TSDB mmaps its files: on the guest's tmpfs, not the 9p share.
prometheus --config.file=$W/prometheus.yml --storage.tsdb.path=/tmp/tsdb \
    --web.listen-address=127.0.0.1:19090 > $W/prometheus.log 2>&1 &
PROM=$!
on_exit "kill $PROM; wait $PROM"
PAPI=http://127.0.0.1:19090/api/v1

# An instant query's single value (empty when there is no series).
pq() { curl -sf --get "$PAPI/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'; }
# Waits until Prometheus' last scrape of serve holds the value serve serves now, twice in a
# row (the workload is over: nothing moves any more).
settled() { # metric
    i=0; prev=
    while :; do
        served=$(curl -sf $URL/metrics | awk -v m="$1" '$1 ~ "^"m"([{]|$)" { s += $NF } END { print s + 0 }')
        stored=$(pq "sum($1)")
        [ -n "$stored" ] && [ "$stored" = "$served" ] && [ "$prev" = "$served" ] && break
        prev=$served
        i=$((i + 1)); [ $i -lt 60 ] || fail "Prometheus never caught up on $1 (stored '$stored', served '$served')"
        sleep 1
    done
    echo "$stored"
}

serve_run() { # n churn — one serve session with a workload; leaves $W/summary<n>.json
    start_top serve --listen 127.0.0.1:$PORT --summary-json $W/summary$1.json
    grep -q "serving http://127.0.0.1:$PORT" "$NT_ERR" || fail "no serving line: $(cat "$NT_ERR")"
    # The first scrape of this run is in before the workload starts.
    i=0; until [ "$(pq "up{job=\"notifier-top\"}")" = 1 ] && curl -sf $URL/healthz > /dev/null; do
        i=$((i + 1)); [ $i -lt 120 ] || fail "Prometheus never scraped serve: $(tail -5 $W/prometheus.log)"
        sleep 0.5
    done
    # A driver's series starts at its first insert: this one is the baseline Prometheus
    # counts the rest of the run from.
    nfctl scenario basic > /dev/null || fail "basic"
    BASE=$(settled notifier_top_inserts_total)
    nfctl scenario churn $2 > /dev/null || fail "churn"
    nfctl scenario deferred > /dev/null || fail "deferred"
    [ -n "$RXE" ] && { nt-rxe-pingpong -o -n 20 > $W/rxe$1.out || fail "rxe ODP pingpong"; }
}

# Exactly CAP_PERFMON (38) and CAP_SYSLOG (34), in every thread; and CAP_SYS_ADMIN (21)
# where perf_event_paranoid 3 (Debian's) keeps kprobes from everyone else.
if [ "$(sysctl -n kernel.perf_event_paranoid)" -ge 3 ]; then KEPT=0000004400200000; else KEPT=0000004400000000; fi
check_capabilities() {
    for t in /proc/"$NT_PID"/task/*; do
        eff=$(awk '/^CapEff/ { print $2 }' "$t/status")
        bnd=$(awk '/^CapBnd/ { print $2 }' "$t/status")
        [ "$eff" = $KEPT ] && [ "$bnd" = $KEPT ] ||
            fail "thread $(cat "$t/comm") holds CapEff $eff CapBnd $bnd, expected $KEPT"
    done
    echo "capabilities: $(ls /proc/"$NT_PID"/task | wc -l) threads, each CapEff = CapBnd = $KEPT"
}

serve_run 1 2000
BASE1=$BASE
check_capabilities
curl -sf $URL/metrics > $W/metrics.txt || fail "GET /metrics"
promtool check metrics < $W/metrics.txt > $W/promtool.txt 2>&1 || fail "promtool: $(cat $W/promtool.txt)"
[ -s $W/promtool.txt ] && fail "promtool check metrics: $(cat $W/promtool.txt)"
grep -Eq '^notifier_top_build_info\{.*version=' $W/metrics.txt || fail "no build_info"
grep -Eq '(pid|mm|comm|address)=' $W/metrics.txt && fail "an unbounded label: $(grep -E '(pid|mm|comm|address)=' $W/metrics.txt | head -3)"
curl -sf $URL/snapshot > $W/snapshot.json || fail "GET /snapshot"
jq -e '.processes | type == "array"' $W/snapshot.json > /dev/null || fail "/snapshot is not a snapshot"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST $URL/metrics)
[ "$code" = 405 ] || fail "POST answered $code"
inserts1=$(settled notifier_top_inserts_total)
removes1=$(settled notifier_top_removes_total)
lost=$(settled notifier_top_events_lost_total)
if [ -n "$RXE" ]; then
    rxe=$(pq 'sum(notifier_top_inserts_total{driver=~"rdma_rxe.*"})')
    [ "${rxe:-0}" -gt 0 ] || fail "no rdma_rxe inserts in Prometheus: $(grep rxe $W/metrics.txt | head -3)"
    echo "rxe ODP: $rxe inserts of rdma_rxe in Prometheus"
fi
kill -TERM "$NT_PID"
stop_top > /dev/null
want_i=$(jq '[.owners[].inserts] | add' $W/summary1.json)
want_r=$(jq '[.owners[].removes] | add' $W/summary1.json)
echo "run 1: Prometheus inserts $inserts1 removes $removes1; summary inserts $want_i removes $want_r"
[ "$inserts1" = "$want_i" ] || fail "Prometheus has $inserts1 inserts, the summary $want_i"
[ "$removes1" = "$want_r" ] || fail "Prometheus has $removes1 removes, the summary $want_r"
[ "$inserts1" -ge 2000 ] || fail "only $inserts1 inserts for a 2000-interval churn"
# The fixture's callback is hooked at its first insert, after the capabilities were dropped.
traced=$(jq '[.owners[] | select(.driver == "notifier_fixture") | .callbacks] | add // 0' $W/summary1.json)
[ "$traced" -gt 0 ] || fail "no fixture callback traced: hooking after the drop failed ($(grep -i callback "$NT_ERR"))"
[ "$lost" = "$(jq .counters.lost $W/summary1.json)" ] || fail "lost: Prometheus $lost, summary $(jq .counters.lost $W/summary1.json)"

# Restart: the counters start again from zero, Prometheus sees a reset.
serve_run 2 1000
inserts2=$(settled notifier_top_inserts_total)
increase=$(pq 'sum(increase(notifier_top_inserts_total[10m]))')
resets=$(pq 'sum(resets(notifier_top_inserts_total[10m]))')
# What Prometheus holds, for a failure's diagnosis.
curl -sf --get "$PAPI/query" --data-urlencode 'query=notifier_top_inserts_total[10m]' > $W/inserts-range.json
kill -TERM "$NT_PID"
stop_top > /dev/null
want_i2=$(jq '[.owners[].inserts] | add' $W/summary2.json)
echo "run 2: Prometheus inserts $inserts2, summary $want_i2; over both runs increase() $increase, resets() $resets"
[ "$inserts2" = "$want_i2" ] || fail "after the restart Prometheus has $inserts2 inserts, the summary $want_i2"
[ "${resets%.*}" -ge 1 ] || fail "Prometheus saw no counter reset across the restart"
# increase() counts from run 1's first sample (its baseline) and, after the reset, from
# zero; it extrapolates a little at the window's ends, never below what happened.
awk -v inc="$increase" -v a="$((inserts1 - BASE1))" -v b="$inserts2" 'BEGIN { exit !(inc >= a + b && inc <= 1.25 * (a + b)) }' ||
    fail "increase() over the restart is $increase for $inserts1 - $BASE1 + $inserts2 inserts"
echo "ok"
