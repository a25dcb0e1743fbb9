// File: server/store/sqlite_store.h
//
// Store on an embedded SQLite file (WAL, synchronous FULL, group commit through WalSync, WAL
// checkpoints in the background through Checkpointer): the default and only store today.
#ifndef HPO_SERVER_STORE_SQLITE_STORE_H_
#define HPO_SERVER_STORE_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "common/clock.h"
#include "server/store/migrator.h"
#include "server/store/sqlite/checkpointer.h"
#include "server/store/sqlite/database.h"
#include "server/store/sqlite/wal_sync.h"
#include "server/store/store.h"

namespace hpo::store {

class SqliteStore final : public Store {
 public:
  // Opens `path` (created 0600 if missing; ":memory:" for a private in-memory database), checks
  // it (PRAGMA quick_check), applies pending migrations and checks the connection. `clock` (not
  // owned, must outlive the store) stamps create/update times. FAILED_PRECONDITION if the file's
  // schema is newer than this binary or the file is empty (0 bytes: truncated, or not made by
  // hpo); DATA_LOSS if it is corrupt. Existing database files readable by others become 0600.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           Clock* clock = RealClock());
  struct Options {
    // WAL checkpoints on a background connection (sqlite/checkpointer.h); false: SQLite's
    // automatic checkpoints inside the commit that crosses 1000 WAL pages.
    bool background_checkpoints = true;
  };
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path, Clock* clock,
                                                           const Options& options);

  // The migration applied by Open().
  const MigrationResult& migration() const { return migration_; }

  // kRelaxed and kGroup commit with synchronous=NORMAL (no fsync in WAL mode); the next kFull
  // commit's fsync of the WAL, or SyncCommitted(), makes them durable too.
  absl::Status Transact(const std::function<absl::Status()>& fn,
                        Durability durability = Durability::kFull) override;
  absl::Status SyncCommitted() override { return wal_sync_->Sync(); }
  // fsyncs made by SyncCommitted() so far.
  int64_t group_syncs() const { return wal_sync_->syncs(); }
  // The background checkpointer; null for an in-memory database.
  const sqlite::Checkpointer* checkpointer() const { return checkpointer_.get(); }
  // DATA_LOSS once SQLite has reported corruption (see Open()), else a trivial query.
  absl::Status Ping() override;
  int64_t ChangeCount() override;

  absl::StatusOr<hpo::v1::Experiment> InsertExperiment(
      const hpo::v1::Experiment& experiment) override;
  absl::StatusOr<hpo::v1::Experiment> GetExperiment(int64_t experiment_id) override;
  absl::StatusOr<std::vector<hpo::v1::Experiment>> ListExperiments(
      const std::string& project, const std::vector<hpo::v1::ExperimentState>& states) override;
  absl::Status UpdateExperimentState(int64_t experiment_id,
                                     hpo::v1::ExperimentState state) override;

  absl::StatusOr<hpo::v1::Suggestion> InsertSuggestion(
      const hpo::v1::Suggestion& suggestion) override;
  absl::StatusOr<hpo::v1::Suggestion> GetSuggestion(int64_t suggestion_id) override;
  absl::StatusOr<std::vector<hpo::v1::Suggestion>> ListSuggestions(
      int64_t experiment_id, const std::vector<hpo::v1::SuggestionState>& states) override;
  absl::Status UpdateSuggestion(const hpo::v1::Suggestion& suggestion) override;
  absl::StatusOr<std::vector<hpo::v1::Suggestion>> ListLeasedSuggestions(
      const std::string& worker_id, absl::Time expired_before) override;
  absl::StatusOr<int64_t> CountIssuedSuggestions(int64_t experiment_id) override;

  absl::StatusOr<hpo::v1::Observation> InsertObservation(
      const hpo::v1::Observation& observation) override;
  absl::StatusOr<std::optional<hpo::v1::Observation>> FindObservationBySuggestion(
      int64_t suggestion_id) override;
  absl::StatusOr<std::vector<hpo::v1::Observation>> ListObservations(
      int64_t experiment_id) override;

  absl::Status InsertCheckpoint(int64_t suggestion_id,
                                const hpo::v1::Checkpoint& checkpoint) override;
  absl::StatusOr<std::vector<hpo::v1::Checkpoint>> ListCheckpoints(
      int64_t suggestion_id) override;
  absl::StatusOr<std::map<int64_t, std::vector<hpo::v1::Checkpoint>>> ListExperimentCheckpoints(
      int64_t experiment_id) override;
  absl::StatusOr<std::optional<int64_t>> GetReportedStep(int64_t suggestion_id,
                                                         int attempt) override;
  absl::Status SetReportedStep(int64_t suggestion_id, int attempt, int64_t step) override;
  absl::Status ClearReportedStep(int64_t suggestion_id) override;
  absl::StatusOr<bool> HasCheckpoint(int64_t suggestion_id, int64_t step) override;

  absl::Status UpsertWorker(const std::string& worker_id, const hpo::v1::WorkerInfo& info,
                            const std::string& owner) override;
  absl::Status TouchWorker(const std::string& worker_id) override;
  absl::StatusOr<WorkerRecord> GetWorker(const std::string& worker_id) override;
  absl::Status UpsertGangMember(const GangMember& member) override;
  absl::StatusOr<std::vector<GangMember>> ListGangMembers(int64_t suggestion_id) override;
  absl::StatusOr<std::vector<GangMember>> ListGangPlaces(const std::string& worker_id,
                                                         absl::Time expired_before) override;
  absl::Status DeleteGangMembers(int64_t suggestion_id, const std::string& worker_id) override;
  absl::StatusOr<std::vector<WorkerRecord>> ListWorkers() override;

  absl::StatusOr<std::vector<std::pair<int64_t, hpo::v1::SuggestionState>>> ListSuggestionStates(
      int64_t experiment_id) override;
  absl::StatusOr<hpo::v1::ApiToken> InsertToken(const hpo::v1::ApiToken& token,
                                                const std::string& secret_sha256) override;
  absl::StatusOr<std::optional<hpo::v1::ApiToken>> FindTokenBySecretHash(
      const std::string& secret_sha256) override;
  absl::StatusOr<std::vector<hpo::v1::ApiToken>> ListTokens() override;
  absl::StatusOr<hpo::v1::ApiToken> RevokeToken(int64_t token_id) override;
  absl::StatusOr<int64_t> Backup(const std::string& path) override;

 private:
  SqliteStore(sqlite::Database db, Clock* clock);
  absl::Status FillProgress(hpo::v1::Experiment& experiment);
  absl::StatusOr<hpo::v1::Experiment> ExperimentFromRow(const sqlite::Statement& stmt);
  absl::StatusOr<std::vector<hpo::v1::Observation>> QueryObservations(const std::string& where,
                                                                      int64_t key);

  sqlite::Database db_;
  Clock* clock_;
  MigrationResult migration_;
  int64_t corruption_events_at_open_ = 0;  // SQLite's corruption reports before Open()
  bool in_transaction_ = false;
  std::unique_ptr<sqlite::WalSync> wal_sync_;
  std::unique_ptr<sqlite::Checkpointer> checkpointer_;  // declared after db_: stops first
};

}  // namespace hpo::store

#endif  // HPO_SERVER_STORE_SQLITE_STORE_H_
