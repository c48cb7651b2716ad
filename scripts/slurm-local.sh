#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for trying profiles/slurm without a real cluster
# (and for tests/test_slurm.py). Needs root and Debian's `slurm-wlm` and `munge` packages:
#   apt-get install -y --no-install-recommends slurm-wlm munge
#   sudo scripts/slurm-local.sh up      # munged, slurmctld, slurmd; waits until the node is idle
#   sudo scripts/slurm-local.sh status  # sinfo and squeue
#   sudo scripts/slurm-local.sh down    # stops the daemons this script started, removes its conf
# No systemd, no cgroups (proctrack/linuxproc, task/none), no accounting database: use the
# executor plugin's squeue status check (see docs/slurm.md). Finished jobs stay visible to
# squeue for MinJobAge seconds. The node offers one stand-in `gpu` GRES (File=/dev/null),
# so jobs of profiles/slurm that ask for --gpus=1 are scheduled (they run on the CPU).
# State, logs and pid files go to $SLURM_LOCAL_DIR (default /tmp/slurm-local). slurm.conf
# must sit at /etc/slurm/slurm.conf: the executor plugin removes SLURM_* variables (hence
# SLURM_CONF) inside jobs. An existing slurm.conf not written by this script is left alone.
set -euo pipefail

STATE=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
CONF=/etc/slurm/slurm.conf
GRES=/etc/slurm/gres.conf
MARK="# written by scripts/slurm-local.sh"
CPUS=${SLURM_LOCAL_CPUS:-8}         # advertised, not checked (config_overrides)
MEM_MB=${SLURM_LOCAL_MEM_MB:-32000} # idem: the profile's memory requests must fit
MIN_JOB_AGE=${SLURM_LOCAL_MIN_JOB_AGE:-3600}
HOST=$(hostname -s)

die() { echo "slurm-local: $*" >&2; exit 1; }

ours() { [ ! -e "$1" ] || head -n1 "$1" | grep -qxF "$MARK"; }

write_conf() {
  ours "$CONF" || die "$CONF exists and was not written by this script; not touching it"
  ours "$GRES" || die "$GRES exists and was not written by this script; not touching it"
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d"
  cat >"$CONF" <<EOF
$MARK
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
MinJobAge=$MIN_JOB_AGE
GresTypes=gpu
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  printf '%s\nNodeName=%s Name=gpu File=/dev/null\n' "$MARK" "$HOST" >"$GRES"
}

start_munge() {
  if munge -n </dev/null >/dev/null 2>&1; then return; fi  # a munged already answers
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  [ -f /etc/munge/munge.key ] || die "no /etc/munge/munge.key (reinstall munge)"
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  # munged writes its pid file as the munge user; keep a copy beside ours for `down`
  for _ in $(seq 50); do
    [ -s /run/munge/munged.pid ] && break
    sleep 0.1
  done
  cp /run/munge/munged.pid "$STATE/munged.pid"
}

wait_idle() {
  for _ in $(seq 150); do  # at most ~30 s
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then return; fi
    sleep 0.2
  done
  die "the node did not become idle; see $STATE/slurmctld.log and $STATE/slurmd.log"
}

up() {
  [ "$(id -u)" = 0 ] || die "run as root"
  command -v slurmctld >/dev/null || die "slurmctld not found: apt-get install slurm-wlm munge"
  mkdir -p "$STATE"
  chmod 755 "$STATE"
  write_conf
  start_munge
  /usr/sbin/slurmctld
  /usr/sbin/slurmd
  wait_idle
  echo "slurm-local: up (partition 'local', node $HOST; state in $STATE)"
}

stop_pid() {  # stop the daemon whose pid file this script's conf named, then wait for it
  local file=$1 pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$file"
}

cancel_jobs() {  # every job of this cluster, then wait (bounded) for their processes to end
  [ -s "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null || return 0
  squeue -h -o %i 2>/dev/null | xargs -r scancel || true
  for _ in $(seq 150); do
    [ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ] && return
    sleep 0.2
  done
}

down() {
  [ "$(id -u)" = 0 ] || die "run as root"
  cancel_jobs
  stop_pid "$STATE/slurmd.pid"
  stop_pid "$STATE/slurmctld.pid"
  stop_pid "$STATE/munged.pid"
  if ours "$CONF"; then rm -f "$CONF"; fi
  if ours "$GRES"; then rm -f "$GRES"; fi
  rm -rf "$STATE/ctld" "$STATE/d"
  echo "slurm-local: down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) sinfo; squeue ;;
  *) die "usage: $0 up|down|status" ;;
esac
