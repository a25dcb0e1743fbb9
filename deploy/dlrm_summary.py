#!/usr/bin/python3
"""Summarizes a DLRM tuning experiment run by hpo-worker (used by deploy/quickstart.sh).

Reads `hpo-cli --json` output for the experiment, its observations and its suggestions, and
prints: trials completed / pruned / failed, the best AUC and its assignment, the Bayes-optimal AUC
of the synthetic data (reported by the trainer), and the training steps that pruning saved
compared with running every trial to its full step budget.

Usage: dlrm_summary.py HPO_CLI EXPERIMENT_ID
"""
import json
import subprocess
import sys


def cli(hpo_cli, *args):
    out = subprocess.run([hpo_cli, "--json"] + list(args), check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out) if out.strip() else {}


def main():
    hpo_cli, experiment_id = sys.argv[1], sys.argv[2]
    experiment = cli(hpo_cli, "get", experiment_id)["experiment"]
    observations = cli(hpo_cli, "observations", experiment_id).get("observations", [])
    suggestions = cli(hpo_cli, "suggestions", experiment_id).get("suggestions", [])
    max_steps = int(experiment.get("training", {}).get("max_steps", 0) or 0)
    states = {}
    for s in suggestions:
        states[s["state"]] = states.get(s["state"], 0) + 1
    completed = states.get("SUGGESTION_STATE_COMPLETED", 0)
    pruned = states.get("SUGGESTION_STATE_PRUNED", 0)
    failed = states.get("SUGGESTION_STATE_FAILED", 0)

    steps_used = 0
    bayes = None
    best = None
    for o in observations:
        meta = o.get("metadata", {})
        steps_used += int(meta.get("steps", max_steps))
        if "bayes_auc" in meta:
            bayes = float(meta["bayes_auc"])
        if o.get("failed"):
            continue
        auc = {v["name"]: v["value"] for v in o.get("values", [])}.get("auc")
        if auc is not None and (best is None or auc > best[0]):
            best = (auc, o)
    full = max_steps * len(observations)

    print("trials: %d observed (%d completed, %d pruned, %d failed)"
          % (len(observations), completed, pruned, failed))
    if best is not None:
        auc, o = best
        values = o["assignment"]["values"]
        shown = ", ".join("%s=%s" % (k, list(v.values())[0]) for k, v in sorted(values.items()))
        print("best AUC: %.5f (suggestion %s: %s)" % (auc, o.get("suggestion_id"), shown))
        if bayes is not None:
            print("Bayes-optimal AUC of the synthetic data: %.5f (gap %.5f)" % (bayes, bayes - auc))
    if full > 0:
        print("training steps: %d used of %d without pruning (%.1fx fewer, %.0f%% saved)"
              % (steps_used, full, full / max(steps_used, 1), 100.0 * (1 - steps_used / full)))
    for s in suggestions:
        if s.get("stop_reason"):
            print("  suggestion %s stopped at step %s: %s"
                  % (s["id"], s.get("stop_step", "?"), s["stop_reason"]))


if __name__ == "__main__":
    main()
