#include "server/service/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace hpo::service {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  absl::string_view message = status.message();
  if (message.size() <= kMaxStatusMessageBytes) {
    return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(message));
  }
  size_t n = kMaxStatusMessageBytes;
  while (n > 0 && (static_cast<unsigned char>(message[n]) & 0xC0) == 0x80) --n;  // UTF-8 boundary
  return grpc::Status(
      static_cast<grpc::StatusCode>(status.code()),
      absl::StrCat(message.substr(0, n), "... (truncated from ", message.size(), " bytes)"));
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
