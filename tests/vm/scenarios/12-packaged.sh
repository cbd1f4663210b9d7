# The Debian package `cargo xtask dist` builds works as shipped: unpacked with dpkg-deb (the
# guest runs on the host's root, so the host's dpkg-deb), it holds the files the package
# promises, its static binary names its version and lists the hooks, and a short `check`
# over the fixture's clean scenarios sees their inserts and finds nothing.
# timeout: 300
. tests/vm/lib.sh
[ -n "${NT_DEB:-}" ] || skip "no .deb in $NT_TARGET/dist (cargo xtask dist builds it)"
P=/tmp/pkg
rm -rf $P
dpkg-deb -x "$NT_DEB" $P || fail "dpkg-deb -x $NT_DEB"
for f in usr/bin/notifier-top usr/share/man/man1/notifier-top.1.gz \
    usr/share/bash-completion/completions/notifier-top usr/share/doc/notifier-top/copyright \
    usr/lib/systemd/system/notifier-top.service etc/default/notifier-top; do
    [ -f "$P/$f" ] || fail "$(basename "$NT_DEB") lacks /$f"
done
# start_top and the rest of lib.sh run this one from here on.
NT_TOP=$P/usr/bin/notifier-top

version=$("$NT_TOP" --version) || fail "--version exited $?"
echo "$version"
echo "$version" | grep -q "^notifier-top [0-9].* (commit " || fail "unexpected --version: $version"

"$NT_TOP" probes > $VM_OUT/packaged-probes.txt 2>&1 ||
    fail "probes exited $?: $(cat $VM_OUT/packaged-probes.txt)"
grep -q insert $VM_OUT/packaged-probes.txt || fail "no hook table: $(cat $VM_OUT/packaged-probes.txt)"

# Clean traffic, with 50-hazards' latency thresholds for clean traffic under emulation.
load_fixture
W=$VM_OUT/packaged
mkdir -p $W
start_top check --duration 5s --json --summary-json $W/summary.json \
    --slow-callback 15ms --read-begin-wait 50ms
nfctl scenario basic > /dev/null || fail "scenario basic"
nfctl scenario read-side > /dev/null || fail "scenario read-side"
wait "$NT_PID"
rc=$?
NT_PID=
[ $rc = 0 ] || { cat "$NT_ERR" "$NT_OUT"; fail "check --duration 5s exited $rc, expected 0"; }
inserts=$(jq '.counters.by_kind.insert // 0' $W/summary.json) || fail "no summary: $(cat "$NT_ERR")"
echo "packaged check: $inserts inserts, findings $(jq -c '[.[].code]' "$NT_OUT")"
[ "$inserts" -gt 0 ] || fail "the packaged binary saw no inserts ($W/summary.json)"
