"""Client: one connection to hpo-server, with the same settings as hpo-cli.

    client = hpo.Client()                       # $HPO_SERVER, $HPO_TOKEN, $HPO_TLS_CA, ...
    experiment = client.create_experiment("deploy/examples/branin.json")
    suggestion = client.create_suggestion(experiment.id)
    params = hpo.to_dict(suggestion.assignment)
    client.create_observation(experiment.id, suggestion.id, {"branin": 1.25})

Every call has a deadline (`timeout`), carries the token, and is retried with backoff while the
server answers UNAVAILABLE (not started yet, restarting, a dropped connection). Results are the
hpo.v1 protobuf messages; failures raise the hpo.errors class of the status code.
"""

import logging
import os
import time

import grpc

from hpo import errors, spec
from hpo.v1 import admin_service_pb2, admin_service_pb2_grpc
from hpo.v1 import experiment_pb2, experiment_service_pb2, experiment_service_pb2_grpc
from hpo.v1 import search_space_pb2, trial_service_pb2_grpc

DEFAULT_SERVER = "127.0.0.1:50051"

_log = logging.getLogger("hpo")


def _env(name):
    value = os.environ.get(name)
    return value if value else None


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise errors.InvalidArgumentError(f"{what}: cannot read {path}: {error.strerror}") from None


def to_dict(assignment):
    """hpo.v1.Assignment -> {name: float | int | str}."""
    result = {}
    for name, value in assignment.values.items():
        kind = value.WhichOneof("kind")
        result[name] = getattr(value, kind) if kind else None
    return result


def to_assignment(values, search_space=None):
    """{name: value} -> hpo.v1.Assignment.

    With a search space each value takes its parameter's type (double, int, categorical;
    conditionals are categorical); without one, the Python type decides (float, int, str).
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
        elif kind == search_space_pb2.PARAMETER_TYPE_CATEGORICAL or isinstance(value, (bool, str)):
            target.string_value = str(value)
        elif isinstance(value, int):
            target.int_value = value
        else:
            target.number_value = float(value)
    return assignment


def metric_values(values):
    """{name: value | (value, stddev)} -> [hpo.v1.MetricValue]."""
    result = []
    for name, value in (values or {}).items():
        metric = experiment_pb2.MetricValue(name=name)
        if isinstance(value, (tuple, list)):
            metric.value, metric.stddev = float(value[0]), float(value[1])
        else:
            metric.value = float(value)
        result.append(metric)
    return result


_STATES = {
    "active": experiment_pb2.EXPERIMENT_STATE_ACTIVE,
    "paused": experiment_pb2.EXPERIMENT_STATE_PAUSED,
    "completed": experiment_pb2.EXPERIMENT_STATE_COMPLETED,
    "archived": experiment_pb2.EXPERIMENT_STATE_ARCHIVED,
}

_ROLES = {
    "admin": admin_service_pb2.ROLE_ADMIN,
    "user": admin_service_pb2.ROLE_USER,
    "worker": admin_service_pb2.ROLE_WORKER,
    "read_only": admin_service_pb2.ROLE_READ_ONLY,
}


class Client:
    """A connection to hpo-server. Thread-safe; close it (or use `with`) when done.

    Every argument left as None takes hpo-cli's environment variable:
      server    HOST:PORT ($HPO_SERVER, else 127.0.0.1:50051)
      token     API token of a server run with --auth ($HPO_TOKEN)
      tls_ca    PEM file of the CA that signed the server's certificate ($HPO_TLS_CA)
      tls_cert, tls_key
                client certificate and key for mutual TLS ($HPO_TLS_CERT, $HPO_TLS_KEY)
    TLS is used when tls_ca or tls_cert is given (as hpo-cli does), or with tls=True (the
    system's CA roots). tls_server_name checks the server's certificate for that name instead of
    the host of `server` (an address the certificate does not list). timeout is each call's
    deadline in seconds; retries is how many times a call answered UNAVAILABLE is tried again,
    waiting 0.2 s, 0.4 s, ... (at most 5 s) in between.
    """

    def __init__(self, server=None, *, token=None, tls_ca=None, tls_cert=None, tls_key=None,
                 tls=None, tls_server_name=None, timeout=30.0, retries=5):
        self.server = server or _env("HPO_SERVER") or DEFAULT_SERVER
        token = token if token is not None else _env("HPO_TOKEN")
        tls_ca = tls_ca if tls_ca is not None else _env("HPO_TLS_CA")
        tls_cert = tls_cert if tls_cert is not None else _env("HPO_TLS_CERT")
        tls_key = tls_key if tls_key is not None else _env("HPO_TLS_KEY")
        if bool(tls_cert) != bool(tls_key):
            raise errors.InvalidArgumentError("tls_cert and tls_key go together (mutual TLS)")
        if timeout <= 0:
            raise errors.InvalidArgumentError(f"timeout must be positive, got {timeout}")
        self.timeout = float(timeout)
        self.retries = int(retries)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        if tls is None:
            tls = bool(tls_ca or tls_cert)
        options = []
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        if tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(tls_ca, "tls_ca") if tls_ca else None,
                private_key=_read(tls_key, "tls_key") if tls_key else None,
                certificate_chain=_read(tls_cert, "tls_cert") if tls_cert else None)
            self.channel = grpc.secure_channel(self.server, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(self.server, options=options)
        self.tls = bool(tls)
        self._experiments = experiment_service_pb2_grpc.ExperimentServiceStub(self.channel)
        self._trials = trial_service_pb2_grpc.TrialServiceStub(self.channel)
        self._admin = admin_service_pb2_grpc.AdminServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"hpo.Client({self.server!r}, tls={self.tls}, "
                f"token={'set' if self._metadata else 'none'})")

    # ---- plumbing ----------------------------------------------------------------------------

    def _call(self, method, request, retries=None):
        """One unary call with deadline and token; UNAVAILABLE is retried with backoff."""
        retries = self.retries if retries is None else retries
        delay = 0.2
        for attempt in range(retries + 1):
            try:
                return method(request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == retries:
                    raise errors.from_rpc_error(error) from None
                _log.debug("%s: UNAVAILABLE (%s); retry %d of %d in %.1f s", self.server,
                           error.details(), attempt + 1, retries, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _pages(self, method, request, field):
        """Every item of a paged List call: follows next_page_token to the last page."""
        items = []
        while True:
            response = self._call(method, request)
            items.extend(getattr(response, field))
            if not response.next_page_token:
                return items
            if response.next_page_token == request.page_token:
                raise errors.InternalError("the server returned the same page_token again")
            request.page_token = response.next_page_token

    def wait_for_server(self, seconds):
        """Blocks until the channel connects; raises UnavailableError after `seconds`."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=seconds)
        except grpc.FutureTimeoutError:
            raise errors.UnavailableError(
                f"no server at {self.server} after {seconds:g} s") from None

    # ---- experiments -------------------------------------------------------------------------

    def create_experiment(self, experiment):
        """Creates an experiment from an hpo.v1.Experiment, a dict in the spec format of
        hpo-cli (hpo.spec), or the path of a YAML or JSON spec file. Returns the stored
        experiment (with its id)."""
        if isinstance(experiment, (str, os.PathLike)):
            experiment = spec.load_experiment(experiment)
        elif isinstance(experiment, dict):
            experiment = spec.experiment_from_dict(experiment)
        request = experiment_service_pb2.CreateExperimentRequest(experiment=experiment)
        return self._call(self._experiments.CreateExperiment, request).experiment

    def get_experiment(self, experiment_id):
        request = experiment_service_pb2.GetExperimentRequest(experiment_id=experiment_id)
        return self._call(self._experiments.GetExperiment, request).experiment

    def list_experiments(self, project="", states=()):
        """Experiments of `project` (all the token may see when empty); `states` are names
        ("active", "paused", ...) or ExperimentState values (default: the server's)."""
        request = experiment_service_pb2.ListExperimentsRequest(
            project=project, states=[_STATES.get(s, s) for s in states])
        return self._pages(self._experiments.ListExperiments, request, "experiments")

    def set_experiment_state(self, experiment_id, state):
        """`state`: "active", "paused", "completed", "archived" or an ExperimentState value."""
        request = experiment_service_pb2.SetExperimentStateRequest(
            experiment_id=experiment_id, state=_STATES.get(state, state))
        return self._call(self._experiments.SetExperimentState, request).experiment

    def pause(self, experiment_id):
        return self.set_experiment_state(experiment_id, "paused")

    def resume(self, experiment_id):
        return self.set_experiment_state(experiment_id, "active")

    def archive(self, experiment_id):
        return self.set_experiment_state(experiment_id, "archived")

    # ---- suggestions -------------------------------------------------------------------------

    def create_suggestion(self, experiment_id, metadata=None):
        """The next assignment to evaluate (hpo.v1.Suggestion; hpo.to_dict(s.assignment))."""
        request = experiment_service_pb2.CreateSuggestionRequest(experiment_id=experiment_id,
                                                                 metadata=metadata or {})
        return self._call(self._experiments.CreateSuggestion, request).suggestion

    def queue_suggestion(self, experiment_id, assignment, metadata=None):
        """Queues an assignment to be suggested first: an hpo.v1.Assignment or a dict, typed by
        the experiment's search space."""
        if isinstance(assignment, dict):
            space = self.get_experiment(experiment_id).search_space
            assignment = to_assignment(assignment, space)
        request = experiment_service_pb2.QueueSuggestionRequest(
            experiment_id=experiment_id, assignment=assignment, metadata=metadata or {})
        return self._call(self._experiments.QueueSuggestion, request).suggestion

    def list_suggestions(self, experiment_id, states=()):
        request = experiment_service_pb2.ListSuggestionsRequest(experiment_id=experiment_id,
                                                                states=list(states))
        return self._pages(self._experiments.ListSuggestions, request, "suggestions")

    def delete_suggestion(self, experiment_id, suggestion_id):
        request = experiment_service_pb2.DeleteSuggestionRequest(experiment_id=experiment_id,
                                                                 suggestion_id=suggestion_id)
        return self._call(self._experiments.DeleteSuggestion, request).suggestion

    # ---- observations ------------------------------------------------------------------------

    def create_observation(self, experiment_id, suggestion_id=0, values=None, *, failed=False,
                           failure_reason="", assignment=None, metadata=None):
        """Reports a result: `values` maps each metric to a value or a (value, stddev) pair.
        Give `suggestion_id`, or `assignment` (dict or hpo.v1.Assignment) for a point evaluated
        outside the service. A failed evaluation: failed=True, failure_reason="...".

        A retry after a lost reply cannot store the result twice: an observed suggestion is
        FAILED_PRECONDITION."""
        request = experiment_service_pb2.CreateObservationRequest(
            experiment_id=experiment_id, suggestion_id=suggestion_id, failed=failed,
            failure_reason=failure_reason, metadata=metadata or {}, values=metric_values(values))
        if assignment is not None:
            if isinstance(assignment, dict):
                space = self.get_experiment(experiment_id).search_space
                assignment = to_assignment(assignment, space)
            request.assignment.CopyFrom(assignment)
        return self._call(self._experiments.CreateObservation, request).observation

    def list_observations(self, experiment_id):
        request = experiment_service_pb2.ListObservationsRequest(experiment_id=experiment_id)
        return self._pages(self._experiments.ListObservations, request, "observations")

    def best_assignments(self, experiment_id):
        """The best observations: one, or the Pareto front of two optimized metrics."""
        request = experiment_service_pb2.GetBestAssignmentsRequest(experiment_id=experiment_id)
        return list(self._call(self._experiments.GetBestAssignments, request).observations)

    def list_checkpoints(self, experiment_id, suggestion_id):
        """A trial's learning curve (hpo.v1.Checkpoint, by step)."""
        request = experiment_service_pb2.ListCheckpointsRequest(experiment_id=experiment_id,
                                                                suggestion_id=suggestion_id)
        return self._pages(self._experiments.ListCheckpoints, request, "checkpoints")

    # ---- workers -----------------------------------------------------------------------------

    def worker(self, experiment_id=0, **kwargs):
        """A Python worker that leases this experiment's trials (any active experiment the
        token may run when 0): see hpo.Worker."""
        from hpo.worker import Worker  # the worker module imports this one
        return Worker(self, experiment_id, **kwargs)

    # ---- administration (admin tokens) -------------------------------------------------------

    def create_token(self, name, role, project=""):
        """Returns (hpo.v1.ApiToken, secret); the secret is shown only here. `role`: "admin",
        "user", "worker" or "read_only"."""
        request = admin_service_pb2.CreateTokenRequest(name=name, role=_ROLES.get(role, role),
                                                       project=project)
        response = self._call(self._admin.CreateToken, request)
        return response.token, response.secret

    def list_tokens(self):
        return list(self._call(self._admin.ListTokens,
                               admin_service_pb2.ListTokensRequest()).tokens)

    def revoke_token(self, token_id):
        request = admin_service_pb2.RevokeTokenRequest(token_id=token_id)
        return self._call(self._admin.RevokeToken, request).token

    def backup(self, path):
        """Online backup of the server's database to `path`, a new file on the server's host
        (within its --backup_dir when set). Returns the BackupDatabaseResponse (path, bytes)."""
        request = admin_service_pb2.BackupDatabaseRequest(path=path)
        return self._call(self._admin.BackupDatabase, request)
