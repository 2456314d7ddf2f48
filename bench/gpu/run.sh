#!/usr/bin/env bash
# SpikeLab on one CUDA GPU: Kilosort4 (sort_recording vs run_kilosort), RT-Sort on CUDA, the NVML
# watchdog and the OOM retry against the real device. Under 8 minutes on one H200.
#
#   bash bench/gpu/run.sh            # on the GPU machine; writes $OUT (default: a temp folder)
#   bash bench/gpu/run.sh --cpu      # dry run here: small sizes, fake NVML, no CUDA
#   PARTS="env rtsort" bash bench/gpu/run.sh    # some parts only
#
# Wheels in .whl/ (not in git) are installed first into /tmp/site when present: the device
# machine has no network. Every part runs in its own process under its own time limit, so one
# failure or hang does not stop the rest; results.json, run.log and summary.md land in $OUT.
set -u
cd "$(dirname "$0")/../.."
MODE=${1:-}
OUT=${OUT:-$(mktemp -d /tmp/spikelab_gpu_out.XXXX)}
WORK=${WORK:-/tmp/spikelab_gpu_work}
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-450}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
mkdir -p "$OUT" "$WORK"
LOG="$OUT/run.log"
START=$(date +%s)
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl >>"$LOG" 2>&1 || echo "wheel install FAILED (see run.log)"
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  echo "wheels installed in $(( $(date +%s) - START )) s" | tee -a "$LOG"
fi
{ nvidia-smi; nvidia-smi --query-gpu=name,memory.total,memory.used,temperature.gpu,driver_version --format=csv; } \
  >"$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi not available" >>"$OUT/nvidia-smi.txt"
FLAG=""; [ "$MODE" = "--cpu" ] && FLAG="--cpu"

# part and its own limit (s); each also stops when the whole budget is spent. PARTS picks some
# (e.g. PARTS="env rtsort"); gen is needed by ks4, oom and watchdog.
for spec in env:60 gen:90 ks4:170 oom:170 watchdog:70 rtsort:150; do
  case " ${PARTS:-env gen ks4 oom watchdog rtsort} " in *" ${spec%%:*} "*) ;; *) continue ;; esac
  part=${spec%%:*}; limit=${spec##*:}
  [ "$MODE" = "--cpu" ] && limit=$(( limit * 3 ))   # a loaded 2-core machine
  left=$(( BUDGET_S - ($(date +%s) - START) ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 15 ]; then echo "== $part: SKIPPED, budget spent" | tee -a "$LOG"; continue; fi
  t0=$(date +%s)
  echo "== $part (limit ${limit}s)" | tee -a "$LOG"
  timeout --kill-after=10 "$limit" "$PY" bench/gpu/checks.py "$part" --out "$OUT" --work "$WORK" $FLAG >>"$LOG" 2>&1
  rc=$?
  case $rc in
    0) echo "== $part: ok in $(( $(date +%s) - t0 )) s" | tee -a "$LOG" ;;
    124|137) echo "== $part: TIMED OUT after ${limit}s" | tee -a "$LOG" ;;
    *) echo "== $part: FAILED (rc $rc), last lines:" | tee -a "$LOG"; tail -n 4 "$LOG" ;;
  esac
done
"$PY" bench/gpu/checks.py summary --out "$OUT" --work "$WORK" $FLAG 2>>"$LOG"
rm -rf "$WORK"
echo "total $(( $(date +%s) - START )) s; results in $OUT"
