// File: server/service/grpc_status.h
//
// absl::Status -> grpc::Status, the only place the server converts. The codes are numerically
// identical; the message is copied, cut to kMaxStatusMessageBytes: gRPC clients refuse status
// messages over their metadata limit (8 KB by default) and would see RESOURCE_EXHAUSTED instead
// of the real code.
#ifndef HPO_SERVER_SERVICE_GRPC_STATUS_H_
#define HPO_SERVER_SERVICE_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/status.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace hpo::service {

inline constexpr size_t kMaxStatusMessageBytes = 1024;

grpc::Status ToGrpcStatus(const absl::Status& status);

// The authorization hook of the gRPC adapters (implemented by auth::GrpcGuard): every request of
// every RPC is passed to Check before it is served.
class CallGuard {
 public:
  virtual ~CallGuard() = default;
  // OK with the caller's project scope ("" for every project), or the status that fails the call.
  virtual absl::StatusOr<std::string> Check(const grpc::CallbackServerContext& context,
                                            const google::protobuf::Message& request) = 0;
};

// Asks `guard` (none: allowed) about `request`. Refused: finishes the call with the guard's
// status and returns its reactor. Allowed: returns nullptr and sets `*scope` if given.
grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, CallGuard* guard,
                                 const google::protobuf::Message& request,
                                 std::string* scope = nullptr);

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
