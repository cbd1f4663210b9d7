# Every capture hook family, the hazard rules' hooks and the start-up walk attach on this
# kernel, in the automatic mode and forced into each mode.
# timeout: 300
. tests/vm/lib.sh
for mode in "" "--attach fentry" "--attach kprobe"; do
    out=$("$NT_TOP" probes --rules --json $mode) || fail "probes $mode exited non-zero"
    printf "%s\n" "$out" > "$VM_OUT/probes${mode:+-${mode#--attach }}.json"
    for hook in insert deferred remove invalidate read_begin lifecycle \
        rule_alloc rule_locks rule_sleep rule_teardown bootstrap; do
        m=$(printf "%s\n" "$out" | jq -r ".[] | select(.hook == \"$hook\") | .mode")
        [ "$m" != missing ] && [ -n "$m" ] ||
            fail "$hook missing with '$mode': $(printf "%s\n" "$out" | jq -c ".[] | select(.hook == \"$hook\")")"
    done
done
