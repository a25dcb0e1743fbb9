#include "server/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/status_util.h"

namespace hpo::store {
namespace {

using ::hpo::store::sqlite::Statement;
using ::hpo::v1::Assignment;
using ::hpo::v1::Checkpoint;
using ::hpo::v1::Experiment;
using ::hpo::v1::Observation;
using ::hpo::v1::Suggestion;

constexpr char kInsertExperimentSql[] =
    "INSERT INTO experiments (project, name, state, spec, observation_budget, "
    "parallel_bandwidth, create_time_us, update_time_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kSelectExperimentColumns[] =
    "SELECT id, state, spec, create_time_us, update_time_us FROM experiments";
constexpr char kUpdateExperimentStateSql[] =
    "UPDATE experiments SET state = ?, update_time_us = ? WHERE id = ?";
constexpr char kProgressSql[] =
    "SELECT (SELECT COUNT(*) FROM observations WHERE experiment_id = ?1), "
    "(SELECT COUNT(*) FROM observations WHERE experiment_id = ?1 AND failed = 1), "
    "(SELECT COUNT(*) FROM suggestions WHERE experiment_id = ?1 AND state IN (?2, ?3)), "
    "(SELECT COUNT(*) FROM suggestions WHERE experiment_id = ?1 AND state = ?4)";

constexpr char kInsertSuggestionSql[] =
    "INSERT INTO suggestions (experiment_id, state, source, assignment, metadata, worker_id, "
    "lease_expire_time_us, attempts, create_time_us, update_time_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kSelectSuggestionColumns[] =
    "SELECT id, experiment_id, state, source, assignment, metadata, worker_id, "
    "lease_expire_time_us, attempts, create_time_us, update_time_us, stop_reason, stop_step "
    "FROM suggestions";
constexpr char kUpdateSuggestionSql[] =
    "UPDATE suggestions SET state = ?, worker_id = ?, lease_expire_time_us = ?, attempts = ?, "
    "metadata = ?, update_time_us = ?, stop_reason = ?, stop_step = ? WHERE id = ?";
constexpr char kUpsertWorkerSql[] =
    "INSERT INTO workers (id, name, host, threads, labels, register_time_us, last_heartbeat_us, "
    "owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7) ON CONFLICT (id) DO UPDATE SET name = ?2, "
    "host = ?3, threads = ?4, labels = ?5, last_heartbeat_us = ?6, owner = COALESCE(owner, ?7)";
constexpr char kTouchWorkerSql[] = "UPDATE workers SET last_heartbeat_us = ?1 WHERE id = ?2";
constexpr char kSelectWorkersSql[] =
    "SELECT id, name, host, threads, labels, register_time_us, last_heartbeat_us, owner "
    "FROM workers";
constexpr char kCountIssuedSql[] =
    "SELECT COUNT(*) FROM suggestions WHERE experiment_id = ? AND state != ?";

constexpr char kInsertObservationSql[] =
    "INSERT INTO observations (experiment_id, suggestion_id, assignment, failed, failure_reason, "
    "metadata, create_time_us) VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr char kInsertObservationValueSql[] =
    "INSERT INTO observation_values (observation_id, metric, value, stddev) VALUES (?, ?, ?, ?)";
constexpr char kSelectObservationColumns[] =
    "SELECT id, experiment_id, suggestion_id, assignment, failed, failure_reason, metadata, "
    "create_time_us FROM observations";
constexpr char kSelectValuesSql[] =
    "SELECT v.observation_id, v.metric, v.value, v.stddev FROM observation_values v "
    "JOIN observations o ON o.id = v.observation_id WHERE ";

constexpr char kInsertCheckpointSql[] =
    "INSERT INTO checkpoints (suggestion_id, step, metric, value, elapsed_seconds, "
    "create_time_us) VALUES (?, ?, ?, ?, ?, ?)";
constexpr char kSelectCheckpointsSql[] =
    "SELECT step, metric, value, elapsed_seconds, create_time_us FROM checkpoints "
    "WHERE suggestion_id = ? ORDER BY step, metric";

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

void SetTimestamp(int64_t micros, google::protobuf::Timestamp* ts) {
  ts->set_seconds(micros / 1'000'000);
  ts->set_nanos(static_cast<int32_t>((micros % 1'000'000) * 1000));
}

int64_t FromTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000 + ts.nanos() / 1000;
}

template <typename Proto>
absl::Status ParseBlob(const std::string& bytes, Proto* out, absl::string_view what) {
  if (!out->ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("stored ", what, " cannot be parsed"));
  }
  return absl::OkStatus();
}

// Metadata maps are stored as a serialized proto holding only the map field.
template <typename Proto>
std::string MetadataBlob(const Proto& source) {
  Proto holder;
  *holder.mutable_metadata() = source.metadata();
  return holder.SerializeAsString();
}

absl::StatusOr<Suggestion> SuggestionFromRow(const Statement& stmt) {
  Suggestion s;
  s.set_id(stmt.ColumnInt64(0));
  s.set_experiment_id(stmt.ColumnInt64(1));
  s.set_state(static_cast<hpo::v1::SuggestionState>(stmt.ColumnInt64(2)));
  s.set_source(stmt.ColumnText(3));
  HPO_RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(4), s.mutable_assignment(), "assignment"));
  if (!stmt.ColumnIsNull(5)) {
    Suggestion holder;
    HPO_RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(5), &holder, "suggestion metadata"));
    *s.mutable_metadata() = holder.metadata();
  }
  s.set_worker_id(stmt.ColumnText(6));
  if (!stmt.ColumnIsNull(7)) SetTimestamp(stmt.ColumnInt64(7), s.mutable_lease_expire_time());
  s.set_attempts(static_cast<int32_t>(stmt.ColumnInt64(8)));
  SetTimestamp(stmt.ColumnInt64(9), s.mutable_create_time());
  SetTimestamp(stmt.ColumnInt64(10), s.mutable_update_time());
  s.set_stop_reason(stmt.ColumnText(11));
  s.set_stop_step(stmt.ColumnInt64(12));
  return s;
}

// Every remaining row of `stmt` (selecting kSelectSuggestionColumns) as a Suggestion.
absl::StatusOr<std::vector<Suggestion>> CollectSuggestions(Statement& stmt) {
  std::vector<Suggestion> out;
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    HPO_ASSIGN_OR_RETURN(Suggestion s, SuggestionFromRow(stmt));
    out.push_back(std::move(s));
  }
  return out;
}

// " AND state IN (...)" for a non-empty list of enum values, else "". Values are enums, not
// user text, so they are inlined.
template <typename Enum>
std::string StateFilter(const std::vector<Enum>& states) {
  if (states.empty()) return "";
  return absl::StrCat(" AND state IN (",
                      absl::StrJoin(states, ",",
                                    [](std::string* out, Enum s) {
                                      absl::StrAppend(out, static_cast<int>(s));
                                    }),
                      ")");
}

absl::StatusOr<WorkerRecord> WorkerFromRow(const Statement& stmt) {
  WorkerRecord w;
  w.id = stmt.ColumnText(0);
  w.info.set_name(stmt.ColumnText(1));
  w.info.set_host(stmt.ColumnText(2));
  w.info.set_threads(static_cast<int32_t>(stmt.ColumnInt64(3)));
  if (!stmt.ColumnIsNull(4)) {
    hpo::v1::WorkerInfo labels;
    HPO_RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(4), &labels, "worker labels"));
    *w.info.mutable_labels() = labels.labels();
  }
  w.register_time = absl::FromUnixMicros(stmt.ColumnInt64(5));
  w.last_heartbeat = absl::FromUnixMicros(stmt.ColumnInt64(6));
  if (!stmt.ColumnIsNull(7)) w.owner = stmt.ColumnText(7);
  return w;
}

constexpr char kSelectTokensSql[] =
    "SELECT id, name, role, project, create_time_us, revoke_time_us FROM api_tokens";

hpo::v1::ApiToken TokenFromRow(const Statement& stmt) {
  hpo::v1::ApiToken t;
  t.set_id(stmt.ColumnInt64(0));
  t.set_name(stmt.ColumnText(1));
  t.set_role(static_cast<hpo::v1::Role>(stmt.ColumnInt64(2)));
  t.set_project(stmt.ColumnText(3));
  SetTimestamp(stmt.ColumnInt64(4), t.mutable_create_time());
  if (!stmt.ColumnIsNull(5)) SetTimestamp(stmt.ColumnInt64(5), t.mutable_revoke_time());
  return t;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               Clock* clock) {
  return Open(path, clock, Options());
}

namespace {

// Corruption SQLite has detected in this process (SQLITE_CORRUPT, SQLITE_NOTADB), seen through
// its error log: every statement of every connection reports there.
std::atomic<int64_t> g_corruption_events{0};

void OnSqliteLog(void*, int code, const char* message) {
  const int primary = code & 0xff;
  if (primary != SQLITE_CORRUPT && primary != SQLITE_NOTADB) return;
  const int64_t n = g_corruption_events.fetch_add(1) + 1;
  if (n <= 10 || n % 1000 == 0) {
    HPO_LOG(ERROR) << "database corruption detected (" << n << " so far): " << message;
  }
}

// Only possible before SQLite's first use in the process, which Open() normally is.
void InstallCorruptionLog() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sqlite3_config(SQLITE_CONFIG_LOG, &OnSqliteLog, nullptr) != SQLITE_OK) {
      HPO_LOG(WARNING) << "SQLite was in use before the store opened: runtime corruption is "
                          "reported by the calls that hit it only";
    }
  });
}

bool IsFilePath(const std::string& path) {
  return !path.empty() && path != ":memory:" && path.rfind("file:", 0) != 0;
}

// The database and its -wal and -shm hold every project and the token hashes: the owner alone
// may read them. A missing database is created 0600 here (SQLite gives its -wal and -shm the
// database's mode); an existing empty one is refused.
absl::Status PrepareDatabaseFile(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return absl::UnavailableError(absl::StrCat("database ", path, ": ", std::strerror(errno)));
    }
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot create database ", path, ": ", std::strerror(errno)));
    }
    ::close(fd);
    return absl::OkStatus();
  }
  if (S_ISREG(st.st_mode) && st.st_size == 0) {
    struct stat wal;
    if (lstat((path + "-wal").c_str(), &wal) != 0 || wal.st_size == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database ", path,
          " is an empty file (0 bytes), not an hpo database: it may have been truncated. "
          "Restore a backup in its place, or remove it to start a new, empty database"));
    }
  }
  for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
    struct stat f;
    if (lstat(file.c_str(), &f) != 0 || !S_ISREG(f.st_mode) || (f.st_mode & 077) == 0) continue;
    if (chmod(file.c_str(), 0600) == 0) {
      HPO_LOG(WARNING) << file << " was readable by other users; now mode 0600";
    } else {
      HPO_LOG(WARNING) << file << " is readable by other users and cannot be changed to mode "
                       << "0600: " << std::strerror(errno);
    }
  }
  return absl::OkStatus();
}

// PRAGMA quick_check: every page and record well formed (no index cross-check, so it stays
// fast). Starting on a corrupt file would fail calls one by one, later.
absl::Status QuickCheck(sqlite::Database& db, const std::string& path) {
  HPO_ASSIGN_OR_RETURN(Statement check, db.Prepare("PRAGMA quick_check(5)"));
  std::vector<std::string> problems;
  for (;;) {
    absl::StatusOr<bool> row = check.Step();
    if (!row.ok()) {
      return absl::DataLossError(
          absl::StrCat("database ", path, " failed its integrity check (", row.status().message(),
                       "). Restore a backup in its place (docs/security.md, Backups)"));
    }
    if (!*row) break;
    const std::string line = check.ColumnText(0);
    if (line != "ok") problems.push_back(line);
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "database ", path, " failed its integrity check: ", absl::StrJoin(problems, "; "),
      ". Restore a backup in its place (docs/security.md, Backups)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               Clock* clock,
                                                               const Options& options) {
  InstallCorruptionLog();
  const int64_t corruption_before = g_corruption_events.load();
  if (IsFilePath(path)) HPO_RETURN_IF_ERROR(PrepareDatabaseFile(path));
  HPO_ASSIGN_OR_RETURN(sqlite::Database db, sqlite::Database::Open(path));
  HPO_RETURN_IF_ERROR(QuickCheck(db, path));
  HPO_ASSIGN_OR_RETURN(MigrationResult migration, MigrateToLatest(db));
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(db), clock));
  store->migration_ = migration;
  store->corruption_events_at_open_ = corruption_before;
  HPO_RETURN_IF_ERROR(store->Ping());
  if (const char* file = sqlite3_db_filename(store->db_.raw(), "main");
      options.background_checkpoints && file != nullptr && *file != '\0') {
    HPO_ASSIGN_OR_RETURN(store->checkpointer_,
                         sqlite::Checkpointer::Start(store->db_.raw(), file));
  }
  return store;
}

SqliteStore::SqliteStore(sqlite::Database db, Clock* clock) : db_(std::move(db)), clock_(clock) {
  // The main database's file name; empty for an in-memory database.
  const char* file = sqlite3_db_filename(db_.raw(), "main");
  wal_sync_ = std::make_unique<sqlite::WalSync>(
      file == nullptr || *file == '\0' ? std::string() : std::string(file) + "-wal");
}

absl::Status SqliteStore::Transact(const std::function<absl::Status()>& fn,
                                   Durability durability) {
  if (in_transaction_) return absl::InternalError("Transact() does not nest");
  const bool relaxed = durability != Durability::kFull;
  if (relaxed) HPO_RETURN_IF_ERROR(db_.Execute("PRAGMA synchronous=NORMAL"));
  absl::Status status = db_.Execute("BEGIN IMMEDIATE");
  if (status.ok()) {
    in_transaction_ = true;
    status = fn();
    if (status.ok()) status = db_.Execute("COMMIT");
    if (status.ok()) wal_sync_->Committed();
    if (!status.ok()) (void)db_.Execute("ROLLBACK");
    in_transaction_ = false;
  }
  if (relaxed) {
    const absl::Status restored = db_.Execute("PRAGMA synchronous=FULL");
    if (status.ok()) status = restored;
  }
  return status;
}

absl::Status SqliteStore::Ping() {
  // SQLite reported corruption since this store opened (only one database per process is
  // served, so any report counts): the file cannot be trusted until it is restored.
  if (g_corruption_events.load() > corruption_events_at_open_) {
    return absl::DataLossError(
        "the database is corrupt (see the log); restore a backup (docs/security.md, Backups)");
  }
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("SELECT 1"));
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row || stmt.ColumnInt64(0) != 1) return absl::InternalError("SELECT 1 failed");
  return absl::OkStatus();
}

int64_t SqliteStore::ChangeCount() { return sqlite3_total_changes64(db_.raw()); }

absl::StatusOr<Experiment> SqliteStore::InsertExperiment(const Experiment& experiment) {
  Experiment spec = experiment;
  spec.clear_id();
  spec.clear_state();
  spec.clear_create_time();
  spec.clear_update_time();
  spec.clear_progress();
  const int64_t now = ToMicros(clock_->Now());
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kInsertExperimentSql));
  stmt.BindText(1, experiment.project())
      .BindText(2, experiment.name())
      .BindInt64(3, experiment.state())
      .BindBlob(4, spec.SerializeAsString())
      .BindInt64(5, experiment.observation_budget())
      .BindInt64(6, experiment.parallel_bandwidth())
      .BindInt64(7, now)
      .BindInt64(8, now);
  absl::Status s = stmt.Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat("experiment.name: an experiment named \"",
                                                 experiment.name(), "\" already exists in project \"",
                                                 experiment.project(), "\""));
  }
  HPO_RETURN_IF_ERROR(s);
  return GetExperiment(db_.LastInsertRowId());
}

absl::StatusOr<Experiment> SqliteStore::ExperimentFromRow(const Statement& stmt) {
  Experiment e;
  HPO_RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(2), &e, "experiment spec"));
  e.set_id(stmt.ColumnInt64(0));
  e.set_state(static_cast<hpo::v1::ExperimentState>(stmt.ColumnInt64(1)));
  SetTimestamp(stmt.ColumnInt64(3), e.mutable_create_time());
  SetTimestamp(stmt.ColumnInt64(4), e.mutable_update_time());
  HPO_RETURN_IF_ERROR(FillProgress(e));
  return e;
}

absl::Status SqliteStore::FillProgress(Experiment& e) {
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kProgressSql));
  stmt.BindInt64(1, e.id())
      .BindInt64(2, hpo::v1::SUGGESTION_STATE_OPEN)
      .BindInt64(3, hpo::v1::SUGGESTION_STATE_ACTIVE)
      .BindInt64(4, hpo::v1::SUGGESTION_STATE_QUEUED);
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError("progress query returned no row");
  auto* p = e.mutable_progress();
  p->set_observation_count(static_cast<int32_t>(stmt.ColumnInt64(0)));
  p->set_failed_observation_count(static_cast<int32_t>(stmt.ColumnInt64(1)));
  p->set_open_suggestion_count(static_cast<int32_t>(stmt.ColumnInt64(2)));
  p->set_queued_suggestion_count(static_cast<int32_t>(stmt.ColumnInt64(3)));
  return absl::OkStatus();
}

absl::StatusOr<Experiment> SqliteStore::GetExperiment(int64_t experiment_id) {
  HPO_ASSIGN_OR_RETURN(Statement stmt,
                       db_.Prepare(absl::StrCat(kSelectExperimentColumns, " WHERE id = ?")));
  stmt.BindInt64(1, experiment_id);
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("experiment ", experiment_id, " not found"));
  return ExperimentFromRow(stmt);
}

absl::StatusOr<std::vector<Experiment>> SqliteStore::ListExperiments(
    const std::string& project, const std::vector<hpo::v1::ExperimentState>& states) {
  std::string sql = absl::StrCat(kSelectExperimentColumns, " WHERE (?1 = '' OR project = ?1)");
  absl::StrAppend(&sql, StateFilter(states));
  absl::StrAppend(&sql, " ORDER BY id DESC");
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(sql));
  stmt.BindText(1, project);
  std::vector<Experiment> out;
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    HPO_ASSIGN_OR_RETURN(Experiment e, ExperimentFromRow(stmt));
    out.push_back(std::move(e));
  }
  return out;
}

absl::Status SqliteStore::UpdateExperimentState(int64_t experiment_id,
                                                hpo::v1::ExperimentState state) {
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kUpdateExperimentStateSql));
  stmt.BindInt64(1, state).BindInt64(2, ToMicros(clock_->Now())).BindInt64(3, experiment_id);
  HPO_RETURN_IF_ERROR(stmt.Run());
  if (db_.Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("experiment ", experiment_id, " not found"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Suggestion> SqliteStore::InsertSuggestion(const Suggestion& suggestion) {
  const int64_t now = ToMicros(clock_->Now());
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kInsertSuggestionSql));
  stmt.BindInt64(1, suggestion.experiment_id())
      .BindInt64(2, suggestion.state())
      .BindText(3, suggestion.source())
      .BindBlob(4, suggestion.assignment().SerializeAsString())
      .BindBlob(5, MetadataBlob(suggestion));
  if (suggestion.worker_id().empty()) {
    stmt.BindNull(6);
  } else {
    stmt.BindText(6, suggestion.worker_id());
  }
  if (suggestion.has_lease_expire_time()) {
    stmt.BindInt64(7, FromTimestamp(suggestion.lease_expire_time()));
  } else {
    stmt.BindNull(7);
  }
  stmt.BindInt64(8, suggestion.attempts()).BindInt64(9, now).BindInt64(10, now);
  HPO_RETURN_IF_ERROR(stmt.Run());
  return GetSuggestion(db_.LastInsertRowId());
}

absl::StatusOr<Suggestion> SqliteStore::GetSuggestion(int64_t suggestion_id) {
  HPO_ASSIGN_OR_RETURN(Statement stmt,
                       db_.Prepare(absl::StrCat(kSelectSuggestionColumns, " WHERE id = ?")));
  stmt.BindInt64(1, suggestion_id);
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("suggestion ", suggestion_id, " not found"));
  return SuggestionFromRow(stmt);
}

absl::StatusOr<std::vector<Suggestion>> SqliteStore::ListSuggestions(
    int64_t experiment_id, const std::vector<hpo::v1::SuggestionState>& states) {
  std::string sql = absl::StrCat(kSelectSuggestionColumns, " WHERE experiment_id = ?");
  absl::StrAppend(&sql, StateFilter(states));
  absl::StrAppend(&sql, " ORDER BY id");
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(sql));
  stmt.BindInt64(1, experiment_id);
  return CollectSuggestions(stmt);
}

absl::StatusOr<std::vector<std::pair<int64_t, hpo::v1::SuggestionState>>>
SqliteStore::ListSuggestionStates(int64_t experiment_id) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT id, state FROM suggestions WHERE experiment_id = ? ORDER BY id"));
  stmt.BindInt64(1, experiment_id);
  std::vector<std::pair<int64_t, hpo::v1::SuggestionState>> out;
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.emplace_back(stmt.ColumnInt64(0),
                     static_cast<hpo::v1::SuggestionState>(stmt.ColumnInt64(1)));
  }
  return out;
}

absl::Status SqliteStore::UpdateSuggestion(const Suggestion& suggestion) {
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kUpdateSuggestionSql));
  stmt.BindInt64(1, suggestion.state());
  if (suggestion.worker_id().empty()) {
    stmt.BindNull(2);
  } else {
    stmt.BindText(2, suggestion.worker_id());
  }
  if (suggestion.has_lease_expire_time()) {
    stmt.BindInt64(3, FromTimestamp(suggestion.lease_expire_time()));
  } else {
    stmt.BindNull(3);
  }
  stmt.BindInt64(4, suggestion.attempts())
      .BindBlob(5, MetadataBlob(suggestion))
      .BindInt64(6, ToMicros(clock_->Now()))
      .BindText(7, suggestion.stop_reason())
      .BindInt64(8, suggestion.stop_step())
      .BindInt64(9, suggestion.id());
  HPO_RETURN_IF_ERROR(stmt.Run());
  if (db_.Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("suggestion ", suggestion.id(), " not found"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteStore::CountIssuedSuggestions(int64_t experiment_id) {
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kCountIssuedSql));
  stmt.BindInt64(1, experiment_id).BindInt64(2, hpo::v1::SUGGESTION_STATE_QUEUED);
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError("count returned no row");
  return stmt.ColumnInt64(0);
}

absl::StatusOr<Observation> SqliteStore::InsertObservation(const Observation& observation) {
  const int64_t now = ToMicros(clock_->Now());
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kInsertObservationSql));
  stmt.BindInt64(1, observation.experiment_id());
  if (observation.suggestion_id() == 0) {
    stmt.BindNull(2);
  } else {
    stmt.BindInt64(2, observation.suggestion_id());
  }
  stmt.BindBlob(3, observation.assignment().SerializeAsString())
      .BindInt64(4, observation.failed() ? 1 : 0)
      .BindText(5, observation.failure_reason())
      .BindBlob(6, MetadataBlob(observation))
      .BindInt64(7, now);
  absl::Status s = stmt.Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat("suggestion ", observation.suggestion_id(),
                                                 " already has an observation"));
  }
  HPO_RETURN_IF_ERROR(s);
  const int64_t id = db_.LastInsertRowId();
  HPO_ASSIGN_OR_RETURN(Statement value_stmt, db_.Prepare(kInsertObservationValueSql));
  for (const hpo::v1::MetricValue& v : observation.values()) {
    value_stmt.Reset();
    value_stmt.BindInt64(1, id).BindText(2, v.name()).BindDouble(3, v.value());
    value_stmt.BindOptionalDouble(4, v.has_stddev() ? std::optional<double>(v.stddev())
                                                    : std::nullopt);
    HPO_RETURN_IF_ERROR(value_stmt.Run());
  }
  HPO_ASSIGN_OR_RETURN(std::vector<Observation> stored, QueryObservations("o.id = ?", id));
  if (stored.size() != 1) return absl::InternalError("inserted observation not found");
  return std::move(stored.front());
}

absl::StatusOr<std::vector<Observation>> SqliteStore::QueryObservations(const std::string& where,
                                                                        int64_t key) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare(absl::StrCat(kSelectObservationColumns, " o WHERE ", where, " ORDER BY o.id")));
  stmt.BindInt64(1, key);
  std::vector<Observation> out;
  absl::flat_hash_map<int64_t, size_t> index;
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    Observation o;
    o.set_id(stmt.ColumnInt64(0));
    o.set_experiment_id(stmt.ColumnInt64(1));
    if (!stmt.ColumnIsNull(2)) o.set_suggestion_id(stmt.ColumnInt64(2));
    HPO_RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(3), o.mutable_assignment(), "assignment"));
    o.set_failed(stmt.ColumnInt64(4) != 0);
    o.set_failure_reason(stmt.ColumnText(5));
    if (!stmt.ColumnIsNull(6)) {
      Observation holder;
      HPO_RETURN_IF_ERROR(ParseBlob(stmt.ColumnBlob(6), &holder, "observation metadata"));
      *o.mutable_metadata() = holder.metadata();
    }
    SetTimestamp(stmt.ColumnInt64(7), o.mutable_create_time());
    index[o.id()] = out.size();
    out.push_back(std::move(o));
  }
  if (out.empty()) return out;
  HPO_ASSIGN_OR_RETURN(Statement values,
                       db_.Prepare(absl::StrCat(kSelectValuesSql, where,
                                                " ORDER BY v.observation_id, v.metric")));
  values.BindInt64(1, key);
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, values.Step());
    if (!row) break;
    auto it = index.find(values.ColumnInt64(0));
    if (it == index.end()) continue;
    hpo::v1::MetricValue* v = out[it->second].add_values();
    v->set_name(values.ColumnText(1));
    v->set_value(values.ColumnDouble(2));
    if (!values.ColumnIsNull(3)) v->set_stddev(values.ColumnDouble(3));
  }
  return out;
}

absl::StatusOr<std::optional<Observation>> SqliteStore::FindObservationBySuggestion(
    int64_t suggestion_id) {
  HPO_ASSIGN_OR_RETURN(std::vector<Observation> found,
                       QueryObservations("o.suggestion_id = ?", suggestion_id));
  if (found.empty()) return std::optional<Observation>();
  return std::optional<Observation>(std::move(found.front()));
}

absl::StatusOr<std::vector<Observation>> SqliteStore::ListObservations(int64_t experiment_id) {
  return QueryObservations("o.experiment_id = ?", experiment_id);
}

absl::Status SqliteStore::InsertCheckpoint(int64_t suggestion_id, const Checkpoint& checkpoint) {
  const int64_t now = ToMicros(clock_->Now());
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kInsertCheckpointSql));
  for (const hpo::v1::MetricValue& v : checkpoint.metrics()) {
    stmt.Reset();
    stmt.BindInt64(1, suggestion_id)
        .BindInt64(2, checkpoint.step())
        .BindText(3, v.name())
        .BindDouble(4, v.value())
        .BindDouble(5, checkpoint.elapsed_seconds())
        .BindInt64(6, now);
    absl::Status s = stmt.Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat("suggestion ", suggestion_id, " already has ",
                                                   v.name(), " at step ", checkpoint.step()));
    }
    HPO_RETURN_IF_ERROR(s);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Checkpoint>> SqliteStore::ListCheckpoints(int64_t suggestion_id) {
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kSelectCheckpointsSql));
  stmt.BindInt64(1, suggestion_id);
  std::vector<Checkpoint> out;
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    const int64_t step = stmt.ColumnInt64(0);
    if (out.empty() || out.back().step() != step) {
      Checkpoint& c = out.emplace_back();
      c.set_step(step);
      c.set_elapsed_seconds(stmt.ColumnDouble(3));
      SetTimestamp(stmt.ColumnInt64(4), c.mutable_create_time());
    }
    hpo::v1::MetricValue* v = out.back().add_metrics();
    v->set_name(stmt.ColumnText(1));
    v->set_value(stmt.ColumnDouble(2));
  }
  return out;
}

absl::StatusOr<std::vector<Suggestion>> SqliteStore::ListLeasedSuggestions(
    const std::string& worker_id, absl::Time expired_before) {
  std::string sql = absl::StrCat(kSelectSuggestionColumns, " WHERE state = ?1");
  if (!worker_id.empty()) absl::StrAppend(&sql, " AND worker_id = ?2");
  if (expired_before != absl::InfiniteFuture()) {
    absl::StrAppend(&sql, " AND lease_expire_time_us < ?3");
  }
  absl::StrAppend(&sql, " ORDER BY id");
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(sql));
  stmt.BindInt64(1, hpo::v1::SUGGESTION_STATE_ACTIVE);
  if (!worker_id.empty()) stmt.BindText(2, worker_id);
  if (expired_before != absl::InfiniteFuture()) stmt.BindInt64(3, ToMicros(expired_before));
  return CollectSuggestions(stmt);
}

absl::StatusOr<std::map<int64_t, std::vector<Checkpoint>>> SqliteStore::ListExperimentCheckpoints(
    int64_t experiment_id) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT c.suggestion_id, c.step, c.metric, c.value, c.elapsed_seconds, "
                  "c.create_time_us FROM checkpoints c JOIN suggestions s ON s.id = c.suggestion_id "
                  "WHERE s.experiment_id = ? ORDER BY c.suggestion_id, c.step, c.metric"));
  stmt.BindInt64(1, experiment_id);
  std::map<int64_t, std::vector<Checkpoint>> out;
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    std::vector<Checkpoint>& curve = out[stmt.ColumnInt64(0)];
    const int64_t step = stmt.ColumnInt64(1);
    if (curve.empty() || curve.back().step() != step) {
      Checkpoint& c = curve.emplace_back();
      c.set_step(step);
      c.set_elapsed_seconds(stmt.ColumnDouble(4));
      SetTimestamp(stmt.ColumnInt64(5), c.mutable_create_time());
    }
    hpo::v1::MetricValue* v = curve.back().add_metrics();
    v->set_name(stmt.ColumnText(2));
    v->set_value(stmt.ColumnDouble(3));
  }
  return out;
}

absl::StatusOr<std::optional<int64_t>> SqliteStore::GetReportedStep(int64_t suggestion_id,
                                                                    int attempt) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT report_step FROM suggestions WHERE id = ? AND report_attempt = ?"));
  stmt.BindInt64(1, suggestion_id).BindInt64(2, attempt);
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row || stmt.ColumnIsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(stmt.ColumnInt64(0));
}

absl::Status SqliteStore::SetReportedStep(int64_t suggestion_id, int attempt, int64_t step) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("UPDATE suggestions SET report_attempt = ?, report_step = ? WHERE id = ?"));
  stmt.BindInt64(1, attempt).BindInt64(2, step).BindInt64(3, suggestion_id);
  return stmt.Run();
}

absl::Status SqliteStore::ClearReportedStep(int64_t suggestion_id) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("UPDATE suggestions SET report_attempt = NULL, report_step = NULL WHERE id = ?"));
  stmt.BindInt64(1, suggestion_id);
  return stmt.Run();
}

absl::StatusOr<bool> SqliteStore::HasCheckpoint(int64_t suggestion_id, int64_t step) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT 1 FROM checkpoints WHERE suggestion_id = ? AND step = ? LIMIT 1"));
  stmt.BindInt64(1, suggestion_id).BindInt64(2, step);
  return stmt.Step();
}

absl::Status SqliteStore::UpsertWorker(const std::string& worker_id,
                                       const hpo::v1::WorkerInfo& info, const std::string& owner) {
  hpo::v1::WorkerInfo labels;
  *labels.mutable_labels() = info.labels();
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kUpsertWorkerSql));
  stmt.BindText(1, worker_id)
      .BindText(2, info.name())
      .BindText(3, info.host())
      .BindInt64(4, info.threads())
      .BindBlob(5, labels.SerializeAsString())
      .BindInt64(6, ToMicros(clock_->Now()))
      .BindText(7, owner);
  return stmt.Run();
}

absl::Status SqliteStore::TouchWorker(const std::string& worker_id) {
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(kTouchWorkerSql));
  stmt.BindInt64(1, ToMicros(clock_->Now())).BindText(2, worker_id);
  HPO_RETURN_IF_ERROR(stmt.Run());
  if (db_.Changes() == 0) {
    return absl::NotFoundError(
        absl::StrCat("worker_id: worker \"", worker_id, "\" is not registered"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WorkerRecord>> SqliteStore::ListWorkers() {
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(absl::StrCat(kSelectWorkersSql, " ORDER BY id")));
  std::vector<WorkerRecord> out;
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    HPO_ASSIGN_OR_RETURN(WorkerRecord w, WorkerFromRow(stmt));
    out.push_back(std::move(w));
  }
  return out;
}

absl::StatusOr<WorkerRecord> SqliteStore::GetWorker(const std::string& worker_id) {
  HPO_ASSIGN_OR_RETURN(Statement stmt,
                       db_.Prepare(absl::StrCat(kSelectWorkersSql, " WHERE id = ?")));
  stmt.BindText(1, worker_id);
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("worker_id: worker \"", worker_id, "\" is not registered"));
  }
  return WorkerFromRow(stmt);
}

namespace {
constexpr char kSelectGangSql[] =
    "SELECT suggestion_id, worker_id, rank, lease_expire_time_us, released FROM gang_members";

absl::StatusOr<std::vector<GangMember>> CollectGangMembers(Statement& stmt) {
  std::vector<GangMember> out;
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    GangMember& m = out.emplace_back();
    m.suggestion_id = stmt.ColumnInt64(0);
    m.worker_id = stmt.ColumnText(1);
    m.rank = static_cast<int>(stmt.ColumnInt64(2));
    m.lease_expire_time = absl::FromUnixMicros(stmt.ColumnInt64(3));
    m.released = stmt.ColumnInt64(4) != 0;
  }
  return out;
}
}  // namespace

absl::Status SqliteStore::UpsertGangMember(const GangMember& member) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("INSERT INTO gang_members (suggestion_id, worker_id, rank, lease_expire_time_us, "
                  "released) VALUES (?, ?, ?, ?, ?) ON CONFLICT (suggestion_id, worker_id) DO "
                  "UPDATE SET rank = excluded.rank, lease_expire_time_us = "
                  "excluded.lease_expire_time_us, released = excluded.released"));
  stmt.BindInt64(1, member.suggestion_id)
      .BindText(2, member.worker_id)
      .BindInt64(3, member.rank)
      .BindInt64(4, ToMicros(member.lease_expire_time))
      .BindInt64(5, member.released ? 1 : 0);
  return stmt.Run();
}

absl::StatusOr<std::vector<GangMember>> SqliteStore::ListGangMembers(int64_t suggestion_id) {
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(absl::StrCat(
                                           kSelectGangSql, " WHERE suggestion_id = ? ORDER BY rank")));
  stmt.BindInt64(1, suggestion_id);
  return CollectGangMembers(stmt);
}

absl::StatusOr<std::vector<GangMember>> SqliteStore::ListGangPlaces(const std::string& worker_id,
                                                                    absl::Time expired_before) {
  std::string sql = absl::StrCat(kSelectGangSql, " WHERE released = 0");
  if (!worker_id.empty()) absl::StrAppend(&sql, " AND worker_id = ?1");
  if (expired_before != absl::InfiniteFuture()) {
    absl::StrAppend(&sql, " AND lease_expire_time_us < ?2");
  }
  absl::StrAppend(&sql, " ORDER BY suggestion_id, rank");
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(sql));
  if (!worker_id.empty()) stmt.BindText(1, worker_id);
  if (expired_before != absl::InfiniteFuture()) stmt.BindInt64(2, ToMicros(expired_before));
  return CollectGangMembers(stmt);
}

absl::Status SqliteStore::DeleteGangMembers(int64_t suggestion_id, const std::string& worker_id) {
  std::string sql = "DELETE FROM gang_members WHERE suggestion_id = ?1";
  if (!worker_id.empty()) absl::StrAppend(&sql, " AND worker_id = ?2");
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(sql));
  stmt.BindInt64(1, suggestion_id);
  if (!worker_id.empty()) stmt.BindText(2, worker_id);
  return stmt.Run();
}

absl::StatusOr<hpo::v1::ApiToken> SqliteStore::InsertToken(const hpo::v1::ApiToken& token,
                                                          const std::string& secret_sha256) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("INSERT INTO api_tokens (name, secret_sha256, role, project, create_time_us) "
                  "VALUES (?, ?, ?, ?, ?)"));
  stmt.BindText(1, token.name())
      .BindText(2, secret_sha256)
      .BindInt64(3, token.role())
      .BindText(4, token.project())
      .BindInt64(5, ToMicros(clock_->Now()));
  absl::Status inserted = stmt.Run();
  if (absl::IsAlreadyExists(inserted)) {
    return absl::AlreadyExistsError(
        absl::StrCat("name: a token named \"", token.name(), "\" already exists"));
  }
  HPO_RETURN_IF_ERROR(inserted);
  const int64_t id = db_.LastInsertRowId();
  HPO_ASSIGN_OR_RETURN(std::vector<hpo::v1::ApiToken> all, ListTokens());
  for (hpo::v1::ApiToken& t : all) {
    if (t.id() == id) return t;
  }
  return absl::InternalError("inserted token not found");
}

absl::StatusOr<std::optional<hpo::v1::ApiToken>> SqliteStore::FindTokenBySecretHash(
    const std::string& secret_sha256) {
  HPO_ASSIGN_OR_RETURN(Statement stmt,
                       db_.Prepare(absl::StrCat(kSelectTokensSql, " WHERE secret_sha256 = ?")));
  stmt.BindText(1, secret_sha256);
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<hpo::v1::ApiToken>();
  return std::optional<hpo::v1::ApiToken>(TokenFromRow(stmt));
}

absl::StatusOr<std::vector<hpo::v1::ApiToken>> SqliteStore::ListTokens() {
  HPO_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(absl::StrCat(kSelectTokensSql, " ORDER BY id")));
  std::vector<hpo::v1::ApiToken> out;
  while (true) {
    HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.push_back(TokenFromRow(stmt));
  }
  return out;
}

absl::StatusOr<hpo::v1::ApiToken> SqliteStore::RevokeToken(int64_t token_id) {
  HPO_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("UPDATE api_tokens SET revoke_time_us = ? WHERE id = ? AND revoke_time_us IS NULL"));
  stmt.BindInt64(1, ToMicros(clock_->Now())).BindInt64(2, token_id);
  HPO_RETURN_IF_ERROR(stmt.Run());
  HPO_ASSIGN_OR_RETURN(Statement get,
                       db_.Prepare(absl::StrCat(kSelectTokensSql, " WHERE id = ?")));
  get.BindInt64(1, token_id);
  HPO_ASSIGN_OR_RETURN(bool row, get.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("token_id: token ", token_id, " not found"));
  return TokenFromRow(get);
}

absl::StatusOr<int64_t> SqliteStore::Backup(const std::string& path) {
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("path: contains a NUL byte");
  }
  // The copy is created here, 0600, and never through a symbolic link (a dangling one
  // included): O_EXCL refuses any existing name.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("path: \"", path, "\" already exists"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("path: cannot create \"", path, "\": ", std::strerror(errno)));
  }
  ::close(fd);
  std::error_code ec;
  sqlite3* dest = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW,
                           nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = dest ? sqlite3_errmsg(dest) : "out of memory";
    sqlite3_close(dest);
    std::filesystem::remove(path, ec);
    return absl::InvalidArgumentError(
        absl::StrCat("path: cannot create \"", path, "\": ", message));
  }
  // One step copies every page: the caller holds the store's lock, so no write interleaves and
  // the copy is one consistent snapshot (pages are copied at memory speed).
  sqlite3_backup* backup = sqlite3_backup_init(dest, "main", db_.raw(), "main");
  if (backup == nullptr) {
    const std::string message = sqlite3_errmsg(dest);
    sqlite3_close(dest);
    std::filesystem::remove(path, ec);
    return absl::InternalError(absl::StrCat("backup: ", message));
  }
  rc = sqlite3_backup_step(backup, -1);
  const int finish = sqlite3_backup_finish(backup);
  if (rc == SQLITE_DONE && finish == SQLITE_OK) {
    // The copy is a plain rollback-journal file: self-contained, one file to move around.
    rc = sqlite3_exec(dest, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  }
  const std::string message = sqlite3_errmsg(dest);
  sqlite3_close(dest);
  if ((rc != SQLITE_DONE && rc != SQLITE_OK) || finish != SQLITE_OK) {
    std::filesystem::remove(path, ec);
    return absl::InternalError(absl::StrCat("backup to \"", path, "\" failed: ", message));
  }
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? int64_t{0} : static_cast<int64_t>(size);
}

}  // namespace hpo::store
