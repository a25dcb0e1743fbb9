// File: server/auth/access_control.h
//
// Who may do what: the one authorization point of hpo-server. Every gRPC call (through
// service/guarded.h) and every dashboard request (through DashboardAuthorizer) is decided here.
//
// - Authentication: "authorization: Bearer hpo_..." (gRPC metadata or HTTP header). The secret's
//   SHA-256 is looked up in the store; unknown or revoked tokens are UNAUTHENTICATED.
// - Roles: admin does everything (tokens, backups, every project); user reads and writes the
//   experiments of its project and may run workers; worker may only register, lease, heartbeat,
//   report progress, complete and release trials of its project; read_only may only read.
//   A denied role is PERMISSION_DENIED naming the method and the role.
// - Projects: a token with a project sees and changes only that project's experiments and their
//   suggestions, observations and trials; anything of another project is PERMISSION_DENIED.
//   Only admin tokens reach every project: a non-admin token without one has "default".
//   List and lease calls are narrowed to the token's project (see ScopedProject).
// - Rate limit: a token bucket per token (per peer address when auth is off).
//   RESOURCE_EXHAUSTED when it is empty.
// With auth disabled (the loopback default) every caller is an unscoped admin; rate limits
// still apply.
#ifndef HPO_SERVER_AUTH_ACCESS_CONTROL_H_
#define HPO_SERVER_AUTH_ACCESS_CONTROL_H_

#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "google/protobuf/message.h"
#include "hpo/v1/admin_service.pb.h"
#include "server/service/experiment_manager.h"

namespace hpo::auth {

struct Principal {
  int64_t token_id = 0;  // 0 when auth is off
  std::string name;      // token name, or "anonymous"
  hpo::v1::Role role = hpo::v1::ROLE_ADMIN;
  std::string project;   // empty: every project
};

struct AccessControlOptions {
  bool enabled = false;        // require tokens
  double rate_per_second = 0;  // per token; 0 turns rate limiting off
  double burst = 0;            // bucket size; default 2 x rate
};

class AccessControl {
 public:
  // `manager` and `clock` are not owned.
  AccessControl(service::ExperimentManager* manager, Clock* clock, AccessControlOptions options);

  bool enabled() const { return options_.enabled; }

  // Authenticates `authorization` (the header's value, may be empty) from `peer`.
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization, absl::string_view peer);

  // The decision for one call: may `principal` make the request `request` (a message of the
  // hpo.v1 services, identified by its type)? Resolves the project from the request's
  // experiment_id, suggestion_id, experiment.project or project field. Unknown request types
  // are refused. Also takes one token from the principal's rate bucket.
  absl::Status Authorize(const Principal& principal, const google::protobuf::Message& request);

  // Read access to one experiment, for the dashboard.
  absl::Status AuthorizeExperimentRead(const Principal& principal, int64_t experiment_id);
  // Rate limiting alone (dashboard requests that touch no experiment).
  absl::Status Admit(const Principal& principal);

  // Forgets cached tokens: call after a token is created or revoked.
  void InvalidateTokens();

 private:
  enum class Need { kRead, kWrite, kWork, kAdmin };
  absl::Status Allow(const Principal& principal, Need need, absl::string_view method);
  absl::Status CheckProject(const Principal& principal, const std::string& project,
                            absl::string_view what);
  absl::StatusOr<std::string> ProjectOfExperiment(int64_t experiment_id);
  absl::StatusOr<std::string> ProjectOfSuggestion(int64_t suggestion_id);

  service::ExperimentManager* manager_;
  Clock* clock_;
  AccessControlOptions options_;

  absl::Mutex mu_;
  // Secret hash -> token; only valid tokens are cached.
  absl::flat_hash_map<std::string, hpo::v1::ApiToken> tokens_ ABSL_GUARDED_BY(mu_);
  // Immutable facts, cached forever.
  absl::flat_hash_map<int64_t, std::string> experiment_project_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, int64_t> suggestion_experiment_ ABSL_GUARDED_BY(mu_);
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

// The project a list or lease call is narrowed to: the token's project if it has one, else the
// request's own `requested`.
inline std::string ScopedProject(const Principal& principal, const std::string& requested) {
  return principal.project.empty() ? requested : principal.project;
}

// "Bearer <secret>" -> secret; anything else -> "".
absl::string_view BearerSecret(absl::string_view authorization);

}  // namespace hpo::auth

#endif  // HPO_SERVER_AUTH_ACCESS_CONTROL_H_
