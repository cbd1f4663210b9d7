# A driver's first callbacks, in both attach modes: the fixture module is loaded only after
# notifier-top is ready, then three short-lived processes each register intervals and
# invalidate them. The module counts every call of its callback; each one must be either
# traced or counted as unobserved (a callback is hooked when an insert first names it, so
# the first ones pass before the hook is in): traced + unobserved = the module's count. In
# kprobe mode the callback is hooked once its module's symbols are read again (at most a
# second after the first insert names it): a fourth process then has every callback traced.
# timeout: 300
. tests/vm/lib.sh
for mode in fentry kprobe; do
    W=$VM_OUT/first-$mode
    mkdir -p "$W"
    start_top -v trace --json --raw-pointers --attach $mode --summary-json "$W/summary.json"
    load_fixture
    for i in 1 2 3; do nfctl scenario basic > /dev/null || fail "scenario basic ($i)"; done
    before=$(cat /sys/kernel/debug/notifier_fixture/callbacks)
    if [ $mode = kprobe ]; then
        wait_hooked nf_invalidate
        nfctl scenario basic > /dev/null || fail "scenario basic (4, hooked)"
    fi
    sleep 1
    stop_top > "$W/trace.jsonl"
    made=$(cat /sys/kernel/debug/notifier_fixture/callbacks)
    nfctl purge && rmmod notifier_fixture && NT_FIXTURE_LOADED=
    owner="nf_invalidate [notifier_fixture]"
    traced=$(jq -s --arg o "$owner" '[.[] | select(.kind == "callback" and .owner == $o)] | length' \
        "$W/trace.jsonl")
    unobserved=$(jq --arg o "$owner" '[.owners[] | select(.owner == $o) | .callbacks_unobserved] | add // 0' \
        "$W/summary.json")
    total=$(jq .counters.callbacks_unobserved "$W/summary.json")
    echo "$mode: the module made $made callbacks ($before before the hook); notifier-top traced $traced, counted $unobserved unobserved"
    [ "$made" -gt 0 ] || fail "$mode: the scenario made no callbacks"
    [ $((traced + unobserved)) = "$made" ] ||
        fail "$mode: traced $traced + unobserved $unobserved != the module's $made"
    [ "$total" = "$unobserved" ] || fail "$mode: $total unobserved in all, $unobserved of the fixture's"
    grep -q "callback(s) the kernel made were not observed" "$NT_ERR" || [ "$unobserved" = 0 ] ||
        fail "$mode: $unobserved unobserved callbacks and no word of it on stderr"
    [ $mode = fentry ] || [ "$traced" -ge $((made - before)) ] ||
        fail "$mode: $traced traced, but the $((made - before)) callbacks after the hook should all be"
done
