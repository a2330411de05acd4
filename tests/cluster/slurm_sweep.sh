#!/usr/bin/env bash
# A sensitivity sweep of the demo on a real Slurm cluster, brought up on this machine for the test: munged with a
# private key, slurmctld and slurmd on localhost with a generated slurm.conf (two CPUs, one partition), state and
# logs in a temporary folder. cwb writes the plan, the job array of 4 shards and the dependent merge job, submits
# them with sbatch, and the test waits for the merge, then checks that the project's sensitivity equals cwb
# sensitivity computed at once with the same threads; then a GPTQ recipe of demo-lm split by matrix goes the same
# way and must equal cwb compress in one process. It stops the daemons it started. Prints the wall times of the
# local run and the cluster run (docs/cluster.md).
# usage: slurm_sweep.sh CWB          exit 77 (CTest: skipped) when not root: slurmd runs jobs as their users.
#   CW_SLURM_LIMIT: test images per trial (default 1,000; docs/cluster.md's timing uses 10,000).
set -euo pipefail
cwb="$(realpath "$1")"
skip() { echo "SKIPPED: $*"; exit 77; }
for b in munged slurmctld slurmd sbatch squeue sinfo; do
  command -v "$b" >/dev/null || { echo "FAIL: $b is not installed (installers/setup.sh installs munge, slurmctld, slurmd, slurm-client)"; exit 1; }
done
[ "$(id -u)" = 0 ] || skip "starting slurmd needs root (it runs each job as its user); run the suite as root"

tmp="$(mktemp -d /tmp/cw-slurm.XXXXXX)"
chmod 755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
logs() { for f in "$tmp"/*.log "$tmp"/munge/*.log "$tmp"/work/sweep/logs/*.log; do [ -f "$f" ] && { echo "== $f"; tail -20 "$f"; }; done; }
fail() { echo "FAIL: $*"; logs; exit 1; }

# munge, on a socket and key of its own (an installed munged, if any, is left alone).
mkdir -p "$tmp/munge" && chmod 700 "$tmp/munge"
head -c 1024 /dev/urandom >"$tmp/munge/munge.key" && chmod 400 "$tmp/munge/munge.key"
munged --foreground --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.sock" \
       --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/munged.seed" \
       2>>"$tmp/munge/munged.log" &
pids+=($!)

host="$(hostname -s)"
port=$((20000 + RANDOM % 20000))
export SLURM_CONF="$tmp/slurm.conf"
mkdir -p "$tmp/state" "$tmp/spool"
cat >"$SLURM_CONF" <<CONF
ClusterName=cwtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.sock
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# munged makes its socket in the background.
for _ in $(seq 50); do [ -S "$tmp/munge/munge.sock" ] && break; sleep 0.2; done
[ -S "$tmp/munge/munge.sock" ] || fail "munged did not start"
slurmctld -D -i 2>>"$tmp/slurmctld.log" &
pids+=($!)
slurmd -D 2>>"$tmp/slurmd.log" &
pids+=($!)
for _ in $(seq 120); do
  state="$(sinfo -h -o %t 2>/dev/null || true)"
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || fail "the node did not come up (sinfo: '$state')"
echo "slurm: node $host idle (slurm.conf $SLURM_CONF)"

mkdir -p "$tmp/work" && cd "$tmp/work"
sweep=(demo --data fashion-mnist --limit "${CW_SLURM_LIMIT:-1000}" --threads 1)
"$cwb" sensitivity "${sweep[@]}" --plan plan.json
# Waits for the merge job of the sweep in folder $1 (its merged.json).
wait_merged() {
  for _ in $(seq 1200); do
    [ -f "$1/merged.json" ] && return 0
    if [ -z "$(squeue -h 2>/dev/null)" ] && [ ! -f "$1/merged.json" ]; then
      sleep 1
      [ -f "$1/merged.json" ] || fail "the jobs of $1 ended without a merged result"
    fi
    sleep 0.5
  done
  fail "no merged result in $1 after 10 minutes"
}
t0=$(date +%s.%N)
"$cwb" sweep plan.json --slurm "$tmp/work/sweep" --shards 4 --cpus 1 --project "$tmp/work/p.cwproj" --submit
wait_merged sweep
t1=$(date +%s.%N)
"$cwb" sweep --status sweep
"$cwb" sensitivity "${sweep[@]}" --json >local.json
t2=$(date +%s.%N)
"$cwb" project show p.cwproj >project.txt
grep -q "analysis 'sensitivity'" project.txt || fail "the project holds no sensitivity"
/usr/bin/python3 - "$t0" "$t1" "$t2" <<'PY'
import json, sys
merged, local = json.load(open('sweep/merged.json')), json.load(open('local.json'))
for d in (merged, local):
    d.pop('seconds', None)
if merged != local:
    print('FAIL: the merged sweep differs from the local one')
    for k in local:
        if merged.get(k) != local[k]:
            print(' ', k, str(merged.get(k))[:200], '|', str(local[k])[:200])
    sys.exit(1)
t0, t1, t2 = map(float, sys.argv[1:])
print(f'merged sweep equals the local one: {len(local["layers"])} layers; '
      f'cluster (4 shards on 2 CPUs, from submission to merged) {t1 - t0:.1f} s, one process {t2 - t1:.1f} s, '
      f'speed-up {(t2 - t1) / (t1 - t0):.2f}x')
PY

# GPTQ of the demo language model split by matrix (an "lm-matrices" plan): 3 shards and the merge, which measures the
# variant into a project; it equals cwb compress of the same recipe in one process.
text="$(dirname "$(dirname "$(dirname "$(realpath "$0")")")")/docs/language-models.md"
echo '{"name": "gptq", "sequential": false, "quantize": {"weights": {"method": "gptq", "format": "q4_0"}}}' >gptq.json
lm=(demo-lm --data "$text" --train-data "$text" --train-limit 1024 --limit 4 --threads 1)
"$cwb" compress "${lm[@]}" --recipe gptq.json --plan lm-plan.json --by-matrix
"$cwb" sweep lm-plan.json --slurm "$tmp/work/lm" --shards 3 --cpus 1 --project "$tmp/work/lm.cwproj" --submit
wait_merged lm
"$cwb" compress "${lm[@]}" --recipe gptq.json --json >lm-local.json
"$cwb" project show lm.cwproj --json >lm-project.json
/usr/bin/python3 - <<'PY'
import json, sys
local = json.load(open('lm-local.json'))['variant']
merged = json.load(open('lm-project.json'))['variants'][0]
if merged['perplexity']['perplexity'] != local['perplexity'] or merged['bytes'] != local['bytes']:
    print('FAIL: the variant merged by matrix differs from cwb compress:', merged['perplexity']['perplexity'],
          merged['bytes'], 'against', local['perplexity'], local['bytes'])
    sys.exit(1)
print(f"GPTQ by matrix on Slurm equals cwb compress: perplexity {local['perplexity']:.4f}, {local['bytes']} bytes")
PY
