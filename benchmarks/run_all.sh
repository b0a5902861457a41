#!/usr/bin/env bash
# Run `codeseek eval` (with the hybrid weight sweep) and `codeseek bench` on every corpus
# that fetch_corpora.sh downloaded, writing JSON and text results to OUT.
#
#   benchmarks/run_all.sh [CORPORA_DIR] [OUT_DIR] [NAME...]
#
# NAMEs pick corpora (folders of CORPORA_DIR); default: all of them.
# Extra flags for both commands (another embedder, say) go in CODESEEK_FLAGS, e.g.
#   CODESEEK_FLAGS="--embedder sglang" benchmarks/run_all.sh
# Set SKIP_BENCH=1 or SKIP_EVAL=1 to run only one of the two.
set -euo pipefail

CORPORA="${1:-${CODESEEK_CORPORA:-${XDG_CACHE_HOME:-$HOME/.cache}/codeseek-corpora}}"
OUT="${2:-benchmark-results}"
LIMIT="${EVAL_LIMIT:-200}"
SEED="${EVAL_SEED:-0}"
WEIGHTS=(0 0.1 0.2 0.25 0.3 0.4 0.5)
read -r -a FLAGS <<< "${CODESEEK_FLAGS:-}"
shift $(( $# < 2 ? $# : 2 ))
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for dir in "$CORPORA"/*/; do names+=("$(basename "$dir")"); done
fi
mkdir -p "$OUT"

weight_flags=()
for w in "${WEIGHTS[@]}"; do weight_flags+=(--lexical-weight "$w"); done

for name in "${names[@]}"; do
  dir="$CORPORA/$name"
  if [[ -z "${SKIP_EVAL:-}" ]]; then
    echo "== eval $name" >&2
    codeseek eval "$dir" --limit "$LIMIT" --seed "$SEED" \
      --mode lexical --mode semantic --mode hybrid --mode functions "${weight_flags[@]}" "${FLAGS[@]}" \
      --json > "$OUT/$name.eval.json"
  fi
  if [[ -z "${SKIP_BENCH:-}" ]]; then
    echo "== bench $name" >&2
    codeseek bench "$dir" "${FLAGS[@]}" --json > "$OUT/$name.bench.json"
  fi
done
echo "results in $OUT" >&2
