"""hpo: the Python SDK of hpo-server.

    import hpo

    client = hpo.Client()          # $HPO_SERVER, $HPO_TOKEN, $HPO_TLS_CA, $HPO_TLS_CERT/KEY
    experiment = client.create_experiment("deploy/examples/branin.json")
    suggestion = client.create_suggestion(experiment.id)
    client.create_observation(experiment.id, suggestion.id, {"branin": 1.25})

    client.worker(experiment.id).run(objective)    # a worker written in Python

Client (hpo.client) makes the calls; Worker and Trial (hpo.worker) lease trials and report
learning curves; hpo.errors has one exception class per status code; hpo.spec reads spec files
as hpo-cli does; hpo.v1 holds the protobuf messages and gRPC stubs generated from proto/hpo/v1.
"""

from hpo.client import DEFAULT_SERVER, Client, metric_values, to_assignment, to_dict
from hpo.errors import (AbortedError, AlreadyExistsError, CancelledError, DataLossError,
                        DeadlineExceededError, FailedPreconditionError, HpoError, InternalError,
                        InvalidArgumentError, NotFoundError, OutOfRangeError,
                        PermissionDeniedError, ResourceExhaustedError, SpecError,
                        UnauthenticatedError, UnavailableError, UnimplementedError, UnknownError)
from hpo.spec import experiment_from_dict, load_experiment
from hpo.worker import Decision, Trial, TrialPruned, Worker

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SERVER", "Client", "Worker", "Trial", "Decision", "TrialPruned", "to_dict",
    "to_assignment", "metric_values", "experiment_from_dict", "load_experiment", "HpoError",
    "SpecError", "AbortedError", "AlreadyExistsError", "CancelledError", "DataLossError",
    "DeadlineExceededError", "FailedPreconditionError", "InternalError", "InvalidArgumentError",
    "NotFoundError", "OutOfRangeError", "PermissionDeniedError", "ResourceExhaustedError",
    "UnauthenticatedError", "UnavailableError", "UnimplementedError", "UnknownError",
]
