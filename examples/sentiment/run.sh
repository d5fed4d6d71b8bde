#!/usr/bin/env bash
# Fine-tune a tiny random model on the sentiment task and measure it before and after.
# Runs on a laptop CPU in about a minute, with no download:
#
#   bash examples/sentiment/run.sh [WORK_DIR]
#
# Needs `pip install -e . -e providers/local` (anytune with the local provider).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"

# 1. The data (committed; regenerated here so the script documents where it comes from).
python "$HERE/make_data.py" --out "$HERE"

# 2. A tiny, randomly initialised chat model: it answers noise.
anytune local make-tiny-model "$WORK/tiny-model" --force
python "$HERE/evaluate.py" "$WORK/tiny-model" --label "accuracy before fine-tuning"

# 3. Fine-tune it with LoRA. A random model needs more than LoRA alone: the embeddings and the
#    output layer are trained in full (modules_to_save) and the learning rate is 10 x 2e-4.
anytune run "$HERE/train.jsonl" --validation-file "$HERE/valid.jsonl" \
    --provider local --model "$WORK/tiny-model" --lr-multiplier 10 \
    -o lora_r=8 -o modules_to_save=embed_tokens,lm_head -o eval_steps=38 \
    | tee "$WORK/run.log"
JOB="$(head -n 1 "$WORK/run.log")"
MODEL="$(anytune status "$JOB" --json | python -c 'import json, sys; print(json.load(sys.stdin)["fine_tuned_model"])')"

# 4. The same measurement on the fine-tuned adapter, and one reply through `anytune chat`.
python "$HERE/evaluate.py" "$MODEL" --label "accuracy after fine-tuning"
anytune chat --provider local --model "$MODEL" --max-new-tokens 4 \
    --system "Classify the sentiment of the review. Answer with one word: positive or negative." \
    "The concert was wonderful."
