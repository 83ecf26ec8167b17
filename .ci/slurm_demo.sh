#!/usr/bin/env bash
# CI: run the demo DAG (config/test.yaml budget) through profiles/slurm on a real single-node SLURM cluster.
# Brings up munged, slurmctld and slurmd on localhost (Debian's packages, one fake GPU), runs Snakemake
# with the SLURM profile, checks that every job went through SLURM and that the GPU rules asked for a GPU
# in the profile's GPU partition, then stops the daemons by PID. Needs root; run with the project's venv
# active (.ci/run does both).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PYTHON=${PYTHON:-python}
WORK=$(mktemp -d /tmp/nnlandmark-slurm.XXXXXX)
DAEMONS=()
passed=0
started=$SECONDS

say() { echo "[slurm-ci $((SECONDS - started))s] $*"; }

stop_cluster() {
    if [ "${#DAEMONS[@]}" -gt 0 ]; then
        scancel --user "$(id -un)" 2>/dev/null || true  # jobs left by a failed run; their steps are not our children
        for _ in $(seq 20); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
    fi
    for pid in "${DAEMONS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${DAEMONS[@]}"; do
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ "$passed" = 1 ]; then rm -rf "$WORK"; else echo "SLURM demo files kept in $WORK"; fi
}
trap stop_cluster EXIT

# --- install: Debian's SLURM and munge --------------------------------------------------------------
say "installing slurmctld slurmd slurm-client munge"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null

# --- configure: one node with all CPUs, most of the memory and two fake GPUs -----------------------
CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p "$WORK/state" "$WORK/spool"
# the default location: the jobstep plugin drops SLURM_* variables (SLURM_CONF too) before its inner srun
CONF_DIR=/etc/slurm
MARK="# written by nnLandmark's .ci/slurm_demo.sh"
if [ -s "$CONF_DIR/slurm.conf" ] && ! grep -qF "$MARK" "$CONF_DIR/slurm.conf"; then
    say "$CONF_DIR/slurm.conf exists and is not ours: not overwriting it"
    exit 1
fi
mkdir -p "$CONF_DIR"
cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=nnlandmark-ci
SlurmctldHost=localhost
SlurmUser=$(id -un)
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
DefMemPerCPU=500
MinJobAge=3600
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
# fake GPUs: SLURM only needs character devices to hand out
cat >"$CONF_DIR/gres.conf" <<EOF
$MARK
AutoDetect=off
NodeName=localhost Name=gpu File=/dev/null
NodeName=localhost Name=gpu File=/dev/zero
EOF
export SLURM_CONF=$CONF_DIR/slurm.conf

# --- start: munged as user munge, then the controller and the node daemon ---------------------------
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
setpriv --reuid munge --regid munge --init-groups /usr/sbin/munged --foreground >"$WORK/munged.out" 2>&1 &
DAEMONS=($! "${DAEMONS[@]}")
for _ in $(seq 40); do [ -S /run/munge/munge.socket.2 ] && break; sleep 0.25; done
slurmctld -D -i -f "$SLURM_CONF" >"$WORK/slurmctld.out" 2>&1 &
DAEMONS=($! "${DAEMONS[@]}")
slurmd -D -N localhost -f "$SLURM_CONF" >"$WORK/slurmd.out" 2>&1 &
DAEMONS=($! "${DAEMONS[@]}")
for _ in $(seq 60); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null | head -1 || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
if [ "${state:-}" != idle ]; then
    say "the node did not come up (state '${state:-none}')"
    tail -n 30 "$WORK"/slurmctld.log "$WORK"/slurmd.log "$WORK"/*.out || true
    exit 1
fi
say "cluster up: $(sinfo -h -o '%P %D %c %m %G %T' | tr '\n' ';')"

# --- run: profiles/slurm as it is, with memory and CPUs capped so that two GPU jobs fit this node -----
mkdir -p "$WORK/profile" "$WORK/run"
"$PYTHON" - "$REPO/profiles/slurm/config.yaml" "$WORK/profile/config.yaml" "$(((CPUS + 1) / 2))" "$((MEM_MB / 4))" <<'EOF'
import sys

import yaml

source, target, cpus, mem_mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
profile = yaml.safe_load(open(source))
for block in [profile.get("default-resources", {}), *profile.get("set-resources", {}).values()]:
    if "mem_mb" in block:
        block["mem_mb"] = min(block["mem_mb"], mem_mb)
    if "cpus_per_gpu" in block:
        block["cpus_per_gpu"] = min(block["cpus_per_gpu"], cpus)
profile["slurm-init-seconds-before-status-checks"] = 2  # short jobs: look early (the default is 40 s)
yaml.safe_dump(profile, open(target, "w"), sort_keys=False)
EOF
say "running the demo DAG through the SLURM profile"
if ! timeout 900 "$PYTHON" -m snakemake --snakefile "$REPO/Snakefile" --directory "$WORK/run" \
        --workflow-profile "$WORK/profile" --configfile "$REPO/config/test.yaml" >"$WORK/snakemake.log" 2>&1; then
    say "the SLURM run failed"
    tail -n 80 "$WORK/snakemake.log"
    find "$WORK/run/.snakemake/slurm_logs" -name '*.log' -exec tail -n 40 {} + 2>/dev/null || true
    tail -n 30 "$WORK/slurmctld.log" "$WORK/slurmd.log" || true
    exit 1
fi
say "DAG done"

# --- check: every job went through SLURM; GPU rules with a GPU, in the gpu partition -----------------
scontrol show job --oneliner >"$WORK/jobs.txt"
"$PYTHON" - "$WORK/jobs.txt" "$WORK/run" <<'EOF'
import re
import sys
from collections import Counter
from pathlib import Path

jobs_file, run = Path(sys.argv[1]), Path(sys.argv[2])
jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in jobs_file.read_text().splitlines() if line.strip()]
rules = Counter(re.sub(r"^rule_|_wildcards_.*$", "", job.get("Comment", "")) for job in jobs)
print("SLURM jobs per rule:", dict(rules))
expected = {"generate_demo": 1, "convert_dataset": 1, "extract_fingerprint": 1, "plan_experiment": 1,
            "preprocess_dataset": 1, "train_fold": 2, "predict_test": 1, "predict_baseline": 1,
            "evaluate_predictions": 1, "plot_errors": 1}
problems = [f"{rule}: {rules[rule]} SLURM jobs, expected {n}" for rule, n in expected.items() if rules[rule] != n]
for job in jobs:
    rule = re.sub(r"^rule_|_wildcards_.*$", "", job.get("Comment", ""))
    gpus = re.search(r"gpu:(\d+)", job.get("TresPerJob", "") + job.get("TresPerNode", ""))
    if job.get("JobState") != "COMPLETED":
        problems.append(f"job {job['JobId']} ({rule}) ended {job.get('JobState')}")
    if rule in ("train_fold", "predict_test"):
        if not gpus or gpus.group(1) != "1" or job.get("Partition") != "gpu":
            problems.append(f"GPU job {job['JobId']} ({rule}): partition {job.get('Partition')}, "
                            f"TresPerJob {job.get('TresPerJob')!r}: expected 1 GPU in partition gpu")
    elif gpus:
        problems.append(f"job {job['JobId']} ({rule}) asked for a GPU")
devices = {}
for fold in (0, 1):
    log = (run / "logs" / "train_fold" / f"demo_fold{fold}.log").read_text()
    seen = re.search(r"using GPU (\S+) \(CUDA_VISIBLE_DEVICES set by the scheduler", log)
    if seen:
        devices[fold] = seen.group(1)
    else:
        problems.append(f"train_fold {fold} did not see the one GPU SLURM gave it")
folds = sorted((job["StartTime"], job["EndTime"]) for job in jobs
               if job.get("Comment", "").startswith("rule_train_fold"))
overlapped = len(folds) == 2 and folds[1][0] < folds[0][1]
print(f"train_fold GPUs: {devices}; the two folds ran {'at the same time' if overlapped else 'one after the other'}")
if overlapped and len(set(devices.values())) != 2:
    problems.append(f"the two folds ran at the same time on the same GPU: {devices}")
for table in ("errors", "summary", "per_landmark"):
    if not (run / "results-test" / "demo" / "tables" / f"{table}.csv").is_file():
        problems.append(f"results-test/demo/tables/{table}.csv missing")
if problems:
    sys.exit("SLURM demo check failed:\n  " + "\n  ".join(problems))
print("GPU rules went through SLURM with --gpus=1 in partition gpu; all jobs COMPLETED")
EOF
passed=1
say "SLURM demo passed"
