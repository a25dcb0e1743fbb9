#include "server/service/grpc_status.h"

#include <string>

namespace hpo::service {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, CallGuard* guard,
                                 const google::protobuf::Message& request, std::string* scope) {
  if (guard == nullptr) return nullptr;
  absl::StatusOr<std::string> allowed = guard->Check(*context, request);
  if (allowed.ok()) {
    if (scope != nullptr) *scope = *std::move(allowed);
    return nullptr;
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(allowed.status()));
  return reactor;
}

}  // namespace hpo::service
