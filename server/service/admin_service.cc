#include "server/service/admin_service.h"

#include <limits.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/auth/token.h"

namespace hpo::service {

using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;

namespace {

absl::StatusOr<std::string> RealPath(const std::string& path, absl::string_view what) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": cannot resolve \"", path, "\": ", std::strerror(errno)));
  }
  return std::string(resolved);
}

}  // namespace

absl::StatusOr<hpo::v1::CreateTokenRequest> AdminService::PrepareToken(
    const hpo::v1::CreateTokenRequest& request) {
  hpo::v1::CreateTokenRequest prepared = request;
  if (!request.project().empty()) {
    HPO_RETURN_IF_ERROR(auth::CheckProjectName(request.project()));
  } else if (request.role() != hpo::v1::ROLE_ADMIN) {
    prepared.set_project(auth::kDefaultProject);
  }
  return prepared;
}

absl::StatusOr<std::string> AdminService::BackupPath(const std::string& path,
                                                     const std::string& backup_dir) {
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("path: contains a NUL byte");
  }
  if (backup_dir.empty()) return path;
  const std::filesystem::path requested(path);
  const std::string name = requested.filename().string();
  if (!requested.is_absolute() || name.empty() || name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("path: \"", path, "\" must be an absolute path to a new file"));
  }
  HPO_ASSIGN_OR_RETURN(const std::string dir, RealPath(requested.parent_path().string(), "path"));
  HPO_ASSIGN_OR_RETURN(const std::string allowed, RealPath(backup_dir, "--backup_dir"));
  if (dir != allowed && dir.rfind(allowed + "/", 0) != 0 && allowed != "/") {
    return absl::PermissionDeniedError(
        absl::StrCat("path: \"", path, "\" is outside the backup directory ", allowed,
                     " (--backup_dir; without --auth it is the database's directory)"));
  }
  return (std::filesystem::path(dir) / name).string();
}

ServerUnaryReactor* AdminService::CreateToken(CallbackServerContext* context,
                                              const hpo::v1::CreateTokenRequest* request,
                                              hpo::v1::CreateTokenResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  const absl::StatusOr<hpo::v1::CreateTokenRequest> prepared = PrepareToken(*request);
  absl::StatusOr<hpo::v1::CreateTokenResponse> created =
      prepared.ok() ? manager_->CreateToken(*prepared)
                    : absl::StatusOr<hpo::v1::CreateTokenResponse>(prepared.status());
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
  const absl::StatusOr<std::string> path = BackupPath(request->path(), options_.backup_dir);
  absl::StatusOr<hpo::v1::BackupDatabaseResponse> backup =
      path.ok() ? manager_->Backup(*path)
                : absl::StatusOr<hpo::v1::BackupDatabaseResponse>(path.status());
  return FinishUnary(context, std::move(backup),
                     [&](hpo::v1::BackupDatabaseResponse r) { *response = std::move(r); });
}

}  // namespace hpo::service
