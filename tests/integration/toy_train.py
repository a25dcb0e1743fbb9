#!/usr/bin/python3
"""A small training program for hpo-worker's command mode, used by the integration tests.

Reads its assignment from HPO_PARAM_* variables, prints one HPO_CHECKPOINT line per step
(score = x at every step, so a threshold pruner decides at the first step), records each step it
reached in $TOY_MARKER_DIR/<suggestion>.steps, and ends according to the `behavior` parameter:
ok (HPO_RESULT), fail (exit status 3 after printing a message), slow (like ok, 0.2 s a step) or
bad_result (an HPO_RESULT with a metric no experiment declares).
"""
import os
import sys
import time

x = float(os.environ["HPO_PARAM_x"])
behavior = os.environ.get("HPO_PARAM_behavior", "ok")
steps = int(os.environ.get("HPO_MAX_STEPS", "5"))
delay = 0.2 if behavior == "slow" else 0.02
marker_dir = os.environ.get("TOY_MARKER_DIR")
marker = os.path.join(marker_dir, os.environ["HPO_SUGGESTION_ID"] + ".steps") if marker_dir else None

for step in range(1, steps + 1):
    if marker:
        with open(marker, "a") as f:
            f.write("%d\n" % step)
    print("HPO_CHECKPOINT step=%d score=%.6f train_loss=%.6f" % (step, x, 1.0 / step), flush=True)
    time.sleep(delay)

if behavior == "fail":
    # Programs may print any bytes: the failure reason that carries them must stay valid UTF-8.
    sys.stdout.buffer.write(b"toy_train: simulated crash \xff\xe2\x82\n")
    sys.stdout.flush()
    sys.exit(3)
if behavior == "bad_result":
    print("HPO_RESULT score=%.6f no_such_metric=1" % x, flush=True)
    sys.exit(0)
print("HPO_RESULT score=%.6f" % x, flush=True)
