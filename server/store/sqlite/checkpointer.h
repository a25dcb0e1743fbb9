// File: server/store/sqlite/checkpointer.h
//
// Background WAL checkpoints for the server's one writing connection. By default SQLite
// checkpoints inside the commit that crosses 1000 WAL pages: that commit copies the WAL into the
// database and fsyncs both, while the store's callers wait behind the service lock (measured in
// docs/benchmarks.md, "Control plane"). Here the writer's commit hook only counts WAL pages; a
// thread with its own connection runs PASSIVE checkpoints, which never block the writer (SQLite
// lets one checkpointer run beside one writer in WAL mode), and the writer restarts the WAL from
// its start once a checkpoint has copied all of it. Durability is unchanged: a checkpoint syncs the
// WAL before and the database after copying (synchronous=FULL on its connection).
//
// If the thread falls far behind (kInlinePages), the writer checkpoints inline as before, so the
// WAL stays bounded.
#ifndef HPO_SERVER_STORE_SQLITE_CHECKPOINTER_H_
#define HPO_SERVER_STORE_SQLITE_CHECKPOINTER_H_

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/store/sqlite/database.h"

namespace hpo::store::sqlite {

class Checkpointer {
 public:
  // A checkpoint is started once the WAL holds this many pages (SQLite's default threshold).
  static constexpr int kStartPages = 1000;
  // The writer checkpoints inline beyond this many (the thread is not keeping up).
  static constexpr int kInlinePages = 20000;

  // Installs the commit hook on `writer` (not owned; must outlive the Checkpointer, and be used
  // by one thread at a time, as always) and starts the thread on a second connection to `path`.
  static absl::StatusOr<std::unique_ptr<Checkpointer>> Start(sqlite3* writer,
                                                             const std::string& path);
  ~Checkpointer();  // stops the thread and removes the hook; the writer's close checkpoints
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Checkpoints that completed in the background, and inline ones (for tests and benchmarks).
  int64_t background_checkpoints() const { return background_.load(); }
  int64_t inline_checkpoints() const { return inline_.load(); }

 private:
  Checkpointer(sqlite3* writer, Database reader);
  static int OnCommit(void* self, sqlite3* db, const char* schema, int pages);
  void Loop();

  sqlite3* const writer_;
  Database connection_;  // the checkpointing connection, used only by the thread
  std::atomic<int64_t> background_{0};
  std::atomic<int64_t> inline_{0};
  absl::Mutex mu_;
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hpo::store::sqlite

#endif  // HPO_SERVER_STORE_SQLITE_CHECKPOINTER_H_
