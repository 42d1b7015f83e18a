#!/usr/bin/env bash
# The whole attention space on BBC News, 1 epoch each: every encoder × score × alignment × query, hard
# attention with both estimators, multi-head, structured self-attention and the no-attention baselines.
# Four Hydra multiruns (basic launcher: one process, jobs one after another), then one table:
#   benchmarks/attention_space_sweep.sh [OUT_DIR]      (default logs/attention_space)
# Keys of the attention group are set with choice(...): Hydra applies plain overrides to the config
# before the sweep picks the group, when it is still attention=none, which has no such keys.
# Sizes are cut so the ~200 runs finish in well under an hour on 2 CPU cores.
set -euo pipefail
OUT=${1:-logs/attention_space}
BIN=${BIN:-.venv/bin}
COMMON=(task_name=attention_space trainer=cpu trainer.max_epochs=1 +trainer.enable_progress_bar=false
        logger=csv callbacks=none data.max_length=200 model.embedding_dim=64 torch_threads=2)
ENCODERS=encoder=bilstm,conv1d
started=$(date +%s)
"$BIN/attnbench-train" -m "${COMMON[@]}" $ENCODERS attention=additive,dot,scaled_dot,general,cosine,location \
  attention.alignment=soft,local_m,local_p,hard attention.query=learned,last,self 'attention.hidden_size=choice(64)' \
  hydra.sweep.dir="$OUT/grid" || true
"$BIN/attnbench-train" -m "${COMMON[@]}" $ENCODERS attention=additive,dot,scaled_dot,general,cosine,location \
  'attention.alignment=choice(hard)' 'attention.hard_estimator=choice(reinforce)' attention.query=learned,last,self \
  'attention.hidden_size=choice(64)' hydra.sweep.dir="$OUT/reinforce" || true
"$BIN/attnbench-train" -m "${COMMON[@]}" $ENCODERS attention=multihead attention.query=learned,last,self \
  'attention.hidden_size=choice(64)' hydra.sweep.dir="$OUT/multihead" || true
"$BIN/attnbench-train" -m "${COMMON[@]}" $ENCODERS attention=structured 'attention.hidden_size=choice(64)' \
  hydra.sweep.dir="$OUT/structured" || true
"$BIN/attnbench-train" -m "${COMMON[@]}" $ENCODERS attention=none pooling=last,mean,max \
  hydra.sweep.dir="$OUT/none" || true
echo "sweep wall time: $(( $(date +%s) - started )) s"
"$BIN/python" benchmarks/attention_space_table.py "$OUT"
