// File: server/service/admin_service.h
//
// gRPC adapter of AdminService: API tokens and online backups, over the ExperimentManager.
#ifndef HPO_SERVER_SERVICE_ADMIN_SERVICE_H_
#define HPO_SERVER_SERVICE_ADMIN_SERVICE_H_

#include <functional>
#include <string>

#include "hpo/v1/admin_service.grpc.pb.h"
#include "server/service/experiment_manager.h"
#include "server/service/grpc_status.h"

namespace hpo::service {

struct AdminServiceOptions {
  // When set, BackupDatabase writes only into this directory (or below it): without --auth
  // every local user is admin, and must not make the server write its files elsewhere.
  std::string backup_dir;
};

class AdminService final : public hpo::v1::AdminService::CallbackService {
 public:
  // `guard` (not owned; nullptr allows everything) checks every request; `tokens_changed` runs
  // after a token is created or revoked (to drop cached tokens).
  AdminService(ExperimentManager* manager, CallGuard* guard, std::function<void()> tokens_changed,
               AdminServiceOptions options = {})
      : manager_(manager),
        guard_(guard),
        tokens_changed_(std::move(tokens_changed)),
        options_(std::move(options)) {}

  // CreateToken's checks before the manager's: a valid project name; a non-admin token without
  // a project gets the default project. Returns the request to store.
  static absl::StatusOr<hpo::v1::CreateTokenRequest> PrepareToken(
      const hpo::v1::CreateTokenRequest& request);
  // BackupDatabase's path inside `backup_dir` (any path when it is empty), with its directory
  // resolved; INVALID_ARGUMENT or PERMISSION_DENIED naming the path otherwise.
  static absl::StatusOr<std::string> BackupPath(const std::string& path,
                                                const std::string& backup_dir);

  grpc::ServerUnaryReactor* CreateToken(grpc::CallbackServerContext* context,
                                        const hpo::v1::CreateTokenRequest* request,
                                        hpo::v1::CreateTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* context,
                                       const hpo::v1::ListTokensRequest* request,
                                       hpo::v1::ListTokensResponse* response) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* context,
                                        const hpo::v1::RevokeTokenRequest* request,
                                        hpo::v1::RevokeTokenResponse* response) override;
  grpc::ServerUnaryReactor* BackupDatabase(grpc::CallbackServerContext* context,
                                           const hpo::v1::BackupDatabaseRequest* request,
                                           hpo::v1::BackupDatabaseResponse* response) override;

 private:
  ExperimentManager* manager_;
  CallGuard* guard_;
  std::function<void()> tokens_changed_;
  AdminServiceOptions options_;
};

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_ADMIN_SERVICE_H_
