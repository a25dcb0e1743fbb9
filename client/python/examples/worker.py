import sys

import hpo


def objective(trial):
    loss = 1.0
    for step in range(1, 21):
        loss = loss * (1.0 - trial.params["lr"]) + 0.01  # one epoch of training
        if trial.report(step, {"loss": loss}).stop:  # the server's pruner stopped it
            break
    return {"loss": loss}


client = hpo.Client()  # a worker token in $HPO_TOKEN: it may lease and report, nothing else
worker = client.worker(int(sys.argv[1]), name="python-worker")
print(worker.run(objective))  # e.g. {"completed": 4, "pruned": 8, "failed": 0}: the budget is spent
