# Every capture hook family attaches on this kernel, in the automatic mode and forced into
# each mode.
. tests/vm/lib.sh
for mode in "" "--attach fentry" "--attach kprobe"; do
    out=$("$NT_TOP" probes --json $mode) || fail "probes $mode exited non-zero"
    printf "%s\n" "$out" > "$VM_OUT/probes${mode:+-${mode#--attach }}.json"
    for hook in insert deferred remove invalidate read_begin lifecycle; do
        m=$(printf "%s\n" "$out" | jq -r ".[] | select(.hook == \"$hook\") | .mode")
        [ "$m" != missing ] && [ -n "$m" ] || fail "$hook missing with '$mode': $(printf "%s\n" "$out" | jq -c ".[] | select(.hook == \"$hook\")")"
    done
done
