// File: server/store/sqlite/checkpointer.cc
#include "server/store/sqlite/checkpointer.h"

#include <utility>

#include "common/logging.h"

namespace hpo::store::sqlite {

absl::StatusOr<std::unique_ptr<Checkpointer>> Checkpointer::Start(sqlite3* writer,
                                                                  const std::string& path) {
  Database::Options options;
  options.busy_timeout_ms = 100;  // a busy checkpoint is simply tried again later
  absl::StatusOr<Database> connection = Database::Open(path, options);
  if (!connection.ok()) return connection.status();
  std::unique_ptr<Checkpointer> c(new Checkpointer(writer, *std::move(connection)));
  sqlite3_wal_hook(writer, &Checkpointer::OnCommit, c.get());  // replaces auto-checkpointing
  c->thread_ = std::thread([p = c.get()] { p->Loop(); });
  return c;
}

Checkpointer::Checkpointer(sqlite3* writer, Database connection)
    : writer_(writer), connection_(std::move(connection)) {}

Checkpointer::~Checkpointer() {
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int Checkpointer::OnCommit(void* self, sqlite3* db, const char* schema, int pages) {
  auto* c = static_cast<Checkpointer*>(self);
  if (pages >= kInlinePages) {  // far behind: bound the WAL the old way, in this commit
    if (sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) ==
        SQLITE_OK) {
      c->inline_.fetch_add(1);
    }
    return SQLITE_OK;
  }
  if (pages >= kStartPages) {
    absl::MutexLock lock(&c->mu_);
    c->wanted_ = true;
  }
  return SQLITE_OK;
}

void Checkpointer::Loop() {
  sqlite3* db = connection_.raw();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Checkpointer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->wanted_ || c->stopping_;
          },
          this));
      if (stopping_) return;
      wanted_ = false;
    }
    int wal_pages = 0, copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &wal_pages,
                                             &copied);
    if (rc == SQLITE_OK) {
      background_.fetch_add(1);
    } else if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
      HPO_LOG(WARNING) << "background WAL checkpoint failed: " << sqlite3_errmsg(db);
    }
  }
}

}  // namespace hpo::store::sqlite
