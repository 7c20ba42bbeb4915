#!/usr/bin/env bash
# The Debian package test (issue 16), run by CI after the Swift tests. Needs root, network access to a Debian
# mirror (debootstrap, apt), and the NFQUEUE/iptables/ipset kernel modules. Last line: "N passed, N failed".
#
#   scripts/test-package.sh [--old-deb FILE --new-deb FILE] [--scratch-path DIR] [--keep]
#   scripts/test-package.sh --prepare-root     (only step 3's debootstrap; CI runs it early, in the background)
#
# 1. Builds two packages with scripts/build-deb.sh: version N (this tree stamped VERSION~upgradetest1) and N+1
#    (this tree as it is). --old-deb/--new-deb use packages built before instead.
# 2. lintian on N+1: no errors (every tag left is printed; packaging/debian/lintian-overrides says why for each
#    override).
# 3. A clean Debian 12 root (debootstrap --variant=minbase into .build-debian12/, made once and copied for each
#    run), which has none of the build's libraries and no Swift: the package installs there with apt (Depends
#    resolved from the mirror), and the executables, man pages, completions and the shipped configuration work.
# 4. Upgrade N -> N+1 with the rules and egress25d running, in network namespaces of the test's own
#    (subscriber 100.64.0.10, relay 192.0.2.25, MX 198.51.100.25). PID 1 is not systemd here, so
#    packaging/test/systemctl stands in for it: it runs the installed units' Exec* lines, as systemd would. A
#    continuous prober must see 0 connects to the MX on port 25 while relay mail and port 587 keep working; a
#    configuration the new binary rejects stops the upgrade with the old daemon still judging; afterwards N+1 runs.
# 5. Remove and purge: the kernel rules and /var/lib/egress25 stay.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

OLD_DEB=""
NEW_DEB=""
KEEP=0
PREPARE_ONLY=0
SCRATCH=.build
while [ $# -gt 0 ]; do
    case "$1" in
        --old-deb) OLD_DEB=$2; shift 2 ;;
        --new-deb) NEW_DEB=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --scratch-path) SCRATCH=$2; shift 2 ;;
        --prepare-root) PREPARE_ONLY=1; shift ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test-package.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "test-package.sh: needs root (chroot, network namespaces)" >&2; exit 1; }

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok     $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAILED $*"; }
# check NAME COMMAND...: passes when the command succeeds.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
    exit
}

CACHE=$REPO/.build-debian12
PRISTINE=$CACHE/pristine
ROOT=$CACHE/root
SUFFIX=$$
NS_SUB=e25pkg-sub-$SUFFIX
NS_RTR=e25pkg-rtr-$SUFFIX
NS_MX=e25pkg-mx-$SUFFIX
PROBER_STOP=$CACHE/prober-stop-$SUFFIX
BACKGROUND=()

# The clean Debian 12 root, made once (debootstrap, minutes) and copied for each run.
prepare_root() {
    [ -f "$PRISTINE/.complete" ] && return 0
    mkdir -p "$CACHE"
    rm -rf --one-file-system "$PRISTINE"
    local started
    started=$(date +%s)
    if ! debootstrap --variant=minbase --include=man-db,bash-completion,zsh,fish bookworm "$PRISTINE" \
        http://deb.debian.org/debian > "$CACHE.debootstrap.log" 2>&1; then
        tail -20 "$CACHE.debootstrap.log"
        return 1
    fi
    touch "$PRISTINE/.complete"
    echo "debootstrap: $(($(date +%s) - started)) s"
}

cleanup() {
    touch "$PROBER_STOP" 2>/dev/null
    for pid in "${BACKGROUND[@]}"; do kill "$pid" 2>/dev/null; done
    for namespace in "$NS_SUB" "$NS_RTR" "$NS_MX"; do
        if ip netns pids "$namespace" >/dev/null 2>&1; then
            ip netns pids "$namespace" | xargs -r kill -KILL 2>/dev/null
            ip netns delete "$namespace" 2>/dev/null
        fi
    done
    if [ -d "$ROOT" ]; then
        for mount in dev/pts dev sys proc run; do
            mountpoint -q "$ROOT/$mount" && umount -l "$ROOT/$mount"
        done
        if [ "$KEEP" = 0 ]; then rm -rf --one-file-system "$ROOT"; fi
    fi
    rm -f "$PROBER_STOP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# In the Debian root: a clean environment (no host PATH, so no /opt/swift), as root.
in_root() { env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive chroot "$ROOT" "$@"; }
# In the Debian root, inside the router's network namespace (the daemon, the rules, dpkg during the upgrade).
in_router() { ip netns exec "$NS_RTR" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$ROOT" "$@"; }

if [ "$PREPARE_ONLY" = 1 ]; then prepare_root; exit; fi

# ---------------------------------------------------------------------------------------------------------------
echo "== packages"
if [ -z "$NEW_DEB" ]; then
    VERSION_NOW=$(sed -n 's/^#define EGRESS25_VERSION "\(.*\)"$/\1/p' Sources/CEgress25Version/version.c)
    OLD_DEB=$(scripts/build-deb.sh --scratch-path "$SCRATCH" --output "$SCRATCH/deb-old" \
        --version-override "${VERSION_NOW}~upgradetest1") ||
        { fail "build version N (${VERSION_NOW}~upgradetest1)"; finish; }
    NEW_DEB=$(scripts/build-deb.sh --scratch-path "$SCRATCH" --output "$SCRATCH/deb") ||
        { fail "build version N+1 ($VERSION_NOW)"; finish; }
fi
[ -f "$OLD_DEB" ] && [ -f "$NEW_DEB" ] || { fail "packages $OLD_DEB and $NEW_DEB exist"; finish; }
OLD_VERSION=$(dpkg-deb -f "$OLD_DEB" Version)
NEW_VERSION=$(dpkg-deb -f "$NEW_DEB" Version)
echo "N   = $OLD_VERSION ($OLD_DEB, $(du -h "$OLD_DEB" | cut -f1))"
echo "N+1 = $NEW_VERSION ($NEW_DEB, $(du -h "$NEW_DEB" | cut -f1), installed $(dpkg-deb -f "$NEW_DEB" Installed-Size) KiB)"
echo "Depends: $(dpkg-deb -f "$NEW_DEB" Depends)"
check "N+1 ($NEW_VERSION) is newer than N ($OLD_VERSION)" dpkg --compare-versions "$NEW_VERSION" gt "$OLD_VERSION"
contents=$(dpkg-deb -c "$NEW_DEB" | awk '{print $6}' | sed 's,^\./,/,')
for path in /usr/bin/egress25d /usr/bin/egress25ctl /usr/bin/egress25-admin \
    /lib/systemd/system/egress25d.service /lib/systemd/system/egress25-rules.service \
    /lib/systemd/system/egress25-admin.service /usr/lib/sysusers.d/egress25.conf /usr/lib/tmpfiles.d/egress25.conf \
    /etc/egress25/egress25.yaml /usr/share/egress25/egress25.nft /usr/share/egress25/egress25-iptables.sh \
    /usr/share/man/man8/egress25d.8.gz /usr/share/man/man8/egress25ctl.8.gz /usr/share/man/man8/egress25-admin.8.gz \
    /usr/share/man/man5/egress25.yaml.5.gz /usr/share/bash-completion/completions/egress25ctl \
    /usr/share/zsh/vendor-completions/_egress25ctl /usr/share/fish/vendor_completions.d/egress25ctl.fish \
    /usr/share/doc/egress25/copyright /usr/share/doc/egress25/changelog.gz; do
    grep -qx "$path" <<< "$contents" || fail "the package holds $path"
done
pass "the package holds the binaries, units, sysusers/tmpfiles entries, conffile, rules, man pages, completions"
check "the configuration is a conffile" sh -c "dpkg-deb -I '$NEW_DEB' conffiles | grep -qx /etc/egress25/egress25.yaml"

echo "== lintian"
# N+1 only: N is the same tree with another version string.
for deb in "$NEW_DEB"; do
    lintian_output=$(lintian --fail-on error --display-info --tag-display-limit 0 "$deb" 2>&1)
    lintian_status=$?
    printf '%s\n' "$lintian_output" | sed 's/^/  /'
    if [ $lintian_status = 0 ] && ! grep -q '^E:' <<< "$lintian_output"; then
        pass "lintian: no errors in $(basename "$deb") ($(grep -c '^W:' <<< "$lintian_output") warnings)"
    else
        fail "lintian: errors in $(basename "$deb")"
    fi
done

# ---------------------------------------------------------------------------------------------------------------
echo "== a clean Debian 12 root"
if ! prepare_root; then fail "debootstrap bookworm"; finish; fi
rm -rf --one-file-system "$ROOT"
cp -a "$PRISTINE" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys" && mount --make-rslave "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
mount -t tmpfs tmpfs "$ROOT/run"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp "$OLD_DEB" "$ROOT/tmp/egress25-old.deb"
cp "$NEW_DEB" "$ROOT/tmp/egress25-new.deb"
# (libsqlite3 is there already: fish, for the completion test, brings python3, which links it.)
check "the clean root lacks the libraries only egress25 needs (libnetfilter_queue, libmnl)" \
    sh -c "! chroot '$ROOT' ldconfig -p | grep -q 'libnetfilter_queue\|libmnl'"
check "the clean root has no Swift runtime" sh -c "! find '$ROOT/usr' -name 'libswiftCore.so*' | grep -q ."

# PID 1 is not systemd: the stand-in (logs every call) and the directory the maintainer scripts test for.
install -m 0755 packaging/test/systemctl "$ROOT/usr/local/sbin/systemctl"
mkdir -p "$ROOT/run/systemd/system"

echo "== install N ($OLD_VERSION) with apt"
in_root apt-get update -qq > /dev/null 2>&1
if in_root apt-get install -y -qq /tmp/egress25-old.deb > "$CACHE/install.log" 2>&1; then
    pass "apt-get install egress25 $OLD_VERSION (Depends from the mirror)"
else
    sed 's/^/  /' "$CACHE/install.log"
    fail "apt-get install egress25 $OLD_VERSION"
    finish
fi
check "install prints the next steps (edit, check, enable)" grep -q "systemctl enable --now egress25-rules egress25d" \
    "$CACHE/install.log"
check "install started nothing (systemctl: only daemon-reload)" \
    sh -c "! grep '^systemctl' '$ROOT/var/log/egress25-test-systemctl.log' | grep -qv daemon-reload"
check "install enabled nothing" sh -c "! ls '$ROOT'/etc/systemd/system/*.wants/egress25* 2>/dev/null | grep -q ."
no_process_in_root() {
    local pid
    for pid in $(pgrep -x 'egress25d|egress25-admin'); do
        [ "$(readlink "/proc/$pid/root")" = "$ROOT" ] && return 1
    done
    return 0
}
check "no egress25 process runs after install" no_process_in_root
check "the user egress25 exists, with no shell" sh -c "chroot '$ROOT' getent passwd egress25 | grep -q nologin"
check "/var/lib/egress25 belongs to egress25, mode 0750" \
    sh -c "[ \"\$(chroot '$ROOT' stat -c '%U %a' /var/lib/egress25)\" = 'egress25 750' ]"
check "/etc/egress25/egress25.yaml is root:egress25 0640" \
    sh -c "[ \"\$(chroot '$ROOT' stat -c '%U:%G %a' /etc/egress25/egress25.yaml)\" = 'root:egress25 640' ]"
check "every binary finds its libraries (ldd)" sh -c "for b in egress25d egress25ctl egress25-admin; do
    chroot '$ROOT' ldd /usr/bin/\$b | grep -q 'not found' && exit 1; done; exit 0"
check "the units run /usr/bin" sh -c "grep -h '^Exec' '$ROOT'/lib/systemd/system/egress25*.service | grep -v /usr/local |
    grep -q /usr/bin/egress25d"
for executable in egress25d egress25ctl egress25-admin; do
    check "$executable --version is $OLD_VERSION" sh -c "[ \"\$(chroot '$ROOT' /usr/bin/env -i PATH=/usr/bin:/bin /usr/bin/$executable --version)\" = '$OLD_VERSION' ]"
done
check "egress25ctl --help" sh -c "chroot '$ROOT' /usr/bin/env -i PATH=/usr/bin:/bin /usr/bin/egress25ctl --help | grep -q 'rules'"
check "man egress25ctl" sh -c "chroot '$ROOT' /usr/bin/env -i PATH=/usr/bin:/bin MANWIDTH=80 man egress25ctl 2>/dev/null | grep -q 'Administer egress25'"
check "man egress25d" sh -c "chroot '$ROOT' /usr/bin/env -i PATH=/usr/bin:/bin MANWIDTH=80 man 8 egress25d 2>/dev/null | grep -q -- '--check-config'"
check "man 5 egress25.yaml" sh -c "chroot '$ROOT' /usr/bin/env -i PATH=/usr/bin:/bin MANWIDTH=80 man 5 egress25.yaml 2>/dev/null | grep -q 'subscriber_ranges'"
check "bash completes 'egress25ctl ru' to rules" sh -c "chroot '$ROOT' /usr/bin/env -i PATH=/usr/bin:/bin bash -c '
    source /usr/share/bash-completion/bash_completion
    _comp_load egress25ctl 2>/dev/null || __load_completion egress25ctl
    COMP_WORDS=(egress25ctl ru); COMP_CWORD=1; COMP_LINE=\"egress25ctl ru\"; COMP_POINT=\${#COMP_LINE}
    \$(complete -p egress25ctl | sed -n \"s/.*-F \\([^ ]*\\).*/\\1/p\") egress25ctl ru egress25ctl
    printf \"%s\n\" \"\${COMPREPLY[@]}\"' | grep -qx rules"
check "zsh finds the egress25ctl completion" sh -c "chroot '$ROOT' /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp zsh -fc '
    autoload -Uz compinit && compinit -u -d /tmp/zcompdump && (( \$+_comps[egress25ctl] ))'"
check "fish completes 'egress25ctl ru' to rules" sh -c "chroot '$ROOT' /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp fish -c 'complete -C \"egress25ctl ru\"' |
    cut -f1 | grep -qx rules"
check "egress25d --check-config passes on the shipped configuration (as egress25)" \
    in_root runuser -u egress25 -- /usr/bin/egress25d --check-config --config /etc/egress25/egress25.yaml
check "egress25ctl token create makes the first admin token (as egress25)" in_root runuser -u egress25 -- \
    sh -c '/usr/bin/egress25ctl --config /etc/egress25/egress25.yaml token create --name first --role admin >/dev/null'
check "egress25-admin --check-config passes on the shipped configuration (as egress25)" \
    in_root runuser -u egress25 -- /usr/bin/egress25-admin --check-config --config /etc/egress25/egress25.yaml
in_root apt-get install -y -qq iptables ipset > /dev/null 2>&1 || fail "apt-get install iptables ipset"

# ---------------------------------------------------------------------------------------------------------------
echo "== upgrade N -> N+1 under a continuous prober"
ip netns add "$NS_SUB"
ip netns add "$NS_RTR"
ip netns add "$NS_MX"
ip link add sub0 netns "$NS_SUB" type veth peer name down0 netns "$NS_RTR"
ip link add up0 netns "$NS_RTR" type veth peer name mx0 netns "$NS_MX"
ip -n "$NS_SUB" addr add 100.64.0.10/24 dev sub0
ip -n "$NS_RTR" addr add 100.64.0.1/24 dev down0
ip -n "$NS_RTR" addr add 198.51.100.1/24 dev up0
ip -n "$NS_RTR" addr add 192.0.2.1/24 dev up0
ip -n "$NS_MX" addr add 198.51.100.25/24 dev mx0
ip -n "$NS_MX" addr add 192.0.2.25/24 dev mx0
for namespace in "$NS_SUB" "$NS_RTR" "$NS_MX"; do ip -n "$namespace" link set lo up; done
ip -n "$NS_SUB" link set sub0 up
ip -n "$NS_RTR" link set down0 up
ip -n "$NS_RTR" link set up0 up
ip -n "$NS_MX" link set mx0 up
ip -n "$NS_SUB" route add default via 100.64.0.1
ip -n "$NS_MX" route add default via 198.51.100.1
ip netns exec "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$NS_MX" timeout 900 python3 packaging/test/listener.py --port 25 --port 587 &
BACKGROUND+=($!)

cat > "$ROOT/etc/egress25/egress25.yaml" <<'YAML'
# scripts/test-package.sh: one queue, fail closed, reject; the subscriber 100.64.0.10, the relay 192.0.2.25.
node_name: package-test
state_directory: /var/lib/egress25
queue:
  numbers: 0
  fail_policy: closed
policy:
  mode: enforce
  subscriber_ranges: [100.64.0.0/10]
  relay_hosts: [192.0.2.25]
  ports: [25]
  block_action: reject
metrics:
  listen: 127.0.0.1:9325
YAML
: > "$ROOT/var/log/egress25-test-systemctl.log"
if in_router systemctl start egress25-rules.service && in_router systemctl start egress25d.service; then
    pass "egress25-rules and egress25d $OLD_VERSION start (the units' Exec lines)"
else
    tail -20 "$ROOT/var/log/egress25d.log"
    fail "egress25-rules and egress25d $OLD_VERSION start"
    finish
fi
OLD_PID=$(cat "$ROOT/run/egress25-test-systemd/egress25d.pid")

# /healthz from inside the router: 200 only when every queue is bound and the kernel rules check passes, which
# it must under the unit's own user and capabilities (the stand-in runs it as egress25 with its Ambient caps).
healthz() {
    ip netns exec "$NS_RTR" python3 - <<'PY'
import sys, time, urllib.request, urllib.error
deadline = time.monotonic() + 20
while True:
    try:
        with urllib.request.urlopen("http://127.0.0.1:9325/healthz", timeout=2) as answer:
            print("  /healthz:", answer.status, answer.read().decode().strip().replace("\n", "; "))
            sys.exit(0)
    except urllib.error.HTTPError as error:
        print("  /healthz:", error.code, error.read().decode().strip().replace("\n", "; "))
        sys.exit(1)
    except OSError as error:
        body = str(error)
    if time.monotonic() > deadline:
        print("  /healthz:", body)
        sys.exit(1)
    time.sleep(0.5)
PY
}
sleep 6  # two watchdog ticks and one rules check (rules.check_interval 5 s)
check "egress25d $OLD_VERSION is healthy under the unit's user and capabilities (/healthz 200)" healthz

# One round of the prober: the MX on 25 is rejected (reset), the relay and 587 connect.
probe_once() {
    rm -f "$CACHE/probe-once.json" "$CACHE/probe-once.stop"
    ( sleep 2; touch "$CACHE/probe-once.stop" ) &
    ip netns exec "$NS_SUB" python3 packaging/test/prober.py --target 198.51.100.25:25 --target 192.0.2.25:25 \
        --target 198.51.100.25:587 --interval 0.2 --stop-file "$CACHE/probe-once.stop" --max-seconds 10 \
        --out "$CACHE/probe-once.json"
    python3 - "$CACHE/probe-once.json" "$1" <<'PY'
import json, sys
counts = json.load(open(sys.argv[1]))["counts"]
mx, relay, submission = counts["198.51.100.25:25"], counts["192.0.2.25:25"], counts["198.51.100.25:587"]
print("  probe (%s): MX:25 %s, relay:25 %s, MX:587 %s" % (sys.argv[2], mx, relay, submission))
expected_mx = "refused" if sys.argv[2] == "judged" else "timeout"
sys.exit(0 if mx["connected"] == 0 and mx[expected_mx] > 0 and relay["connected"] > 0 and submission["connected"] > 0 else 1)
PY
}
check "with N running: the MX on 25 is reset, the relay and 587 connect" probe_once judged

# The continuous prober and a sampler of the kernel rules, for the whole upgrade.
rm -f "$PROBER_STOP" "$CACHE/prober.json"
ip netns exec "$NS_SUB" python3 packaging/test/prober.py --target 198.51.100.25:25 --target 192.0.2.25:25 \
    --target 198.51.100.25:587 --interval 0.02 --timeout 0.3 --stop-file "$PROBER_STOP" --max-seconds 600 \
    --out "$CACHE/prober.json" &
PROBER=$!
BACKGROUND+=($PROBER)
(
    samples=0 missing=0
    while [ ! -f "$PROBER_STOP" ] && [ $samples -lt 6000 ]; do
        samples=$((samples + 1))
        in_router iptables -w -t mangle -S EGRESS25-JUDGE > /dev/null 2>&1 || missing=$((missing + 1))
        sleep 0.05
    done
    echo "$samples $missing" > "$CACHE/rules-samples"
) &
SAMPLER=$!
BACKGROUND+=($SAMPLER)
sleep 1

# A configuration the new binary rejects: the upgrade stops before anything is restarted.
sed -i 's/fail_policy: closed/fail_policy: sometimes/' "$ROOT/etc/egress25/egress25.yaml"
if in_router dpkg -i /tmp/egress25-new.deb > "$CACHE/upgrade-refused.log" 2>&1; then
    fail "dpkg -i $NEW_VERSION fails when the new egress25d rejects the configuration"
else
    pass "dpkg -i $NEW_VERSION fails when the new egress25d rejects the configuration"
fi
sed 's/^/  /' "$CACHE/upgrade-refused.log"
check "... with a clear message naming the file and the problem" \
    sh -c "grep -q 'rejects /etc/egress25/egress25.yaml' '$CACHE/upgrade-refused.log' &&
        grep -q 'fail_policy' '$CACHE/upgrade-refused.log' && grep -q 'old version keeps running' '$CACHE/upgrade-refused.log'"
check "... and the old egress25d ($OLD_PID) keeps running" kill -0 "$OLD_PID"
check "... and nothing was stopped or restarted" \
    sh -c "! grep -E 'systemctl (stop|restart|try-restart|reload)' '$ROOT/var/log/egress25-test-systemctl.log'"

# Fixed: the upgrade completes.
sed -i 's/fail_policy: sometimes/fail_policy: closed/' "$ROOT/etc/egress25/egress25.yaml"
LOG_OFFSET=$(stat -c %s "$ROOT/var/log/egress25d.log")
if in_router dpkg --configure egress25 > "$CACHE/upgrade.log" 2>&1; then
    pass "dpkg --configure egress25 completes the upgrade once the configuration is fixed"
else
    sed 's/^/  /' "$CACHE/upgrade.log"
    fail "dpkg --configure egress25 completes the upgrade once the configuration is fixed"
fi
sleep 1
touch "$PROBER_STOP"
wait "$PROBER" "$SAMPLER"
echo "  systemctl calls:"
sed 's/^/    /' "$ROOT/var/log/egress25-test-systemctl.log"
NEW_PID=$(cat "$ROOT/run/egress25-test-systemd/egress25d.pid" 2>/dev/null)
check "egress25-rules was reloaded, never stopped, before egress25d restarted" python3 - \
    "$ROOT/var/log/egress25-test-systemctl.log" <<'PY'
import sys
calls = [line.strip() for line in open(sys.argv[1]) if line.startswith("systemctl")]
reload = [i for i, c in enumerate(calls) if c.startswith("systemctl reload egress25-rules")]
restart = [i for i, c in enumerate(calls) if c.startswith("systemctl restart egress25d")]
stopped_rules = [c for c in calls if "egress25-rules" in c and (" stop " in c + " " or "restart" in c)]
sys.exit(0 if reload and restart and reload[0] < restart[0] and not stopped_rules else 1)
PY
check "a new egress25d runs ($OLD_PID -> ${NEW_PID:-none})" sh -c "[ -n '$NEW_PID' ] && [ '$NEW_PID' != '$OLD_PID' ] &&
    kill -0 '$NEW_PID' && ! kill -0 '$OLD_PID' 2>/dev/null"
check "it is the new binary (/proc/PID/exe is /usr/bin/egress25d, not deleted)" \
    sh -c "[ \"\$(readlink /proc/$NEW_PID/exe)\" = '$ROOT/usr/bin/egress25d' ]"
check "it reports version $NEW_VERSION when ready" sh -c "tail -c +$((LOG_OFFSET + 1)) '$ROOT/var/log/egress25d.log' |
    grep 'egress25d ready' | grep -q 'version=$NEW_VERSION'"
check "dpkg knows egress25 $NEW_VERSION, installed" \
    sh -c "[ \"\$(chroot '$ROOT' dpkg-query -W -f '\${Version} \${Status}' egress25)\" = '$NEW_VERSION install ok installed' ]"
read -r samples missing < "$CACHE/rules-samples"
check "the kernel rules were in place in all $samples samples during the upgrade" test "$missing" = 0 -a "$samples" -gt 10
check "the continuous prober saw 0 connects to the MX on 25, while the relay and 587 connected" python3 - \
    "$CACHE/prober.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
counts = result["counts"]
mx, relay, submission = counts["198.51.100.25:25"], counts["192.0.2.25:25"], counts["198.51.100.25:587"]
print("  prober, %d rounds: MX:25 %s, relay:25 %s, MX:587 %s" % (result["rounds"], mx, relay, submission))
sys.exit(0 if mx["connected"] == 0 and mx["refused"] > 0 and relay["connected"] > 0 and submission["connected"] > 0 else 1)
PY
check "with N+1 running: the MX on 25 is reset, the relay and 587 connect" probe_once judged
check "egress25d $NEW_VERSION is healthy (/healthz 200)" healthz

# ---------------------------------------------------------------------------------------------------------------
echo "== remove and purge"
if in_router dpkg -r egress25 > "$CACHE/remove.log" 2>&1; then pass "dpkg -r egress25"; else fail "dpkg -r egress25"; fi
sed 's/^/  /' "$CACHE/remove.log"
check "remove says the kernel rules stay and how to remove them" \
    sh -c "grep -q 'kernel rules are still installed' '$CACHE/remove.log' && grep -q 'nft delete table inet egress25' '$CACHE/remove.log'"
check "remove stopped egress25d" sh -c "! kill -0 '$NEW_PID' 2>/dev/null"
check "the kernel rules are still installed after remove" in_router sh -c 'iptables -w -t mangle -S EGRESS25-JUDGE >/dev/null'
check "with the package removed (fail closed): the MX on 25 times out, the relay and 587 connect" probe_once unjudged
check "remove keeps /var/lib/egress25 and the configuration" \
    sh -c "[ -d '$ROOT/var/lib/egress25' ] && [ -f '$ROOT/etc/egress25/egress25.yaml' ]"
if in_router dpkg -P egress25 > "$CACHE/purge.log" 2>&1; then pass "dpkg -P egress25"; else fail "dpkg -P egress25"; fi
sed 's/^/  /' "$CACHE/purge.log"
check "purge keeps /var/lib/egress25 and says so" \
    sh -c "[ -d '$ROOT/var/lib/egress25' ] && grep -q '/var/lib/egress25 is kept' '$CACHE/purge.log'"
check "purge removes the configuration file" sh -c "[ ! -e '$ROOT/etc/egress25/egress25.yaml' ]"
check "the kernel rules are still installed after purge" in_router sh -c 'iptables -w -t mangle -S EGRESS25-JUDGE >/dev/null'

finish
