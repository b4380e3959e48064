#!/usr/bin/env bash
# The small G ablation (issue 4, item 7): the same data, budget and seed for
#   learned      PLDRv51 (G_LM learned by PLGA)
#   transferred  PLDRv51G with G = the learned model's empty-prompt G_LM (as PLDRv51G-106M-1)
#   identity     PLDRv51G with G = identity, i.e. SDPA (as PLDRv51G-106M-2)
#   random       PLDRv51G with G uniform on [0, 1) (as PLDRv51G-106M-3, T11)
# Usage: bash results/ablation/run.sh WORK_DIR TOKENIZER   (then summarize.mjs WORK_DIR)
set -euo pipefail
work=${1:?work dir}
tok=${2:?tokenizer .model}
here=$(cd "$(dirname "$0")" && pwd)
pldr="node $here/../../bin/run.js"
mkdir -p "$work"
[ -f "$work/brown.jsonl" ] || node "$here/../../fixtures/demo/prepare-brown.mjs" "$work/brown.jsonl"
common=(--corpus "$work/brown.jsonl" --tokenizer "$tok" --layers 3 --d-model 64 --heads 2 --context 128
        --batch-size 8 --lr 1e-3 --warmup 50 --max-steps 400 --val-every 50 --val-batches 20
        --ckpt-every 0 --log-every 10 --seed 1234 --json)
$pldr train "${common[@]}" --out "$work/learned" > "$work/learned.log"
$pldr export-g "$work/learned/checkpoint" --out "$work/g-learned.safetensors"
$pldr train "${common[@]}" --out "$work/transferred" --variant v510G --g-init "$work/g-learned.safetensors" > "$work/transferred.log"
$pldr train "${common[@]}" --out "$work/identity" --variant v510G --g-init identity > "$work/identity.log"
$pldr train "${common[@]}" --out "$work/random" --variant v510G --g-init random > "$work/random.log"
