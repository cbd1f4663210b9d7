# The guest runs the kernel under test, with the project tree and tools reachable.
. tests/vm/lib.sh
[ "$(uname -r)" = "$NT_RELEASE" ] || fail "uname -r is $(uname -r), expected $NT_RELEASE"
[ -x "$NT_TOP" ] || fail "no notifier-top at $NT_TOP"
[ -d "$VM_OUT" ] && touch "$VM_OUT/.writable" || fail "VM_OUT not writable"
command -v bpftrace >/dev/null || fail "bpftrace missing in the guest"
echo "kernel $(uname -r) ok"
