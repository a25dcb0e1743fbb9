"""A small Python client for hpo-server, over the generated gRPC stubs.

The stubs come from proto/hpo/v1/*.proto; generate them once with

    client/python/gen_stubs.sh OUTDIR

and put OUTDIR on PYTHONPATH. If they cannot be imported, this module generates them into a
temporary directory with the same script (needs protoc and grpc_python_plugin); set
HPO_STUBS_AUTOGEN=0 to forbid that.

    client = HpoClient("127.0.0.1:50051")
    experiment = client.create_experiment(spec)          # an hpo.v1.Experiment
    suggestion = client.create_suggestion(experiment.id)
    values = assignment_to_dict(suggestion.assignment)    # {"x1": 0.3, "penalty": "none"}
    client.create_observation(experiment.id, suggestion_id=suggestion.id, values={"loss": 1.5})

Errors are grpc.RpcError, with .code() and .details() as the server sent them. The list_*
methods return every item: they follow the server's pages (next_page_token), one call per page.
"""

import os
import subprocess
import sys
import tempfile

import grpc


def _import_stubs():
    try:
        from hpo.v1 import experiment_pb2, search_space_pb2  # noqa: F401
        from hpo.v1 import experiment_service_pb2, experiment_service_pb2_grpc
        from hpo.v1 import trial_service_pb2, trial_service_pb2_grpc
    except ImportError:
        if os.environ.get("HPO_STUBS_AUTOGEN", "1") == "0":
            raise
        out = tempfile.mkdtemp(prefix="hpo-stubs-")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen_stubs.sh")
        subprocess.run(["sh", script, out], check=True)
        sys.path.insert(0, out)
        # A half-imported "hpo" package from elsewhere on the path would shadow the new one.
        for name in [n for n in sys.modules if n == "hpo" or n.startswith("hpo.")]:
            del sys.modules[name]
        from hpo.v1 import experiment_pb2, search_space_pb2  # noqa: F401
        from hpo.v1 import experiment_service_pb2, experiment_service_pb2_grpc
        from hpo.v1 import trial_service_pb2, trial_service_pb2_grpc
    return (experiment_pb2, search_space_pb2, experiment_service_pb2,
            experiment_service_pb2_grpc, trial_service_pb2, trial_service_pb2_grpc)


(experiment_pb2, search_space_pb2, experiment_service_pb2, experiment_service_pb2_grpc,
 trial_service_pb2, trial_service_pb2_grpc) = _import_stubs()

DEFAULT_SERVER = "127.0.0.1:50051"


def assignment_to_dict(assignment):
    """hpo.v1.Assignment -> {name: float | int | str}."""
    result = {}
    for name, value in assignment.values.items():
        kind = value.WhichOneof("kind")
        result[name] = getattr(value, kind) if kind else None
    return result


def dict_to_assignment(values, search_space=None):
    """{name: value} -> hpo.v1.Assignment.

    With a search space, each value is typed by its parameter (double -> number_value,
    int -> int_value, categorical and conditionals -> string_value); without one, by the Python
    type (float, int, str).
    """
    types = {}
    if search_space is not None:
        for parameter in search_space.parameters:
            types[parameter.name] = parameter.type
        for conditional in search_space.conditionals:
            types[conditional.name] = search_space_pb2.PARAMETER_TYPE_CATEGORICAL
    assignment = search_space_pb2.Assignment()
    for name, value in values.items():
        target = assignment.values[name]
        kind = types.get(name)
        if kind == search_space_pb2.PARAMETER_TYPE_DOUBLE:
            target.number_value = float(value)
        elif kind == search_space_pb2.PARAMETER_TYPE_INT:
            target.int_value = int(value)
        elif kind == search_space_pb2.PARAMETER_TYPE_CATEGORICAL:
            target.string_value = str(value)
        elif isinstance(value, bool) or isinstance(value, str):
            target.string_value = str(value)
        elif isinstance(value, int):
            target.int_value = value
        else:
            target.number_value = float(value)
    return assignment


def _all_pages(call, request, field, timeout):
    """Every item of a List call: `field` of each reply, following next_page_token."""
    items = []
    while True:
        response = call(request, timeout=timeout)
        items.extend(getattr(response, field))
        if not response.next_page_token:
            return items
        # A server that hands back the token it was given would keep us here forever.
        if response.next_page_token == request.page_token:
            raise RuntimeError("server returned the same page_token again")
        request.page_token = response.next_page_token


class HpoClient:
    """ExperimentService and TrialService stubs with a deadline on every call."""

    def __init__(self, address=None, timeout=30.0):
        self.address = address or os.environ.get("HPO_SERVER") or DEFAULT_SERVER
        self.timeout = timeout
        # Insecure channel: the server listens on loopback or a private network.
        self.channel = grpc.insecure_channel(self.address)
        self.experiments = experiment_service_pb2_grpc.ExperimentServiceStub(self.channel)
        self.trials = trial_service_pb2_grpc.TrialServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait_for_server(self, seconds):
        """Blocks until the channel is ready; raises grpc.FutureTimeoutError after `seconds`."""
        grpc.channel_ready_future(self.channel).result(timeout=seconds)

    # ---- ExperimentService ------------------------------------------------------------------

    def create_experiment(self, experiment):
        request = experiment_service_pb2.CreateExperimentRequest(experiment=experiment)
        return self.experiments.CreateExperiment(request, timeout=self.timeout).experiment

    def get_experiment(self, experiment_id):
        request = experiment_service_pb2.GetExperimentRequest(experiment_id=experiment_id)
        return self.experiments.GetExperiment(request, timeout=self.timeout).experiment

    def list_experiments(self, project="", states=()):
        request = experiment_service_pb2.ListExperimentsRequest(project=project,
                                                                states=list(states))
        return _all_pages(self.experiments.ListExperiments, request, "experiments", self.timeout)

    def set_experiment_state(self, experiment_id, state):
        request = experiment_service_pb2.SetExperimentStateRequest(experiment_id=experiment_id,
                                                                   state=state)
        return self.experiments.SetExperimentState(request, timeout=self.timeout).experiment

    def create_suggestion(self, experiment_id, metadata=None):
        request = experiment_service_pb2.CreateSuggestionRequest(experiment_id=experiment_id,
                                                                 metadata=metadata or {})
        return self.experiments.CreateSuggestion(request, timeout=self.timeout).suggestion

    def queue_suggestion(self, experiment_id, assignment, metadata=None):
        """`assignment` is an hpo.v1.Assignment or a dict (typed by the experiment's space)."""
        if isinstance(assignment, dict):
            space = self.get_experiment(experiment_id).search_space
            assignment = dict_to_assignment(assignment, space)
        request = experiment_service_pb2.QueueSuggestionRequest(
            experiment_id=experiment_id, assignment=assignment, metadata=metadata or {})
        return self.experiments.QueueSuggestion(request, timeout=self.timeout).suggestion

    def list_suggestions(self, experiment_id, states=()):
        request = experiment_service_pb2.ListSuggestionsRequest(experiment_id=experiment_id,
                                                                states=list(states))
        return _all_pages(self.experiments.ListSuggestions, request, "suggestions", self.timeout)

    def delete_suggestion(self, experiment_id, suggestion_id):
        request = experiment_service_pb2.DeleteSuggestionRequest(experiment_id=experiment_id,
                                                                 suggestion_id=suggestion_id)
        return self.experiments.DeleteSuggestion(request, timeout=self.timeout).suggestion

    def create_observation(self, experiment_id, suggestion_id=0, values=None, failed=False,
                           failure_reason="", assignment=None, metadata=None):
        """Reports a result.

        `values` maps a metric name to a value or to a (value, stddev) pair. Give
        `suggestion_id`, or `assignment` (an hpo.v1.Assignment) for a point evaluated outside
        the service.
        """
        request = experiment_service_pb2.CreateObservationRequest(
            experiment_id=experiment_id, suggestion_id=suggestion_id, failed=failed,
            failure_reason=failure_reason, metadata=metadata or {})
        if assignment is not None:
            request.assignment.CopyFrom(assignment)
        for name, value in (values or {}).items():
            metric = request.values.add(name=name)
            if isinstance(value, (tuple, list)):
                metric.value, metric.stddev = float(value[0]), float(value[1])
            else:
                metric.value = float(value)
        return self.experiments.CreateObservation(request, timeout=self.timeout).observation

    def list_observations(self, experiment_id):
        request = experiment_service_pb2.ListObservationsRequest(experiment_id=experiment_id)
        return _all_pages(self.experiments.ListObservations, request, "observations",
                          self.timeout)

    def best_assignments(self, experiment_id):
        request = experiment_service_pb2.GetBestAssignmentsRequest(experiment_id=experiment_id)
        return list(self.experiments.GetBestAssignments(request,
                                                        timeout=self.timeout).observations)

    def list_checkpoints(self, experiment_id, suggestion_id):
        request = experiment_service_pb2.ListCheckpointsRequest(experiment_id=experiment_id,
                                                                suggestion_id=suggestion_id)
        return _all_pages(self.experiments.ListCheckpoints, request, "checkpoints", self.timeout)
