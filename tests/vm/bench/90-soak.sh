# Benchmark: `serve` over a long churn stays flat in memory. For at least NT_SOAK_SECONDS
# (default 600) and until at least 1 M short-lived intervals and 10 000 exited processes
# have gone by, the fixture churns (one process inserting and removing 5 000 intervals,
# then 20 short processes of the basic scenario, whose kept intervals `nfctl purge` then
# removes: the processes exit, the model's steady state is flat) while /metrics is scraped every few
# seconds and /snapshot every minute, as a Prometheus and a curious operator would. Prints
# serve's RSS once a minute, the RSS after the first minute beside the RSS at the end, and
# what went by (figures for docs/benchmarks.md).
# timeout: 1800
. tests/vm/lib.sh
load_fixture
ip link set lo up || fail "ip link set lo up"
W=$VM_OUT/soak
mkdir -p $W
URL=http://127.0.0.1:19478
DUR=${NT_SOAK_SECONDS:-600}
MIN_INTERVALS=1000000
MIN_PROCESSES=10000

start_top serve --listen 127.0.0.1:19478 --summary-json $W/summary.json
rss() { awk '/^VmRSS/ { print $2 }' /proc/"$NT_PID"/status; }
t0=$(date +%s)
intervals=0; processes=0; scraped=0; snapshots=0
last_scrape=0; last_snapshot=$t0; last_sample=$t0
rss_first_minute=
echo "t_s rss_kib intervals processes"
while :; do
    n=$(nfctl scenario churn 5000 | jq .inserts) || fail "churn"
    intervals=$((intervals + n))
    for i in $(seq 20); do
        nfctl scenario basic > /dev/null || fail "basic"
    done
    nfctl purge || fail "purge"
    intervals=$((intervals + 20 * 4))
    processes=$((processes + 21))
    now=$(date +%s)
    if [ $((now - last_scrape)) -ge 2 ]; then
        curl -sf $URL/metrics > /dev/null || fail "scrape $scraped failed"
        scraped=$((scraped + 1)); last_scrape=$now
    fi
    if [ $((now - last_snapshot)) -ge 60 ]; then
        curl -sf $URL/snapshot > $W/snapshot.json || fail "/snapshot failed"
        snapshots=$((snapshots + 1)); last_snapshot=$now
    fi
    if [ $((now - last_sample)) -ge 60 ]; then
        last_sample=$now
        r=$(rss)
        [ -n "$rss_first_minute" ] || rss_first_minute=$r
        echo "$((now - t0)) $r $intervals $processes"
    fi
    [ $((now - t0)) -ge "$DUR" ] && [ $intervals -ge $MIN_INTERVALS ] &&
        [ $processes -ge $MIN_PROCESSES ] && break
done
rss_end=$(rss)
elapsed=$(($(date +%s) - t0))
kill -TERM "$NT_PID"
stop_top > /dev/null
lost=$(jq .counters.lost $W/summary.json)
skipped=$(jq .counters.skipped $W/summary.json)
events=$(jq .counters.events $W/summary.json)
drift=$(jq '.audit.missing + .audit.extra' $W/summary.json)
live=$(jq .live_intervals $W/summary.json)
echo "soak: ${elapsed}s, $intervals intervals inserted and removed, $processes processes exited," \
    "$events events ($((events / elapsed))/s), $scraped scrapes, $snapshots snapshots"
echo "soak: lost $lost, skipped $skipped, audit drift $drift, live intervals at the end $live"
awk -v a="$rss_first_minute" -v b="$rss_end" 'BEGIN {
    printf "soak: RSS after the first minute %d KiB, at the end %d KiB: end/first-minute %.3f (%s 10 %%)\n",
        a, b, b / a, (b <= 1.1 * a && b >= 0.9 * a) ? "within" : "NOT within"
}'
