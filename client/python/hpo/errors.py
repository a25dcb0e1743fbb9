"""Typed errors: one class per gRPC status code the server answers with.

Every failed call raises a subclass of HpoError; catch the specific one you can handle:

    try:
        client.create_experiment(spec)
    except hpo.AlreadyExistsError:
        ...
    except hpo.InvalidArgumentError as error:
        print(error.details)          # names the field, e.g. "search_space.parameters[0]..."

The codes follow the server's rules (docs/design.md): INVALID_ARGUMENT for a bad spec or value,
NOT_FOUND for an unknown id, FAILED_PRECONDITION for a call the state forbids (suggest on a
completed experiment), UNAUTHENTICATED / PERMISSION_DENIED for tokens and project scope,
UNAVAILABLE when the server cannot be reached (the client retries those first).
"""

import grpc


class HpoError(Exception):
    """A call the server (or the channel) refused. `code` is a grpc.StatusCode, `details` the
    server's message."""

    code = grpc.StatusCode.UNKNOWN

    def __init__(self, details, code=None):
        super().__init__(details)
        self.details = details
        if code is not None:
            self.code = code

    def __str__(self):
        return f"{self.code.name}: {self.details}"


class SpecError(HpoError, ValueError):
    """An experiment spec (dict, YAML or JSON) that does not map onto hpo.v1.Experiment; raised
    before any call, with the path of the offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class CancelledError(HpoError):
    code = grpc.StatusCode.CANCELLED


class UnknownError(HpoError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgumentError(HpoError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(HpoError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFoundError(HpoError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(HpoError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(HpoError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(HpoError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(HpoError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AbortedError(HpoError):
    code = grpc.StatusCode.ABORTED


class OutOfRangeError(HpoError):
    code = grpc.StatusCode.OUT_OF_RANGE


class UnimplementedError(HpoError):
    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(HpoError):
    code = grpc.StatusCode.INTERNAL


class UnavailableError(HpoError):
    code = grpc.StatusCode.UNAVAILABLE


class DataLossError(HpoError):
    code = grpc.StatusCode.DATA_LOSS


class UnauthenticatedError(HpoError):
    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE = {cls.code: cls for cls in (
    CancelledError, UnknownError, InvalidArgumentError, DeadlineExceededError, NotFoundError,
    AlreadyExistsError, PermissionDeniedError, ResourceExhaustedError, FailedPreconditionError,
    AbortedError, OutOfRangeError, UnimplementedError, InternalError, UnavailableError,
    DataLossError, UnauthenticatedError)}


def from_rpc_error(error):
    """grpc.RpcError -> the HpoError subclass of its code (the RpcError as __cause__)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    cls = _BY_CODE.get(code, HpoError)
    result = cls(details or "", code)
    result.__cause__ = error
    return result
