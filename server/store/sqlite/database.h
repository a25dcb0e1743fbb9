// File: server/store/sqlite/database.h
//
// A thin RAII layer over the SQLite C API (after Chromium's sql/): Database owns a connection,
// Statement a prepared statement, and SqliteStatus() is the only place where SQLite result codes
// become absl::Status:
//   SQLITE_BUSY, SQLITE_LOCKED          -> UNAVAILABLE (the caller may retry)
//   SQLITE_CONSTRAINT (unique/primary)  -> ALREADY_EXISTS; other constraints -> FAILED_PRECONDITION
//   SQLITE_CORRUPT, SQLITE_NOTADB       -> DATA_LOSS
//   SQLITE_CANTOPEN, SQLITE_PERM, ...   -> UNAVAILABLE / PERMISSION_DENIED
//   anything else                       -> INTERNAL
//
// Thread-safety: a Database and its Statements belong to one thread at a time; callers serialize.
#ifndef HPO_SERVER_STORE_SQLITE_DATABASE_H_
#define HPO_SERVER_STORE_SQLITE_DATABASE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hpo::store::sqlite {

// Converts a SQLite result code into a Status. `db` (may be null) supplies sqlite3_errmsg;
// `context` names the operation or statement.
absl::Status SqliteStatus(int code, sqlite3* db, absl::string_view context);

class Statement;

// An open connection. Move-only; closes on destruction.
class Database {
 public:
  struct Options {
    // Journal mode WAL, synchronous FULL: a committed transaction survives a process kill and
    // a power loss. foreign_keys ON. busy_timeout for readers from other processes (backups).
    int busy_timeout_ms = 5000;
  };

  // Opens (creating if missing) the database at `path`; ":memory:" gives a private in-memory one.
  // Applies the connection settings above. Returns UNAVAILABLE if the file cannot be opened and
  // DATA_LOSS if it is not a database.
  static absl::StatusOr<Database> Open(const std::string& path, const Options& options);
  static absl::StatusOr<Database> Open(const std::string& path) { return Open(path, Options()); }

  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs one or more statements that return no rows of interest.
  absl::Status Execute(absl::string_view sql);

  // Prepares one statement. The Statement must not outlive this Database.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);

  int64_t LastInsertRowId() const;
  int Changes() const;
  sqlite3* raw() const { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// A prepared statement. Bind parameters are 1-based, columns 0-based (as in SQLite).
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& BindInt64(int index, int64_t value);
  Statement& BindDouble(int index, double value);
  Statement& BindText(int index, absl::string_view value);
  Statement& BindBlob(int index, absl::string_view bytes);
  Statement& BindNull(int index);
  Statement& BindOptionalDouble(int index, std::optional<double> value);

  // Advances to the next row. Returns true when a row is available, false when done.
  // A bind error recorded earlier is returned here.
  absl::StatusOr<bool> Step();
  // Steps a statement that must not return rows (INSERT/UPDATE/DELETE).
  absl::Status Run();

  int64_t ColumnInt64(int col) const;
  double ColumnDouble(int col) const;
  std::string ColumnText(int col) const;
  std::string ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

  // Clears bindings and rewinds for reuse.
  void Reset();

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void Check(int code, int index);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status bind_status_;
};

}  // namespace hpo::store::sqlite

#endif  // HPO_SERVER_STORE_SQLITE_DATABASE_H_
