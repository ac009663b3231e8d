#!/usr/bin/env bash
# Serves MODEL (a checkpoint folder, e.g. the SFT run's final/) with vLLM's OpenAI-compatible
# server on 127.0.0.1, with the settings that work on CPU-only machines:
#   - VLLM_CPU_KVCACHE_SPACE (GiB, default 1): without it vLLM sizes the KV cache from the
#     machine's memory (20 GiB here) and the kernel kills the server;
#   - --no-enable-chunked-prefill and --max-num-batched-tokens 2*MAX_MODEL_LEN: vLLM 0.32 on
#     CPU stops the engine ("CPU Generator does not use offset") when a seeded request's prompt
#     is prefilled in chunks, and every teacher request of ours is seeded;
#   - --enforce-eager (starts in ~25 s instead of ~65 s with torch.compile), offline, no telemetry.
# Usage: scripts/serve_vllm_cpu.sh MODEL [PORT] [more vllm flags...]
# Env: SERVED_NAME (default: policy), MAX_MODEL_LEN (4096), MAX_IMAGES (8), DTYPE (bfloat16),
#      PYTHON (default: .venv-vllm/bin/python; build it with scripts/setup_vllm.sh).
# Then: --teacher openai --teacher-endpoint http://127.0.0.1:PORT/v1 --teacher-model policy
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
model=$1
port=${2:-8000}
shift $(( $# >= 2 ? 2 : 1 ))
py=${PYTHON:-$root/.venv-vllm/bin/python}
if [ ! -d "$model" ]; then
  echo "serve_vllm_cpu.sh: $model: no such model folder" >&2
  exit 2
fi
if ! "$py" -c "import vllm" 2>/dev/null; then
  echo "serve_vllm_cpu.sh: $py cannot import vllm (build .venv-vllm: scripts/setup_vllm.sh)" >&2
  exit 2
fi
max_len=${MAX_MODEL_LEN:-4096}
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
echo "serving $model as ${SERVED_NAME:-policy} at http://127.0.0.1:$port/v1 (ready when" \
  "http://127.0.0.1:$port/health answers; ~30 s)" >&2
exec "$py" -m vllm.entrypoints.openai.api_server \
  --model "$model" \
  --served-model-name "${SERVED_NAME:-policy}" \
  --host 127.0.0.1 \
  --port "$port" \
  --dtype "${DTYPE:-bfloat16}" \
  --enforce-eager \
  --max-model-len "$max_len" \
  --limit-mm-per-prompt "{\"image\": ${MAX_IMAGES:-8}}" \
  --no-enable-chunked-prefill \
  --max-num-batched-tokens $(( 2 * max_len )) \
  "$@"
