#!/usr/bin/env python3
"""A stand-in for DLRM training used by the quick-start demo until the embedded trainer lands.

Reads a suggestion (hpo-cli --json output) on stdin and prints the hpo-cli `observe` arguments:
either metric values (`auc=... train_seconds=...`) or `--failed --reason ...` when the learning
rate is too high for the warmup (the divergence real DLRM runs show). The response surface is
shaped like the DLRM tuning story: split-SGD wants a large learning rate with warmup, LAMB a small
one; decay late in the run helps; the best reachable AUC is just above the MLPerf target 0.8025.
"""
import json
import math
import random
import sys

suggestion = json.load(sys.stdin)["suggestion"]
values = suggestion["assignment"]["values"]


def get(name, default=None):
    v = values.get(name)
    if v is None:
        return default
    for key in ("number_value", "int_value", "string_value"):
        if key in v:
            return float(v[key]) if key != "string_value" else v[key]
    return default


optimizer = get("optimizer", "sgd")
lr = get("learning_rate", 1.0)
warmup = get("warmup_steps", 0.0)
decay_start = get("decay_start_step", 32000.0)
decay_steps = get("decay_steps", 16000.0)
rng = random.Random(int(suggestion["id"]))

best_lr = 4.0 if optimizer == "sgd" else 0.05
stability = (12.0 if optimizer == "sgd" else 0.6) * (1 + warmup / 2000.0)
if lr > stability:
    print("--failed --reason 'loss diverged to NaN at step %d'" % rng.randint(200, 3000))
    sys.exit(0)

auc = 0.8034
auc -= 0.0030 * (math.log10(lr / best_lr)) ** 2
auc -= 0.0004 * abs(warmup - 2500.0) / 2500.0
decay_end = decay_start + decay_steps
auc -= 0.0006 * max(0.0, 1 - decay_steps / 20000.0) + 0.0004 * abs(decay_end - 60000.0) / 60000.0
if optimizer == "sgd":
    auc -= 0.0005 * get("momentum", 0.0)
else:
    auc -= 0.0008 * abs(get("lamb_beta1", 0.9) - 0.92) / 0.1
    auc -= 0.0003 * abs(math.log10(get("lamb_weight_decay", 0.01) / 0.001))
auc += rng.gauss(0, 0.0002)
seconds = (540.0 if optimizer == "sgd" else 620.0) * (1 + rng.gauss(0, 0.03))
print("auc=%.5f train_seconds=%.1f" % (auc, seconds))
