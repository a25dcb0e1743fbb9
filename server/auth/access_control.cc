#include "server/auth/access_control.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/auth/token.h"

namespace hpo::auth {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

std::string RoleName(hpo::v1::Role role) {
  switch (role) {
    case hpo::v1::ROLE_ADMIN: return "admin";
    case hpo::v1::ROLE_USER: return "user";
    case hpo::v1::ROLE_WORKER: return "worker";
    case hpo::v1::ROLE_READ_ONLY: return "read_only";
    default: return "unknown";
  }
}

// Request type (without package) -> what it needs. Anything missing is refused.
const std::map<std::string, int>& Needs() {
  static const auto* needs = new std::map<std::string, int>{
      // 0 read, 1 write, 2 work, 3 admin (AccessControl::Need)
      {"GetExperimentRequest", 0},     {"ListExperimentsRequest", 0},
      {"ListSuggestionsRequest", 0},   {"ListObservationsRequest", 0},
      {"GetBestAssignmentsRequest", 0}, {"ListCheckpointsRequest", 0},
      {"CreateExperimentRequest", 1},  {"SetExperimentStateRequest", 1},
      {"CreateSuggestionRequest", 1},  {"QueueSuggestionRequest", 1},
      {"DeleteSuggestionRequest", 1},  {"CreateObservationRequest", 1},
      {"RegisterWorkerRequest", 2},    {"LeaseTrialRequest", 2},
      {"HeartbeatRequest", 2},         {"ProgressReport", 2},
      {"CompleteTrialRequest", 2},     {"ReleaseTrialRequest", 2},
      {"CreateTokenRequest", 3},       {"ListTokensRequest", 3},
      {"RevokeTokenRequest", 3},       {"BackupDatabaseRequest", 3},
  };
  return *needs;
}

int64_t Int64Field(const Message& m, const char* name) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
  if (f == nullptr || f->cpp_type() != FieldDescriptor::CPPTYPE_INT64 || f->is_repeated()) return 0;
  return m.GetReflection()->GetInt64(m, f);
}

const FieldDescriptor* StringField(const Message& m, const char* name) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
  if (f == nullptr || f->cpp_type() != FieldDescriptor::CPPTYPE_STRING || f->is_repeated()) {
    return nullptr;
  }
  return f;
}

}  // namespace

absl::string_view BearerSecret(absl::string_view authorization) {
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(authorization, kBearer)) return "";
  return authorization.substr(kBearer.size());
}

AccessControl::AccessControl(service::ExperimentManager* manager, Clock* clock,
                             AccessControlOptions options)
    : manager_(manager), clock_(clock), options_(options) {
  if (options_.burst <= 0) options_.burst = std::max(1.0, 2 * options_.rate_per_second);
}

absl::StatusOr<Principal> AccessControl::Authenticate(absl::string_view authorization,
                                                      absl::string_view peer) {
  if (!options_.enabled) {
    Principal anonymous;
    anonymous.name = absl::StrCat("peer:", peer.substr(0, peer.rfind(':')));
    return anonymous;
  }
  const absl::string_view secret = BearerSecret(authorization);
  if (secret.empty()) {
    return absl::UnauthenticatedError(
        "authorization: missing \"Bearer <token>\" (pass --token or set HPO_TOKEN)");
  }
  if (!LooksLikeTokenSecret(secret)) {
    return absl::UnauthenticatedError("authorization: malformed token");
  }
  const std::string hash = Sha256Hex(secret);
  hpo::v1::ApiToken token;
  bool cached = false;
  {
    absl::MutexLock lock(&mu_);
    const auto it = tokens_.find(hash);
    if (it != tokens_.end()) {
      token = it->second;
      cached = true;
    }
  }
  if (!cached) {
    HPO_ASSIGN_OR_RETURN(std::optional<hpo::v1::ApiToken> found, manager_->FindToken(hash));
    if (!found.has_value()) return absl::UnauthenticatedError("authorization: unknown token");
    if (found->has_revoke_time()) {
      return absl::UnauthenticatedError(
          absl::StrCat("authorization: token \"", found->name(), "\" was revoked"));
    }
    token = *found;
    absl::MutexLock lock(&mu_);
    tokens_[hash] = token;
  }
  Principal principal;
  principal.token_id = token.id();
  principal.name = token.name();
  principal.role = token.role();
  principal.project = token.project();
  // Tokens made before every non-admin token had a project must not reach every project.
  if (principal.role != hpo::v1::ROLE_ADMIN && principal.project.empty()) {
    principal.project = kDefaultProject;
  }
  return principal;
}

void AccessControl::InvalidateTokens() {
  absl::MutexLock lock(&mu_);
  tokens_.clear();
}

absl::Status AccessControl::Admit(const Principal& principal) {
  if (options_.rate_per_second <= 0) return absl::OkStatus();
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = buckets_.try_emplace(principal.name);
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = options_.burst;
  } else {
    bucket.tokens = std::min(options_.burst, bucket.tokens + options_.rate_per_second *
                                                                 absl::ToDoubleSeconds(now - bucket.refilled));
  }
  bucket.refilled = now;
  if (bucket.tokens < 1) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "rate limit: \"", principal.name, "\" may make ", options_.rate_per_second,
        " calls per second (burst ", options_.burst, "); retry later"));
  }
  bucket.tokens -= 1;
  return absl::OkStatus();
}

absl::Status AccessControl::Allow(const Principal& principal, Need need,
                                  absl::string_view method) {
  bool ok = false;
  switch (principal.role) {
    case hpo::v1::ROLE_ADMIN: ok = true; break;
    case hpo::v1::ROLE_USER: ok = need != Need::kAdmin; break;
    case hpo::v1::ROLE_WORKER: ok = need == Need::kWork; break;
    case hpo::v1::ROLE_READ_ONLY: ok = need == Need::kRead; break;
    default: break;
  }
  if (ok) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("token \"", principal.name, "\" (role ",
                                                  RoleName(principal.role), ") may not call ",
                                                  method));
}

absl::Status AccessControl::CheckProject(const Principal& principal, const std::string& project,
                                         absl::string_view what) {
  if (principal.project.empty() || principal.project == project) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(what, " is outside project \"",
                                                  principal.project, "\" of token \"",
                                                  principal.name, "\""));
}

absl::StatusOr<std::string> AccessControl::ProjectOfExperiment(int64_t experiment_id) {
  {
    absl::MutexLock lock(&mu_);
    const auto it = experiment_project_.find(experiment_id);
    if (it != experiment_project_.end()) return it->second;
  }
  HPO_ASSIGN_OR_RETURN(std::string project, manager_->ProjectOfExperiment(experiment_id));
  absl::MutexLock lock(&mu_);
  experiment_project_[experiment_id] = project;
  return project;
}

absl::StatusOr<std::string> AccessControl::ProjectOfSuggestion(int64_t suggestion_id) {
  int64_t experiment_id = 0;
  {
    absl::MutexLock lock(&mu_);
    const auto it = suggestion_experiment_.find(suggestion_id);
    if (it != suggestion_experiment_.end()) experiment_id = it->second;
  }
  if (experiment_id == 0) {
    HPO_ASSIGN_OR_RETURN(experiment_id, manager_->ExperimentOfSuggestion(suggestion_id));
    absl::MutexLock lock(&mu_);
    suggestion_experiment_[suggestion_id] = experiment_id;
  }
  return ProjectOfExperiment(experiment_id);
}

absl::Status AccessControl::Authorize(const Principal& principal, const Message& request) {
  const std::string& type = request.GetDescriptor()->name();
  const auto need = Needs().find(type);
  if (need == Needs().end()) {
    return absl::PermissionDeniedError(absl::StrCat("no access rule for ", type));
  }
  std::string method = type;
  if (absl::EndsWith(method, "Request")) method.resize(method.size() - 7);
  HPO_RETURN_IF_ERROR(Allow(principal, static_cast<Need>(need->second), method));
  HPO_RETURN_IF_ERROR(Admit(principal));
  if (principal.project.empty()) return absl::OkStatus();

  // Project scope: whatever the request names must belong to the token's project.
  if (const int64_t id = Int64Field(request, "experiment_id"); id != 0) {
    absl::StatusOr<std::string> project = ProjectOfExperiment(id);
    if (absl::IsNotFound(project.status())) return absl::OkStatus();  // the call says NOT_FOUND
    HPO_RETURN_IF_ERROR(project.status());
    HPO_RETURN_IF_ERROR(CheckProject(principal, *project, absl::StrCat("experiment ", id)));
  }
  if (const int64_t id = Int64Field(request, "suggestion_id"); id != 0) {
    absl::StatusOr<std::string> project = ProjectOfSuggestion(id);
    if (absl::IsNotFound(project.status())) return absl::OkStatus();
    HPO_RETURN_IF_ERROR(project.status());
    HPO_RETURN_IF_ERROR(CheckProject(principal, *project, absl::StrCat("suggestion ", id)));
  }
  if (type == "CreateExperimentRequest") {
    const auto& create = static_cast<const hpo::v1::CreateExperimentRequest&>(request);
    const std::string project =
        create.experiment().project().empty() ? "default" : create.experiment().project();
    HPO_RETURN_IF_ERROR(CheckProject(principal, project, absl::StrCat("project \"", project, "\"")));
  }
  if (const FieldDescriptor* f = StringField(request, "project"); f != nullptr) {
    const std::string project = request.GetReflection()->GetString(request, f);
    if (!project.empty()) {
      HPO_RETURN_IF_ERROR(
          CheckProject(principal, project, absl::StrCat("project \"", project, "\"")));
    }
  }
  return absl::OkStatus();
}

absl::Status AccessControl::AuthorizeExperimentRead(const Principal& principal,
                                                    int64_t experiment_id) {
  hpo::v1::GetExperimentRequest request;
  request.set_experiment_id(experiment_id);
  return Authorize(principal, request);
}

}  // namespace hpo::auth
