# Every capture hook family (the HMM layer's included), the hazard rules' hooks and the
# start-up walk attach on this kernel, in the automatic mode and forced into each mode, and
# the ring buffer is sized for the machine.
# make_device_exclusive exists only with DEVICE_PRIVATE (Debian: 7.x): on 6.x its family
# must be reported missing, with the reason.
# timeout: 300
. tests/vm/lib.sh
case "$NT_RELEASE" in 7.*) EXCLUSIVE=hmm_exclusive ;; *) EXCLUSIVE= ;; esac
for mode in "" "--attach fentry" "--attach kprobe"; do
    out=$("$NT_TOP" probes --rules --json $mode) || fail "probes $mode exited non-zero"
    printf "%s\n" "$out" > "$VM_OUT/probes${mode:+-${mode#--attach }}.json"
    for hook in insert deferred remove invalidate read_begin lifecycle hmm_fault hmm_migrate \
        hmm_evict $EXCLUSIVE rule_alloc rule_locks rule_sleep rule_teardown bootstrap ring_buffer; do
        m=$(printf "%s\n" "$out" | jq -r ".[] | select(.hook == \"$hook\") | .mode")
        [ "$m" != missing ] && [ -n "$m" ] ||
            fail "$hook missing with '$mode': $(printf "%s\n" "$out" | jq -c ".[] | select(.hook == \"$hook\")")"
    done
    if [ -z "$EXCLUSIVE" ]; then
        why=$(printf "%s\n" "$out" |
            jq -r '.[] | select(.hook == "hmm_exclusive" and .mode == "missing") | .detail')
        [ -n "$why" ] || fail "hmm_exclusive not reported missing on $NT_RELEASE with '$mode'"
    fi
done
# The ring's size, a power of two from 8 to 64 MiB (1/64 of the guest's RAM, to the nearest).
ring=$(jq -r '.[] | select(.hook == "ring_buffer") | .detail' "$VM_OUT/probes.json")
case "${ring%% MiB:*}" in 8 | 16 | 32 | 64) echo "ring buffer: $ring" ;; *) fail "ring buffer: $ring" ;; esac
