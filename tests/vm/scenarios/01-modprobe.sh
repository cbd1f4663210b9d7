# Plain `modprobe NAME` loads the guest kernel's own modules.
. tests/vm/lib.sh
modprobe dummy || fail "modprobe dummy"
grep -q "^dummy " /proc/modules || fail "dummy not loaded"
