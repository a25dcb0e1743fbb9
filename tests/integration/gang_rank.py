#!/usr/bin/python3
"""A torch-free stand-in for one rank of a distributed trial (tests/integration/gang_test.py).

Every rank appends "start <suggestion> <rank> <world_size> <master> <GANG_NAME>" to
$GANG_MARKERS/starts.log, then runs $GANG_STEPS steps of $GANG_STEP_SECONDS; only rank 0 prints
HPO_CHECKPOINT and HPO_RESULT lines (score = HPO_PARAM_x).
"""
import os
import sys
import time

rank = int(os.environ["HPO_RANK"])
world = int(os.environ["HPO_WORLD_SIZE"])
master = "%s:%s" % (os.environ["HPO_MASTER_ADDR"], os.environ["HPO_MASTER_PORT"])
suggestion = os.environ["HPO_SUGGESTION_ID"]
with open(os.path.join(os.environ["GANG_MARKERS"], "starts.log"), "a") as f:
    f.write("start %s %d %d %s %s\n" % (suggestion, rank, world, master,
                                        os.environ.get("GANG_NAME", "?")))
print("rank %d of %d, rendezvous %s" % (rank, world, master), flush=True)
x = float(os.environ["HPO_PARAM_x"])
steps = int(os.environ.get("GANG_STEPS", "3"))
for step in range(1, steps + 1):
    time.sleep(float(os.environ.get("GANG_STEP_SECONDS", "0.1")))
    if rank == 0:
        print("HPO_CHECKPOINT step=%d score=%.6f" % (step, x), flush=True)
if rank == 0:
    print("HPO_RESULT score=%.6f" % x, flush=True)
sys.exit(0)
