#!/usr/bin/env bash
# The GPU checks on a GPU host that has PyTorch but no package registry (see bundle.sh):
#   bash deploy/gpu-check/run.sh PART...
# It unpacks the bundle's parts into the host's Python, serves a tiny model with `vllm serve`
# directly (whole log kept), trying plainer settings when one fails, then runs `tests/gpu` with
# the settings that served. Logs and a summary go to $OUT (default /tmp/gpu-check).
set -u +m  # no job control: a background command stays in this group, so setsid makes it a leader
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
note() { echo "[$(date +%T)] $*" | tee -a "$SUMMARY"; }
PY=$(command -v python3)
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

note "unpacking ${#} part(s) into $SITE"
cat "$@" | xz -d -T0 | tar x -C "$SITE" || { note "unpack failed"; exit 1; }
{
  nvidia-smi; free -g; df -h /dev/shm /tmp; ulimit -a
  "$PY" -c 'import torch, vllm, vllm._C_stable_libtorch; print("torch", torch.__version__, "vllm", vllm.__version__)'
} > "$OUT/env.txt" 2>&1
tail -1 "$OUT/env.txt" | tee -a "$SUMMARY"
"$PY" - >> "$SUMMARY" 2>&1 <<'IMPORTS' || { note "vLLM's modules do not import"; exit 1; }
import importlib, traceback
failed = 0
for name in ("vllm.entrypoints.openai.api_server", "vllm.v1.engine.core", "vllm.v1.worker.gpu_model_runner",
             "vllm.model_executor.models.llama", "vllm.v1.attention.backends.flash_attn",
             "vllm.v1.attention.backends.triton_attn", "vllm.v1.sample.sampler"):
    try:
        importlib.import_module(name)
    except Exception:
        failed = 1
        print(f"{name}:", traceback.format_exc(limit=-4))
raise SystemExit(failed)
IMPORTS

mkdir -p /tmp/vbin
cat > /tmp/vbin/vllm <<WRAP
#!/bin/sh
exec $PY -c 'import sys; sys.argv[0] = "vllm"; from vllm.entrypoints.cli.main import main; sys.exit(main())' "\$@"
WRAP
chmod +x /tmp/vbin/vllm
"$PY" -c 'from pathlib import Path; from tests.tiny_model import build_model; build_model(Path("/tmp/tiny"), hidden=256)' \
  || { note "tiny model failed"; exit 1; }

# vLLM imports FlashInfer for its sampler unless told not to; FlashInfer JIT-builds its kernels, and
# the bundle leaves it out
export VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONFAULTHANDLER=1 HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
# serve NAME LIMIT_S ARGS...: true when the tiny model answered a completion
serve() {
  local name=$1 limit=$2 port=8011
  shift 2
  note "vllm serve ($name): $*"
  setsid /tmp/vbin/vllm serve /tmp/tiny --served-model-name tiny --port $port --max-model-len 256 \
    --gpu-memory-utilization 0.25 --max-num-seqs 8 "$@" > "$OUT/serve-$name.log" 2>&1 &
  local pid=$! ok=1 started=$SECONDS
  while (( SECONDS - started < limit )) && kill -0 $pid 2>/dev/null; do
    if curl -sf "localhost:$port/health" > /dev/null; then ok=0; break; fi
    sleep 1
  done
  if (( ok == 0 )); then
    note "ready after $((SECONDS - started)) s"
    curl -sf "localhost:$port/v1/completions" -H 'Content-Type: application/json' \
      -d '{"model": "tiny", "prompt": "Blood pressure", "max_tokens": 8, "ignore_eos": true}' >> "$SUMMARY" \
      || { ok=1; note "ready, but the completion failed"; }
    echo >> "$SUMMARY"
    nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader | tee -a "$SUMMARY"
    curl -s "localhost:$port/metrics" | grep -E '^vllm:(generation_tokens_total|kv_cache_usage_perc)' | tee -a "$SUMMARY"
  else
    note "not ready after $((SECONDS - started)) s; alive: $(kill -0 $pid 2>/dev/null && echo yes || echo no)"
    grep -nE 'Error|error|Traceback|Fatal|Segmentation|Aborted|Killed|signal' "$OUT/serve-$name.log" | tail -15 >> "$SUMMARY"
  fi
  kill -TERM -- -$pid 2>/dev/null
  for _ in $(seq 20); do kill -0 -- -$pid 2>/dev/null || break; sleep 1; done
  kill -KILL -- -$pid 2>/dev/null
  return $ok
}

ARGS=${GPU_CHECK_VLLM_ARGS-unset}  # set (even empty): skip the direct tries, serve with these in tests/gpu
if [[ $ARGS != unset ]]; then :
elif serve default 150; then ARGS=""
elif serve eager 90 --enforce-eager; then ARGS="--enforce-eager"
elif serve triton 90 --enforce-eager --attention-backend TRITON_ATTN; then ARGS="--enforce-eager --attention-backend TRITON_ATTN"
else
  dmesg 2>/dev/null | tail -20 >> "$SUMMARY"
  note "vLLM did not serve; tests/gpu not run"
  exit 1
fi

note "tests/gpu with MEDAI_TEST_VLLM_ARGS='$ARGS'"
MEDAI_TEST_VLLM=/tmp/vbin/vllm MEDAI_TEST_VLLM_ARGS="$ARGS" timeout -s INT $((${CHECK_LIMIT_S:-600} - SECONDS)) "$PY" -m pytest ${GPU_CHECK_TESTS:-tests/gpu} -rs -v \
  -p no:cacheprovider --basetemp=/tmp/pt > "$OUT/pytest.log" 2>&1
note "pytest exit $?: $(tail -1 "$OUT/pytest.log")"
find /tmp/pt -name worker.log -exec sh -c 'echo "== $1"; tail -c 2000000 "$1"' _ {} \; > "$OUT/workers.log" 2>/dev/null
