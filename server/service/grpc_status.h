// File: server/service/grpc_status.h
//
// absl::Status -> grpc::Status, the only place the server converts. The codes are numerically
// identical; the message is copied.
#ifndef HPO_SERVER_SERVICE_GRPC_STATUS_H_
#define HPO_SERVER_SERVICE_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/status.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hpo::service {

grpc::Status ToGrpcStatus(const absl::Status& status);

// Finishes the default reactor of a unary call with `result`; on success `store` moves the value
// into the response first. The body of every unary handler of the gRPC adapters.
template <typename T, typename StoreFn>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      absl::StatusOr<T> result, StoreFn store) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) store(*std::move(result));
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_GRPC_STATUS_H_
