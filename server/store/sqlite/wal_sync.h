// File: server/store/sqlite/wal_sync.h
//
// Group commit for a SQLite database in WAL mode. Transactions commit with synchronous=NORMAL
// (their frames are written to the -wal file, but not fsynced) under the caller's lock; each
// writer then calls Sync() after releasing that lock and before acknowledging. One caller (the
// leader) fdatasyncs the -wal file for every commit made so far; callers that arrive while it
// runs wait for it, and the next leader covers them all. Under load one fsync serves many
// commits instead of one each.
//
// Why it is as durable as synchronous=FULL: FULL is "write the commit frame, fsync the WAL";
// here the fsync is the same system call on the same file (fsync works per file, not per
// descriptor), only shared. The WAL is append-only between checkpoints, so a durable commit also
// makes every earlier one durable. Checkpoints keep their own fsyncs under NORMAL (the WAL before
// the database is written, the database before the WAL is reused), so a reset WAL holds nothing
// that is not already durable in the database.
//
// Thread-safe. Committed() is called by the (serialized) writer after each commit; Sync() by
// anyone, concurrently.
#ifndef HPO_SERVER_STORE_SQLITE_WAL_SYNC_H_
#define HPO_SERVER_STORE_SQLITE_WAL_SYNC_H_

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace hpo::store::sqlite {

class WalSync {
 public:
  // `wal_path`: the database's "-wal" file; empty for an in-memory database (Sync is a no-op).
  // `fdatasync` is replaceable for tests.
  explicit WalSync(std::string wal_path, std::function<int(int)> fdatasync = ::fdatasync);
  ~WalSync();
  WalSync(const WalSync&) = delete;
  WalSync& operator=(const WalSync&) = delete;

  // Records that a transaction has committed (its frames are written to the WAL).
  void Committed() { committed_.fetch_add(1, std::memory_order_release); }

  // Returns once every transaction recorded by Committed() before this call is on disk.
  // INTERNAL if the WAL cannot be opened or synced (the data is committed but maybe not durable).
  absl::Status Sync();

  // fdatasync calls made so far, and commits they covered (for tests and benchmarks).
  int64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  // Callers waiting for a running fsync (for tests).
  int waiting() {
    absl::MutexLock lock(&mu_);
    return waiting_;
  }

 private:
  absl::Status SyncFile();  // fdatasync of the WAL, (re)opening it when needed

  const std::string wal_path_;
  const std::function<int(int)> fdatasync_;
  std::atomic<int64_t> committed_{0};
  std::atomic<int64_t> syncs_{0};
  absl::Mutex mu_;
  int64_t synced_ ABSL_GUARDED_BY(mu_) = 0;  // every commit up to this count is durable
  bool syncing_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar done_;  // signalled when a leader's fsync ends
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int fd_ = -1;  // used only by the leader (syncing_ is its token)
};

}  // namespace hpo::store::sqlite

#endif  // HPO_SERVER_STORE_SQLITE_WAL_SYNC_H_
