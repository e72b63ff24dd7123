#!/usr/bin/env bash
# The one prepared GPU check (issue #21): everything this project can only measure on an NVIDIA GPU,
# in one command that fits a 15-minute lease on one H100/H200 (target: under 9 minutes).
#
#   1. the worker's whole test suite on CUDA (the recipes pick the GPU), tests/test_cuda.py included:
#      FlashAttention varlen packing parity, QLoRA, Liger, compile, activation offload, the CUDA
#      preflight peak and the OUT_OF_MEMORY answer (each skipped with its reason when its package is
#      missing);
#   2. the trainer benchmark on the Qwen2.5-0.5B and Llama-3.1-8B shapes, one row per micro-batch
#      (`npm run bench -- trainer --gpu --shapes qwen2.5-0.5b,llama-3.1-8b --rows 1`);
#   3. the memory estimator against measured CUDA peaks (`npm run bench -- estimator`).
# Results: RESULTS/{pytest-cuda.xml,pytest-cuda.txt,trainer-cuda.*,estimator-cuda.*,gpu-check.md}, RESULTS being
# $OUT when set (the device tool's folder), else bench/results. Each step has its own time limit, so
# one hung step cannot eat the lease, and the summary says what ran, what was skipped and why.
#
# On a machine without CUDA it is a dry run into a temp folder: the same steps, each saying what it
# skips (the CUDA tests are collected and skipped, the GPU benchmarks are not started).
#
# The GPU machine has Python with torch but maybe no Node.js and no internet. Prepare a carry folder
# here first:   bash bench/gpu-check.sh --pack     (writes .gpu/: node.xz, the bundled benchmarks, and
# any wheels in $WHEELS), then on the GPU machine, with .gpu carried:   bash bench/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PACK=.gpu

if [[ "${1:-}" == "--pack" ]]; then
  mkdir -p "$PACK"
  grep -qx "/$PACK/" .git/info/exclude 2>/dev/null || echo "/$PACK/" >> .git/info/exclude
  [[ -f "$PACK/node.xz" ]] || xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > "$PACK/node.xz"
  node -e '
    require("esbuild").build({ entryPoints: ["bench/run.ts"], outfile: process.argv[1], bundle: true, platform: "node",
      format: "esm", target: "node20", external: ["onnxruntime-node", "@huggingface/transformers"], logLevel: "warning",
      banner: { js: "import { createRequire as __r } from \"node:module\"; const require = __r(import.meta.url);" } })' "$PACK/bench.mjs"
  for w in ${WHEELS:-}; do cp "$w" "$PACK/"; done
  du -sh "$PACK"; echo "carry $PACK with the device run; it is git-ignored."
  exit 0
fi

START=$(date +%s)
log() { echo "[gpu-check $(( $(date +%s) - START ))s] $*"; }
declare -a ROWS=()
row() { ROWS+=("| $1 | $2 | $3 |"); }

# Python: the project's venv where it exists (a dev machine), else the machine's python3 (the GPU image).
PY=${WHETSTONE_PYTHON:-}
[[ -z "$PY" && -x engine/worker/.venv/bin/python ]] && PY=$ROOT/engine/worker/.venv/bin/python
[[ -z "$PY" ]] && PY=$(command -v python3)
export WHETSTONE_PYTHON=$PY PYTHONUNBUFFERED=1 PYTHONPATH="$ROOT/engine/worker${PYTHONPATH:+:$PYTHONPATH}"
if ls "$PACK"/*.whl >/dev/null 2>&1; then
  log "installing carried wheels: $(cd "$PACK" && ls *.whl | tr '\n' ' ')"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu-check-site "$PACK"/*.whl \
    && export PYTHONPATH="/tmp/gpu-check-site:$PYTHONPATH"
fi

# Node: the machine's, else the carried one, else the benchmarks are skipped (said in the summary).
NODE=$(command -v node || true)
if [[ -z "$NODE" && -f "$PACK/node.xz" ]]; then
  xz -dc "$PACK/node.xz" > /tmp/gpu-check-node && chmod +x /tmp/gpu-check-node && NODE=/tmp/gpu-check-node
fi
BENCH=()
if [[ -n "$NODE" && -f "$PACK/bench.mjs" ]]; then BENCH=("$NODE" "$PACK/bench.mjs")
elif [[ -n "$NODE" && -d node_modules/tsx ]]; then BENCH=("$NODE" --import tsx bench/run.ts)
fi

# One interpreter start for the three questions: the GPU's name or an empty line, the versions (or why
# torch cannot be imported), and whether TRL is installed. Only torch is imported (to ask CUDA); the
# others' versions come from their installed metadata: importing transformers and peft costs ~4 s of
# CPU more, and the tests below import them anyway (an import error fails them, by name).
PROBE=$("$PY" - 2>/dev/null <<'EOF'
import importlib.util
import sys
from importlib.metadata import PackageNotFoundError, version


def installed(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


try:
    import torch
    print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
    print(sys.version.split()[0], "torch", torch.__version__, "transformers", installed("transformers"), "peft", installed("peft"))
except Exception as e:  # noqa: BLE001
    print("")
    print(f"cannot import torch: {e}")
print("trl" if importlib.util.find_spec("trl") else "no trl")
EOF
)
CUDA=$(sed -n 1p <<< "$PROBE")
log "python $(sed -n 2p <<< "$PROBE")"
# A dry run never overwrites the committed GPU results.
RESULTS=${OUT:-$([[ -n "$CUDA" ]] && echo "$ROOT/bench/results" || mktemp -d)}
mkdir -p "$RESULTS"
SUMMARY=$RESULTS/gpu-check.md
if [[ -n "$CUDA" ]]; then
  log "GPU: $CUDA"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/  /'
else
  log "no CUDA device: dry run (the CUDA tests are collected and skipped, the GPU benchmarks are not started); results in $RESULTS"
fi

log "tiny fixture model"
"$PY" -m whetstone_fixtures.tiny --out "$ROOT/.cache/fixtures/tiny-llama" >/dev/null || row "tiny fixture" "FAILED" "see the output above"

# 1. Worker tests. On CPU only test_cuda.py (the rest is `npm test`'s); on CUDA all of them.
log "1/3 worker tests ($([[ -n "$CUDA" ]] && echo "all, on CUDA" || echo "test_cuda.py only, skipped without CUDA"))"
TESTS=(tests/test_cuda.py)
[[ -n "$CUDA" ]] && TESTS=(tests)
IGNORE=()
[[ $(sed -n 3p <<< "$PROBE") == trl ]] || IGNORE=(--ignore=tests/losses/test_preference_losses.py --ignore=tests/test_trainer_parity.py)
(cd engine/worker && timeout 300 "$PY" -m pytest -q -rs -p no:cacheprovider "${IGNORE[@]}" --junitxml="$RESULTS/pytest-cuda.xml" "${TESTS[@]}") 2>&1 | tee "$RESULTS/pytest-cuda.txt" | tail -25
status=${PIPESTATUS[0]}
counts=$(grep -Eo '[0-9]+ (passed|failed|skipped|error)[a-z]*' "$RESULTS/pytest-cuda.txt" | tail -4 | paste -sd, -)
row "worker tests ${TESTS[*]}" "$([[ $status == 0 ]] && echo ok || echo "FAILED (exit $status)")" "${counts:-no counts}${IGNORE:+; trl not installed: its parity tests left out}"

# 2. Trainer benchmark on the GPU shapes.
if [[ ${#BENCH[@]} == 0 ]]; then
  row "trainer bench" "skipped" "no Node.js here and no .gpu/bench.mjs carried (bash bench/gpu-check.sh --pack)"
  row "estimator bench" "skipped" "same"
elif [[ -z "$CUDA" ]]; then
  row "trainer bench --gpu" "skipped" "needs CUDA"
  row "estimator on CUDA" "skipped" "needs CUDA"
else
  work=$(mktemp -d)
  log "2/3 trainer bench: qwen2.5-0.5b, llama-3.1-8b, --rows 1"
  timeout 330 "${BENCH[@]}" trainer --gpu --shapes qwen2.5-0.5b,llama-3.1-8b --rows 1 --out "$work/trainer" 2>&1 | tail -30
  status=${PIPESTATUS[0]}
  for ext in json md; do [[ -f "$work/trainer/trainer.$ext" ]] && cp "$work/trainer/trainer.$ext" "$RESULTS/trainer-cuda.$ext"; done
  row "trainer bench --gpu" "$([[ $status == 0 ]] && echo ok || echo "FAILED (exit $status)")" "trainer-cuda.md"
  log "3/3 estimator on CUDA"
  timeout 120 "${BENCH[@]}" estimator --out "$work/estimator" 2>&1 | tail -20
  status=${PIPESTATUS[0]}
  for ext in json md; do [[ -f "$work/estimator/estimator.$ext" ]] && cp "$work/estimator/estimator.$ext" "$RESULTS/estimator-cuda.$ext"; done
  row "estimator on CUDA" "$([[ $status == 0 ]] && echo ok || echo "FAILED (exit $status)")" "estimator-cuda.md"
fi

{
  echo "# GPU check ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Device: ${CUDA:-none (dry run)}. Python: $PY. Took $(( $(date +%s) - START )) s."
  echo
  echo "| step | result | notes |"
  echo "|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} > "$SUMMARY"
cat "$SUMMARY"
log "done: $(grep -c '| ok |' "$SUMMARY") ok, $(grep -c 'FAILED' "$SUMMARY") failed, $(grep -c '| skipped |' "$SUMMARY") skipped"
