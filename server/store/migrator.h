// File: server/store/migrator.h
//
// Brings a database to the schema version of this binary by applying the embedded
// migrations/NNNN_*.sql files in order, each in its own transaction. The applied version is
// kept in PRAGMA user_version; the oldest schema version able to read the file is kept in
// meta.compatible_version (Chromium's MetaTable idea), so a newer database whose changes are
// backward compatible still opens with an older binary, and an incompatible one is refused.
#ifndef HPO_SERVER_STORE_MIGRATOR_H_
#define HPO_SERVER_STORE_MIGRATOR_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "migrations/migrations.h"
#include "server/store/sqlite/database.h"

namespace hpo::store {

struct MigrationResult {
  int from_version = 0;
  int to_version = 0;
};

// Applies `migrations` (ordered, versions 1..N without gaps) to `db`.
// Returns FAILED_PRECONDITION when the database's compatible version is newer than N
// (the message says which versions and what to do), INTERNAL for a malformed migration list,
// and the SQLite error (annotated with the file name) when a migration fails; a failed
// migration leaves the database at the previous version.
absl::StatusOr<MigrationResult> Migrate(sqlite::Database& db,
                                        const std::vector<migrations::Migration>& migrations);

// Migrate() with every migration embedded in this binary.
absl::StatusOr<MigrationResult> MigrateToLatest(sqlite::Database& db);

// The current PRAGMA user_version of `db`.
absl::StatusOr<int> SchemaVersion(sqlite::Database& db);

}  // namespace hpo::store

#endif  // HPO_SERVER_STORE_MIGRATOR_H_
