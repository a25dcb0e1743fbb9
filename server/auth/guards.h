// File: server/auth/guards.h
//
// AccessControl plugged into the two front doors: GrpcGuard for every gRPC request (the
// adapters' CallGuard) and DashboardGuard for every dashboard HTTP request.
#ifndef HPO_SERVER_AUTH_GUARDS_H_
#define HPO_SERVER_AUTH_GUARDS_H_

#include <string>

#include "server/auth/access_control.h"
#include "server/dashboard/http_server.h"
#include "server/service/grpc_status.h"

namespace hpo::auth {

class GrpcGuard final : public service::CallGuard {
 public:
  explicit GrpcGuard(AccessControl* access) : access_(access) {}
  // Authenticates the "authorization" metadata, then AccessControl::Authorize; returns the
  // token's project scope.
  absl::StatusOr<std::string> Check(const grpc::CallbackServerContext& context,
                                    const google::protobuf::Message& request) override;

 private:
  AccessControl* access_;
};

class DashboardGuard final : public dashboard::HttpAuthorizer {
 public:
  explicit DashboardGuard(AccessControl* access) : access_(access) {}
  // The page's static files hold no data and are public; every /api/ request needs a token
  // (when auth is on: "Authorization: Bearer" or the page's hpo_token cookie) of a role that may
  // read, and is rate limited. Returns the project scope.
  absl::StatusOr<std::string> Authorize(const dashboard::HttpRequestInfo& request) override;

 private:
  AccessControl* access_;
};

}  // namespace hpo::auth

#endif  // HPO_SERVER_AUTH_GUARDS_H_
