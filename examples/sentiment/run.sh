#!/usr/bin/env bash
# Fine-tune a tiny random model on the sentiment task, measure it against its base model, draw
# the loss curves and export it for vLLM and Ollama. A minute or two on a CPU, no download:
#
#   bash examples/sentiment/run.sh [WORK_DIR]
#
# Needs `pip install -e '.[plot]' -e providers/local` (anytune, matplotlib, the local provider).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"

# 1. The data (committed; regenerated here so the script documents where it comes from).
python "$HERE/make_data.py" --out "$HERE"

# 2. A tiny, randomly initialised chat model: it answers noise.
anytune local make-tiny-model "$WORK/tiny-model" --force

# 3. Fine-tune it with LoRA. A random model needs more than LoRA alone: the embeddings and the
#    output layer are trained in full (modules_to_save) and the learning rate is 10 x 2e-4.
anytune run "$HERE/train.jsonl" --validation-file "$HERE/valid.jsonl" \
    --provider local --model "$WORK/tiny-model" --lr-multiplier 10 \
    -o lora_r=8 -o modules_to_save=embed_tokens,lm_head -o eval_steps=10 \
    | tee "$WORK/run.log"
JOB="$(head -n 1 "$WORK/run.log")"

# 4. The fine-tuned model against its base on the held-out file (greedy, batched), the loss
#    curves and the checkpoint with the best validation loss.
anytune eval "$JOB" --file "$HERE/valid.jsonl" --baseline "$WORK/tiny-model" \
    --max-tokens 4 --batch-size 50 --report "$WORK/eval.md"
anytune plot "$JOB" -o "$WORK/curve.png" --title "sentiment: tiny model, LoRA + full embeddings"
anytune checkpoints "$JOB" --best

# 5. Where it is served: vLLM (merged: vLLM takes no modules_to_save) and Ollama.
anytune export "$JOB" "$WORK/vllm" --to vllm --name sentiment
anytune export "$JOB" "$WORK/ollama" --to ollama --name sentiment

# 6. One reply through `anytune chat` (the job id finds its provider and adapter).
anytune chat --model "$JOB" --max-new-tokens 4 \
    --system "Classify the sentiment of the review. Answer with one word: positive or negative." \
    "The concert was wonderful."
