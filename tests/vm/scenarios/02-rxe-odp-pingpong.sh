# Soft-RoCE with On-Demand Paging carries an RC pingpong inside the guest (7.x: 6.12's rxe
# has no ODP).
# timeout: 120
. tests/vm/lib.sh
case "$NT_RELEASE" in 7.*) ;; *) skip "rxe ODP needs 7.x" ;; esac
ibv_devinfo -v -d rxe0 >/dev/null 2>&1 || nt-rxe-setup >/dev/null || fail "nt-rxe-setup"
ibv_devinfo -v -d rxe0 | grep -q ODP_SUPPORT || fail "rxe0 reports no ODP support"
nt-rxe-pingpong -o -n 20 || fail "ODP pingpong"
