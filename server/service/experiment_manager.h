// File: server/service/experiment_manager.h
//
// The plain C++ core behind ExperimentService: validates requests, applies the experiment
// lifecycle rules and persists through the Store, one transaction per write. The gRPC adapter
// (experiment_service.h) only converts types; the dashboard reuses this class.
//
// Error codes: INVALID_ARGUMENT (bad spec or request; the message names the field),
// NOT_FOUND (unknown experiment or suggestion, or one of another experiment),
// ALREADY_EXISTS (duplicate experiment name; a suggestion observed with other values),
// FAILED_PRECONDITION (state forbids the call: paused, completed or archived experiment, full
// parallel bandwidth, spent budget, closed suggestion), plus the store's codes.
// A call that fails writes nothing.
//
// Thread-safe: every call holds one mutex, so the store sees one caller at a time.
#ifndef HPO_SERVER_SERVICE_EXPERIMENT_MANAGER_H_
#define HPO_SERVER_SERVICE_EXPERIMENT_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "hpo/v1/admin_service.pb.h"
#include "hpo/v1/experiment_service.pb.h"
#include "server/service/proposal_cache.h"
#include "server/space/work_budget.h"
#include "server/store/store.h"

namespace hpo::service {

struct ExperimentManagerOptions {
  // Precompute optimizer proposals in a background thread after each observation (see
  // proposal_cache.h). Off: proposals are computed when a suggestion is requested. The
  // suggestions are the same either way.
  bool background_proposals = true;
};

class ExperimentManager {
 public:
  // `store` and `clock` are not owned and must outlive the manager.
  ExperimentManager(store::Store* store, Clock* clock,
                    ExperimentManagerOptions options = ExperimentManagerOptions());

  // Validates `spec`, fills defaults (project "default", parallel_bandwidth 1, explicit metric
  // objective and strategy, optimizer "bayesian" with a fresh seed) and stores it ACTIVE. The
  // feasibility search of the validation runs within `limits`: pass the caller's deadline and
  // cancellation, so that the work stops when the caller goes away (CANCELLED).
  absl::StatusOr<hpo::v1::Experiment> CreateExperiment(
      const hpo::v1::Experiment& spec, const space::WorkLimits& limits = space::WorkLimits());
  absl::StatusOr<hpo::v1::Experiment> GetExperiment(int64_t experiment_id);
  // Newest first. Empty `states` lists every state except ARCHIVED.
  absl::StatusOr<std::vector<hpo::v1::Experiment>> ListExperiments(
      const std::string& project, std::vector<hpo::v1::ExperimentState> states);
  // Allowed: ACTIVE <-> PAUSED, ACTIVE/PAUSED -> COMPLETED, any but ARCHIVED -> ARCHIVED.
  // COMPLETED -> ACTIVE only while the budget is not spent. Setting the current state is a no-op.
  absl::StatusOr<hpo::v1::Experiment> SetExperimentState(int64_t experiment_id,
                                                         hpo::v1::ExperimentState state);

  // Issues the oldest queued suggestion, else a proposal of the experiment's optimizer
  // (precomputed when possible; computed now otherwise, without blocking other calls).
  // FAILED_PRECONDITION unless the experiment is ACTIVE, while `parallel_bandwidth` suggestions
  // are open, or when observations plus open suggestions reach the observation budget.
  absl::StatusOr<hpo::v1::Suggestion> CreateSuggestion(
      int64_t experiment_id, const google::protobuf::Map<std::string, std::string>& metadata);
  // Queues a user-given assignment (missing parameters take their default_value).
  absl::StatusOr<hpo::v1::Suggestion> QueueSuggestion(
      int64_t experiment_id, const hpo::v1::Assignment& assignment,
      const google::protobuf::Map<std::string, std::string>& metadata);
  absl::StatusOr<std::vector<hpo::v1::Suggestion>> ListSuggestions(
      int64_t experiment_id, const std::vector<hpo::v1::SuggestionState>& states);
  // Withdraws a queued, open or leased suggestion. FAILED_PRECONDITION once it is observed.
  absl::StatusOr<hpo::v1::Suggestion> DeleteSuggestion(int64_t experiment_id,
                                                       int64_t suggestion_id);

  // Records the result of an open or leased suggestion, or of an assignment evaluated elsewhere.
  // Repeating a report with the same values returns the stored observation; different values for
  // an observed suggestion are ALREADY_EXISTS. Completes the experiment when the budget is reached.
  absl::StatusOr<hpo::v1::Observation> CreateObservation(
      const hpo::v1::CreateObservationRequest& request);
  absl::StatusOr<std::vector<hpo::v1::Observation>> ListObservations(int64_t experiment_id);
  // See BestAssignments() in best_assignments.h.
  absl::StatusOr<std::vector<hpo::v1::Observation>> GetBestAssignments(int64_t experiment_id);
  absl::StatusOr<std::vector<hpo::v1::Checkpoint>> ListCheckpoints(int64_t experiment_id,
                                                                   int64_t suggestion_id);

  // Liveness of the store, for the health check.
  absl::Status Ping();

  // --- Read-only views for the dashboard ---

  // Grows with every write to the store (any experiment, suggestion, checkpoint or heartbeat).
  int64_t Revision();
  // Every learning curve of the experiment, by suggestion id.
  absl::StatusOr<std::map<int64_t, std::vector<hpo::v1::Checkpoint>>> ListCurves(
      int64_t experiment_id);
  struct WorkerView {
    store::WorkerRecord record;
    std::vector<hpo::v1::Suggestion> leased;  // suggestions it holds now
  };
  // Every registered worker with the suggestions it holds, most recent heartbeat first.
  absl::StatusOr<std::vector<WorkerView>> ListWorkers();

  // --- API tokens and backups (AdminService and auth::AccessControl) ---

  // Validates (name pattern, a role, admin tokens unscoped, project name) and stores a token
  // with `secret` (a new random one when empty). The response carries the secret.
  absl::StatusOr<hpo::v1::CreateTokenResponse> CreateToken(const hpo::v1::CreateTokenRequest& request,
                                                           const std::string& secret = "");
  absl::StatusOr<std::vector<hpo::v1::ApiToken>> ListTokens();
  absl::StatusOr<hpo::v1::ApiToken> RevokeToken(int64_t token_id);
  // The token (revoked or not) whose secret has this SHA-256, if any.
  absl::StatusOr<std::optional<hpo::v1::ApiToken>> FindToken(const std::string& secret_sha256);
  // Online backup to a new file at the absolute `path` (see Store::Backup).
  absl::StatusOr<hpo::v1::BackupDatabaseResponse> Backup(const std::string& path);
  absl::StatusOr<std::string> ProjectOfExperiment(int64_t experiment_id);
  // The experiment a suggestion belongs to.
  absl::StatusOr<int64_t> ExperimentOfSuggestion(int64_t suggestion_id);

 private:
  friend class TrialScheduler;  // shares mu_, the store and the issuing logic

  // A worker's hold on a suggestion.
  struct Lease {
    std::string worker_id;
    google::protobuf::Timestamp expire_time;
  };

  // CreateSuggestion; with `lease`, a suggestion returned to the pool by an expired lease is
  // taken first, and the issued suggestion is ACTIVE under the lease.
  absl::StatusOr<hpo::v1::Suggestion> IssueSuggestion(
      int64_t experiment_id, const google::protobuf::Map<std::string, std::string>& metadata,
      const Lease* lease);
  // CreateObservation without the metadata check (the caller's); with `worker_id`, the
  // suggestion must be leased by that worker (a retried report of a stored result still returns
  // it). A suggestion stopped by the pruner ends PRUNED. A long failure_reason is cut.
  absl::StatusOr<hpo::v1::Observation> RecordObservation(
      const hpo::v1::CreateObservationRequest& request, const std::string* worker_id);
  absl::StatusOr<hpo::v1::Suggestion> GetOwnedSuggestion(int64_t experiment_id,
                                                         int64_t suggestion_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The optimizer's input for the next batch of proposals (ProposalCache::SnapshotFn).
  absl::StatusOr<ProposalCache::Snapshot> Snapshot(int64_t experiment_id);

  absl::Mutex mu_;
  store::Store* store_ ABSL_GUARDED_BY(mu_);
  // Called under mu_ once an experiment has completed or been archived (committed), so that
  // caches of its data can go; by registrant (TrialScheduler).
  absl::flat_hash_map<const void*, std::function<void(int64_t experiment_id)>> closed_listeners_
      ABSL_GUARDED_BY(mu_);
  void ExperimentClosed(int64_t experiment_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [owner, listener] : closed_listeners_) listener(experiment_id);
  }
  Clock* clock_;
  // Declared last: its background thread calls Snapshot() and must stop first.
  ProposalCache proposals_;
};

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_EXPERIMENT_MANAGER_H_
