#!/usr/bin/env bash
# Proves the README's two commands on a fresh Debian 12 machine: bootstraps a clean bookworm root with
# debootstrap (minbase: Debian's essential packages and apt, nothing else), clones this repository's HEAD into
# it, and runs `./installers/setup.sh run` (no display: it must leave its screenshot) and then
# `./installers/setup.sh test` there. Packages installed by hand on this machine cannot hide a missing
# install step, because the root has none of them.
#
#   sudo ./installers/check-fresh-machine.sh
#   fresh machine: test PASS (21/21) 14 min; run PASS 9 min
#
# Only committed work is checked (the clone is of HEAD). The bootstrapped base is cached in
# $CW_FRESH_DIR/base (default /var/tmp/cwb-fresh), so a rerun starts from a copy of it; each run gets a new
# root, $CW_FRESH_DIR/root, left in place for inspection, and its logs in $CW_FRESH_DIR/logs. The root reaches
# the same package archives as this machine: it gets this machine's Debian apt sources, apt proxy settings,
# resolv.conf, CA certificates (npm verifies TLS) and proxy / CA environment variables. /proc, /sys and /dev
# are mounted into it for the run and always unmounted on exit. Root only; too slow for CI.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${CW_FRESH_DIR:-/var/tmp/cwb-fresh}"
base="$dir/base"
root="$dir/root"
logs="$dir/logs"
suite=bookworm

die() { echo "check-fresh-machine: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts)"
git -C "$repo" rev-parse HEAD >/dev/null 2>&1 || die "$repo is not a git repository"

# The Debian mirror this machine uses (first deb.debian.org-style URI for bookworm), for debootstrap.
mirror="${CW_FRESH_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list |
            grep -v -e security -e nodesource | grep -oE 'https?://[^ ]+' | head -n1 || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

mounted=()
unmount_all() {
  local -; set +e
  # Processes left inside the root (a stray Xvfb, say) would keep the mounts busy.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
  done
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -R "${mounted[i]}" 2>/dev/null || umount -lR "${mounted[i]}" 2>/dev/null || true
  done
  mounted=()
  # Anything still mounted under the root (an earlier run that was killed) goes too.
  { grep -oE " $root/[^ ]+" /proc/mounts 2>/dev/null || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
}
trap unmount_all EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir" "$logs"

if [ ! -f "$base/.complete" ]; then
  command -v debootstrap >/dev/null || {
    echo "== installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  }
  echo "== bootstrapping a clean Debian 12 ($suite, minbase) from $mirror into $base (cached for reruns)"
  rm -rf --one-file-system "$base"
  debootstrap --variant=minbase "$suite" "$base" "$mirror" >"$logs/debootstrap.log" 2>&1 ||
    die "debootstrap failed, see $logs/debootstrap.log"
  touch "$base/.complete"
fi

echo "== new root $root from the cached base"
unmount_all
rm -rf --one-file-system "$root"
cp -a "$base" "$root"
rm -f "$root/.complete"

# What the root needs to reach the same archives as this machine.
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts" 2>/dev/null || true
rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -s "$f" ] || continue
  # Debian's archives only: a source signed by a keyring the fresh root does not have is a third-party one.
  keep=1
  for key in $(grep -oE 'signed-by=[^] ]+|Signed-By: *[^ ]+' "$f" | sed -E 's/^(signed-by=|Signed-By: *)//'); do
    [ -e "$root$key" ] || keep=0
  done
  grep -qiE 'nodesource|google|docker' "$f" && keep=0
  ((keep)) && cp "$f" "$root${f}"
done
if ! ls "$root"/etc/apt/sources.list "$root"/etc/apt/sources.list.d/* >/dev/null 2>&1; then
  echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"
fi
for f in /etc/apt/apt.conf.d/*; do
  grep -qi 'proxy' "$f" 2>/dev/null && cp "$f" "$root$f"
done
mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true

env_pass=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 CI=true TERM=dumb)
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR; do
  [ -n "${!v:-}" ] && env_pass+=("$v=${!v}")
done

commit="$(git -C "$repo" rev-parse --short HEAD)"
echo "== cloning $repo at $commit"
git clone --quiet "$repo" "$root/root/compression-workbench"

mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys" && mounted+=("$root/sys")
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted+=("$root/dev")

in_root() {  # in_root LOG COMMAND...: run in the fresh root, from the clone, output to LOG
  local log="$1"; shift
  chroot "$root" /usr/bin/env -i "${env_pass[@]}" /bin/bash -c 'cd /root/compression-workbench && "$@"' bash "$@" \
    </dev/null >"$log" 2>&1
}
minutes() { echo "$(( ($2 - $1 + 30) / 60 )) min"; }

echo "== setup.sh run (log: $logs/run.log)"
t0=$(date +%s)
run_result=FAIL
if in_root "$logs/run.log" ./installers/setup.sh run &&
   [ -s "$root/root/compression-workbench/build/demo.png" ]; then
  run_result=PASS
  cp "$root/root/compression-workbench/build/demo.png" "$logs/demo.png"
fi
t1=$(date +%s)
run_summary="run $run_result $(minutes "$t0" "$t1")"
[ "$run_result" = PASS ] || run_summary+=" (see $logs/run.log)"

echo "== setup.sh test (log: $logs/test.log)"
test_result=FAIL
in_root "$logs/test.log" ./installers/setup.sh test && test_result=PASS
t2=$(date +%s)
counts="$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$logs/test.log" | tail -n1 || true)"
if [[ "$counts" =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
  counts="($(( BASH_REMATCH[2] - BASH_REMATCH[1] ))/${BASH_REMATCH[2]})"
else
  counts="(no CTest summary)"
fi
# The second command must not install again what the first one did: setup is idempotent. (It may install what
# only the tests need: the single-node Slurm of tests/cluster/slurm_sweep.sh.)
installed() { sed -n 's/^== installing: //p' "$1" | tr ' ' '\n' | sort -u; }
again="$(comm -12 <(installed "$logs/run.log") <(installed "$logs/test.log") | tr '\n' ' ')"
[ -n "$again" ] && test_result="$test_result, reinstalled packages: $again"
test_summary="test $test_result $counts $(minutes "$t1" "$t2")"
[ "$test_result" = PASS ] || test_summary+=" (see $logs/test.log)"

echo "fresh machine ($commit): $test_summary; $run_summary"
[ "$test_result" = PASS ] && [ "$run_result" = PASS ]
