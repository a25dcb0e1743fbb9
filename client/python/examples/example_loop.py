#!/usr/bin/python3
"""Runs a complete optimization loop against hpo-server.

Creates an experiment over a small space (two doubles and one categorical), then repeats
suggest -> evaluate -> observe until the observation budget is spent, and prints the best
assignment. The function is Branin-Hoo (global minimum 0.397887), plus an L2 penalty when the
categorical `penalty` is "l2", so "none" is the better choice.

    /usr/bin/python3 example_loop.py --server 127.0.0.1:50051 --budget 20

with the hpo package importable (python3-hpo, pip install client/python, or build/python of a
build on PYTHONPATH). A token and TLS come from $HPO_TOKEN, $HPO_TLS_CA, ... as for hpo-cli.

Exit codes: 0 success, 1 an RPC failed (printed as "error: CODE: message"), 2 bad arguments.
"""

import argparse
import math
import os
import sys
import time

import hpo
from hpo.v1 import experiment_pb2, search_space_pb2


def branin(x1, x2):
    a, b, c = 1.0, 5.1 / (4 * math.pi ** 2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1 ** 2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def evaluate(assignment):
    """The known test function: what a training run would be in real use."""
    value = branin(assignment["x1"], assignment["x2"])
    if assignment.get("penalty") == "l2":
        value += 0.01 * (assignment["x1"] ** 2 + assignment["x2"] ** 2)
    return value


def build_experiment(name, project, budget, algorithm, seed):
    experiment = experiment_pb2.Experiment(
        name=name, project=project, observation_budget=budget, parallel_bandwidth=1,
        metadata={"source": "client/python/examples/example_loop.py"})
    space = experiment.search_space
    space.parameters.add(name="x1", type=search_space_pb2.PARAMETER_TYPE_DOUBLE,
                         bounds=search_space_pb2.Bounds(min=-5.0, max=10.0))
    space.parameters.add(name="x2", type=search_space_pb2.PARAMETER_TYPE_DOUBLE,
                         bounds=search_space_pb2.Bounds(min=0.0, max=15.0))
    space.parameters.add(name="penalty", type=search_space_pb2.PARAMETER_TYPE_CATEGORICAL,
                         categorical_values=["none", "l2"])
    experiment.metrics.add(name="branin", objective=experiment_pb2.OBJECTIVE_MINIMIZE,
                           strategy=experiment_pb2.METRIC_STRATEGY_OPTIMIZE)
    if algorithm:
        experiment.optimizer.algorithm = algorithm
    experiment.optimizer.seed = seed
    return experiment


def format_assignment(values):
    return ", ".join(f"{name}={values[name]:.6g}" if isinstance(values[name], float)
                     else f"{name}={values[name]}" for name in sorted(values))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("HPO_SERVER", "127.0.0.1:50051"),
                        help="hpo-server address (default $HPO_SERVER or 127.0.0.1:50051)")
    parser.add_argument("--budget", type=int, default=20, help="observation budget (20)")
    parser.add_argument("--name", default=None,
                        help="experiment name (default: unique per run)")
    parser.add_argument("--project", default="examples")
    parser.add_argument("--algorithm", default="",
                        help="optimizer algorithm, e.g. random (default: the server's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline per call (s)")
    parser.add_argument("--wait", type=float, default=10.0,
                        help="seconds to wait for the server to come up (10)")
    args = parser.parse_args(argv)
    if args.budget <= 0:
        parser.error("--budget must be positive")
    name = args.name or f"branin-example-{os.getpid()}-{int(time.time() * 1000)}"

    with hpo.Client(args.server, timeout=args.timeout) as client:
        try:
            client.wait_for_server(args.wait)
            experiment = client.create_experiment(
                build_experiment(name, args.project, args.budget, args.algorithm, args.seed))
            print(f"created experiment {experiment.id} ({experiment.project}/{experiment.name})")
            for step in range(1, args.budget + 1):
                suggestion = client.create_suggestion(experiment.id)
                values = hpo.to_dict(suggestion.assignment)
                result = evaluate(values)
                client.create_observation(experiment.id, suggestion.id, {"branin": result})
                print(f"[{step}/{args.budget}] suggestion {suggestion.id}: "
                      f"{format_assignment(values)} -> branin={result:.6g}")

            best = client.best_assignments(experiment.id)
            if not best:
                print("error: no best observation after the loop", file=sys.stderr)
                return 1
            winner = best[0]
            value = next(v.value for v in winner.values if v.name == "branin")
            print(f"best: {format_assignment(hpo.to_dict(winner.assignment))} "
                  f"-> branin={value:.6g} (observation {winner.id}, "
                  f"suggestion {winner.suggestion_id})")
            state = client.get_experiment(experiment.id).state
            print(f"experiment state: {experiment_pb2.ExperimentState.Name(state)}")
        except hpo.HpoError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
