import time

import hpo

client = hpo.Client()  # $HPO_SERVER, $HPO_TOKEN, $HPO_TLS_CA (+ $HPO_TLS_CERT/KEY), as hpo-cli
experiment = client.create_experiment({
    "name": "quadratic-" + time.strftime("%Y%m%d-%H%M%S"),
    "project": "dlrm",
    "search_space": {"parameters": [
        {"name": "x", "type": "double", "bounds": {"min": -2, "max": 2}},
        {"name": "optimizer", "type": "categorical", "categorical_values": ["sgd", "lamb"]}]},
    "metrics": [{"name": "loss", "objective": "minimize"}],
    "observation_budget": 12,
})
for _ in range(experiment.observation_budget):
    suggestion = client.create_suggestion(experiment.id)
    params = hpo.to_dict(suggestion.assignment)  # {"x": 0.73, "optimizer": "lamb"}
    loss = (params["x"] - 0.5) ** 2 + (0.1 if params["optimizer"] == "sgd" else 0.0)
    client.create_observation(experiment.id, suggestion.id, {"loss": loss})

best = client.best_assignments(experiment.id)[0]
print(f"experiment {experiment.id}: best loss {best.values[0].value:.4f} at",
      hpo.to_dict(best.assignment))
