#include "server/store/migrator.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/status_util.h"

namespace hpo::store {
namespace {

// meta.compatible_version, or `fallback` when the table or row is absent.
absl::StatusOr<int> CompatibleVersion(sqlite::Database& db, int fallback) {
  HPO_ASSIGN_OR_RETURN(
      sqlite::Statement exists,
      db.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"));
  HPO_ASSIGN_OR_RETURN(bool has_meta, exists.Step());
  if (!has_meta) return fallback;
  HPO_ASSIGN_OR_RETURN(sqlite::Statement stmt,
                       db.Prepare("SELECT value FROM meta WHERE key = 'compatible_version'"));
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return fallback;
  int version = 0;
  if (!absl::SimpleAtoi(stmt.ColumnText(0), &version)) {
    return absl::DataLossError(
        absl::StrCat("meta.compatible_version is not a number: ", stmt.ColumnText(0)));
  }
  return version;
}

}  // namespace

absl::StatusOr<int> SchemaVersion(sqlite::Database& db) {
  HPO_ASSIGN_OR_RETURN(sqlite::Statement stmt, db.Prepare("PRAGMA user_version"));
  HPO_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError("PRAGMA user_version returned no row");
  return static_cast<int>(stmt.ColumnInt64(0));
}

absl::StatusOr<MigrationResult> Migrate(sqlite::Database& db,
                                        const std::vector<migrations::Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return absl::InternalError(absl::StrCat("migration ", migrations[i].name, " has version ",
                                              migrations[i].version, ", expected ", i + 1));
    }
  }
  const int latest = static_cast<int>(migrations.size());
  MigrationResult result;
  HPO_ASSIGN_OR_RETURN(result.from_version, SchemaVersion(db));
  result.to_version = result.from_version;
  if (result.from_version > latest) {
    HPO_ASSIGN_OR_RETURN(int compatible, CompatibleVersion(db, result.from_version));
    if (compatible > latest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema version ", result.from_version, " (readable from version ",
          compatible, ") is newer than this binary's schema version ", latest,
          "; upgrade hpo-server or restore a backup made before the upgrade"));
    }
    return result;  // newer but backward compatible: use as is
  }
  for (const migrations::Migration& m : migrations) {
    if (m.version <= result.from_version) continue;
    HPO_RETURN_IF_ERROR(db.Execute("BEGIN IMMEDIATE"));
    absl::Status s = db.Execute(m.sql);
    if (s.ok()) s = db.Execute(absl::StrCat("PRAGMA user_version = ", m.version));
    if (s.ok()) s = db.Execute("COMMIT");
    if (!s.ok()) {
      (void)db.Execute("ROLLBACK");
      return Annotate(s, absl::StrCat("applying migration ", m.name));
    }
    result.to_version = m.version;
  }
  return result;
}

absl::StatusOr<MigrationResult> MigrateToLatest(sqlite::Database& db) {
  return Migrate(db, migrations::All());
}

}  // namespace hpo::store
