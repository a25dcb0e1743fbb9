// File: server/store/store.h
//
// The persistence interface of hpo-server (Vizier's datastore). It stores experiments,
// suggestions, observations and learning-curve checkpoints as hpo.v1 protos and knows nothing
// of validation or optimization: callers pass valid data. SqliteStore is the implementation;
// the interface leaves room for a PostgreSQL store.
//
// Errors: NOT_FOUND for unknown ids, ALREADY_EXISTS for duplicate keys, UNAVAILABLE when the
// database is busy (retry), DATA_LOSS for a corrupt file, INTERNAL otherwise.
//
// Thread-safety: not thread-safe. The service layer serializes every call (one writer, as SQLite
// wants), and groups the calls of one RPC in Transact() so that each write RPC is one
// transaction.
#ifndef HPO_SERVER_STORE_STORE_H_
#define HPO_SERVER_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hpo/v1/admin_service.pb.h"
#include "hpo/v1/experiment.pb.h"
#include "hpo/v1/trial_service.pb.h"

namespace hpo::store {

// A registered worker.
struct WorkerRecord {
  std::string id;
  hpo::v1::WorkerInfo info;
  absl::Time register_time;
  absl::Time last_heartbeat;
  // Who registered it: a project, or "" for an unscoped caller (see
  // migrations/0005_worker_owners.sql). nullopt: registered before owners were recorded and
  // holding nothing of a single project at the upgrade (migrations/0007_*).
  std::optional<std::string> owner;
};

// A worker's place in the gang of a gang trial (see migrations/0004_gang_members.sql).
struct GangMember {
  int64_t suggestion_id = 0;
  std::string worker_id;
  int rank = 0;
  absl::Time lease_expire_time;
  bool released = false;  // a rank > 0 that finished its part
};

class Store {
 public:
  virtual ~Store() = default;

  // How hard a commit is pushed to disk. kFull: durable before Transact returns (the default;
  // every acknowledged result). kRelaxed: atomic, survives a crash of the process, but may be lost
  // with the machine's power until the next full commit; for writes that the next call repeats
  // anyway (heartbeats renewing a lease). kGroup: committed like kRelaxed; the caller then calls
  // SyncCommitted() after releasing its own lock and before acknowledging, which makes it as
  // durable as kFull while concurrent writers share one fsync (group commit; hot write paths).
  enum class Durability { kFull, kRelaxed, kGroup };

  // Runs `fn` in one write transaction: commits if it returns OK, rolls back everything it wrote
  // otherwise and returns its status. Transactions do not nest.
  virtual absl::Status Transact(const std::function<absl::Status()>& fn,
                                Durability durability = Durability::kFull) = 0;

  // Returns once every transaction committed before the call is on disk; concurrent callers
  // share one fsync. The one method that is thread-safe and may run concurrently with any other
  // call (callers call it without holding the lock that serializes the rest).
  virtual absl::Status SyncCommitted() = 0;

  // Cheap liveness probe of the database (SELECT 1).
  virtual absl::Status Ping() = 0;
  // Rows written (inserted, updated, deleted) since the store was opened: a revision number that
  // grows with every write, for change detection (the dashboard polls it).
  virtual int64_t ChangeCount() = 0;

  // --- Experiments ---

  // Stores a new experiment and returns it with id, create/update times set. The state is taken
  // from `experiment`. ALREADY_EXISTS if (project, name) is taken.
  virtual absl::StatusOr<hpo::v1::Experiment> InsertExperiment(
      const hpo::v1::Experiment& experiment) = 0;
  // The experiment with its progress counters. NOT_FOUND if unknown.
  virtual absl::StatusOr<hpo::v1::Experiment> GetExperiment(int64_t experiment_id) = 0;
  // Experiments of `project` (all projects if empty) whose state is in `states` (all if empty),
  // newest first, with progress counters.
  virtual absl::StatusOr<std::vector<hpo::v1::Experiment>> ListExperiments(
      const std::string& project, const std::vector<hpo::v1::ExperimentState>& states) = 0;
  // Sets the state and update time. NOT_FOUND if unknown.
  virtual absl::Status UpdateExperimentState(int64_t experiment_id,
                                             hpo::v1::ExperimentState state) = 0;

  // --- Suggestions ---

  // Stores a new suggestion (id and times are assigned) and returns it.
  virtual absl::StatusOr<hpo::v1::Suggestion> InsertSuggestion(
      const hpo::v1::Suggestion& suggestion) = 0;
  // NOT_FOUND if unknown.
  virtual absl::StatusOr<hpo::v1::Suggestion> GetSuggestion(int64_t suggestion_id) = 0;
  // Suggestions of an experiment whose state is in `states` (all if empty), oldest first.
  virtual absl::StatusOr<std::vector<hpo::v1::Suggestion>> ListSuggestions(
      int64_t experiment_id, const std::vector<hpo::v1::SuggestionState>& states) = 0;
  // Overwrites state, worker_id, lease_expire_time, attempts, metadata, stop_reason and stop_step;
  // sets update time.
  virtual absl::Status UpdateSuggestion(const hpo::v1::Suggestion& suggestion) = 0;
  // ACTIVE (leased) suggestions, of `worker_id` if not empty, whose lease expires before
  // `expired_before` if it is finite; oldest first.
  virtual absl::StatusOr<std::vector<hpo::v1::Suggestion>> ListLeasedSuggestions(
      const std::string& worker_id, absl::Time expired_before) = 0;
  // (id, state) of every suggestion of an experiment, oldest first: the cheap form of
  // ListSuggestions for callers that need only states.
  virtual absl::StatusOr<std::vector<std::pair<int64_t, hpo::v1::SuggestionState>>>
  ListSuggestionStates(int64_t experiment_id) = 0;
  // Number of suggestions the experiment has issued (every state except QUEUED).
  virtual absl::StatusOr<int64_t> CountIssuedSuggestions(int64_t experiment_id) = 0;

  // --- Observations ---

  // Stores an observation with its metric values and returns it with id and time set.
  // ALREADY_EXISTS if its suggestion already has one.
  virtual absl::StatusOr<hpo::v1::Observation> InsertObservation(
      const hpo::v1::Observation& observation) = 0;
  // The observation of a suggestion, or nullopt.
  virtual absl::StatusOr<std::optional<hpo::v1::Observation>> FindObservationBySuggestion(
      int64_t suggestion_id) = 0;
  // All observations of an experiment, oldest first.
  virtual absl::StatusOr<std::vector<hpo::v1::Observation>> ListObservations(
      int64_t experiment_id) = 0;

  // --- Learning curves ---

  // Stores one checkpoint of a suggestion (create time is assigned). ALREADY_EXISTS if the step
  // was already recorded for one of its metrics.
  virtual absl::Status InsertCheckpoint(int64_t suggestion_id,
                                        const hpo::v1::Checkpoint& checkpoint) = 0;
  // The suggestion's checkpoints by step, metrics grouped per step.
  virtual absl::StatusOr<std::vector<hpo::v1::Checkpoint>> ListCheckpoints(
      int64_t suggestion_id) = 0;
  // Every learning curve of an experiment, by suggestion id.
  virtual absl::StatusOr<std::map<int64_t, std::vector<hpo::v1::Checkpoint>>>
  ListExperimentCheckpoints(int64_t experiment_id) = 0;
  // The last checkpoint step reported for a suggestion during its lease attempt `attempt`
  // (Suggestion.attempts); nullopt if none was (see migrations/0006_reported_steps.sql).
  virtual absl::StatusOr<std::optional<int64_t>> GetReportedStep(int64_t suggestion_id,
                                                                 int attempt) = 0;
  virtual absl::Status SetReportedStep(int64_t suggestion_id, int attempt, int64_t step) = 0;
  // Forgets the reported step: a new lease runs the trial from its first step, and attempt
  // numbers repeat (a released attempt is given back).
  virtual absl::Status ClearReportedStep(int64_t suggestion_id) = 0;
  // Whether the suggestion's curve has a point at `step`.
  virtual absl::StatusOr<bool> HasCheckpoint(int64_t suggestion_id, int64_t step) = 0;

  // --- Workers ---

  // Registers a worker owned by `owner`, or updates its description (the owner is kept, or set if
  // it had none); sets its heartbeat time to now.
  virtual absl::Status UpsertWorker(const std::string& worker_id, const hpo::v1::WorkerInfo& info,
                                    const std::string& owner) = 0;
  // Sets the worker's heartbeat time to now (the owner is left as it is). NOT_FOUND if it never
  // registered.
  virtual absl::Status TouchWorker(const std::string& worker_id) = 0;
  virtual absl::StatusOr<WorkerRecord> GetWorker(const std::string& worker_id) = 0;
  virtual absl::StatusOr<std::vector<WorkerRecord>> ListWorkers() = 0;

  // --- Gang members ---

  // Inserts or overwrites (suggestion_id, worker_id)'s rank, lease and released flag.
  virtual absl::Status UpsertGangMember(const GangMember& member) = 0;
  // Members of a suggestion's gang, by rank.
  virtual absl::StatusOr<std::vector<GangMember>> ListGangMembers(int64_t suggestion_id) = 0;
  // Places of `worker_id` if not empty, not released, whose lease expires before `expired_before`
  // if it is finite; by suggestion then rank.
  virtual absl::StatusOr<std::vector<GangMember>> ListGangPlaces(const std::string& worker_id,
                                                                 absl::Time expired_before) = 0;
  // Removes one member (worker_id not empty) or the whole gang of a suggestion.
  virtual absl::Status DeleteGangMembers(int64_t suggestion_id, const std::string& worker_id) = 0;

  // --- API tokens (only the SHA-256 of a secret is stored) ---

  // ALREADY_EXISTS for a duplicate name or secret hash.
  virtual absl::StatusOr<hpo::v1::ApiToken> InsertToken(const hpo::v1::ApiToken& token,
                                                        const std::string& secret_sha256) = 0;
  // The token with this secret hash, revoked or not; nullopt if none.
  virtual absl::StatusOr<std::optional<hpo::v1::ApiToken>> FindTokenBySecretHash(
      const std::string& secret_sha256) = 0;
  virtual absl::StatusOr<std::vector<hpo::v1::ApiToken>> ListTokens() = 0;
  // Sets the revoke time (kept when already revoked). NOT_FOUND if unknown.
  virtual absl::StatusOr<hpo::v1::ApiToken> RevokeToken(int64_t token_id) = 0;

  // --- Backups ---

  // Copies the database to the new file `path` with SQLite's online backup API; returns its
  // size in bytes. ALREADY_EXISTS if `path` exists. Must not run inside Transact().
  virtual absl::StatusOr<int64_t> Backup(const std::string& path) = 0;
};

}  // namespace hpo::store

#endif  // HPO_SERVER_STORE_STORE_H_
