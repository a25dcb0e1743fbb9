#include "server/auth/guards.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace hpo::auth {

absl::StatusOr<std::string> GrpcGuard::Check(const grpc::CallbackServerContext& context,
                                             const google::protobuf::Message& request) {
  std::string authorization;
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it != metadata.end()) authorization.assign(it->second.data(), it->second.size());
  HPO_ASSIGN_OR_RETURN(Principal principal, access_->Authenticate(authorization, context.peer()));
  HPO_RETURN_IF_ERROR(access_->Authorize(principal, request));
  return principal.project;
}

absl::StatusOr<std::string> DashboardGuard::Authorize(const dashboard::HttpRequestInfo& request) {
  if (!absl::StartsWith(request.path, "/api/")) return std::string();
  std::string authorization;
  const auto it = request.headers.find("authorization");
  if (it != request.headers.end()) authorization = it->second;
  // The page keeps its token in a same-site cookie: fetch and download links send it.
  if (authorization.empty()) {
    const auto cookie = request.headers.find("cookie");
    if (cookie != request.headers.end()) {
      for (absl::string_view part : absl::StrSplit(cookie->second, ';')) {
        part = absl::StripAsciiWhitespace(part);
        if (absl::ConsumePrefix(&part, "hpo_token=")) {
          authorization = absl::StrCat("Bearer ", part);
        }
      }
    }
  }
  HPO_ASSIGN_OR_RETURN(Principal principal,
                       access_->Authenticate(authorization, request.remote_addr));
  if (principal.role == hpo::v1::ROLE_WORKER) {
    return absl::PermissionDeniedError(
        "worker tokens may only lease, report and heartbeat: use a read_only or user token");
  }
  HPO_RETURN_IF_ERROR(access_->Admit(principal));
  return principal.project;
}

}  // namespace hpo::auth
