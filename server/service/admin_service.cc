#include "server/service/admin_service.h"

#include <utility>
#include <vector>

namespace hpo::service {

using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;

ServerUnaryReactor* AdminService::CreateToken(CallbackServerContext* context,
                                              const hpo::v1::CreateTokenRequest* request,
                                              hpo::v1::CreateTokenResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  auto created = manager_->CreateToken(*request);
  if (created.ok() && tokens_changed_) tokens_changed_();
  return FinishUnary(context, std::move(created),
                     [&](hpo::v1::CreateTokenResponse r) { *response = std::move(r); });
}

ServerUnaryReactor* AdminService::ListTokens(CallbackServerContext* context,
                                             const hpo::v1::ListTokensRequest* request,
                                             hpo::v1::ListTokensResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(context, manager_->ListTokens(), [&](std::vector<hpo::v1::ApiToken> v) {
    for (auto& t : v) *response->add_tokens() = std::move(t);
  });
}

ServerUnaryReactor* AdminService::RevokeToken(CallbackServerContext* context,
                                              const hpo::v1::RevokeTokenRequest* request,
                                              hpo::v1::RevokeTokenResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  auto revoked = manager_->RevokeToken(request->token_id());
  if (revoked.ok() && tokens_changed_) tokens_changed_();
  return FinishUnary(context, std::move(revoked),
                     [&](hpo::v1::ApiToken t) { *response->mutable_token() = std::move(t); });
}

ServerUnaryReactor* AdminService::BackupDatabase(CallbackServerContext* context,
                                                 const hpo::v1::BackupDatabaseRequest* request,
                                                 hpo::v1::BackupDatabaseResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(context, manager_->Backup(request->path()),
                     [&](hpo::v1::BackupDatabaseResponse r) { *response = std::move(r); });
}

}  // namespace hpo::service
