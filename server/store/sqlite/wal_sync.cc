// File: server/store/sqlite/wal_sync.cc
#include "server/store/sqlite/wal_sync.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hpo::store::sqlite {

WalSync::WalSync(std::string wal_path, std::function<int(int)> fdatasync)
    : wal_path_(std::move(wal_path)), fdatasync_(std::move(fdatasync)) {}

WalSync::~WalSync() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status WalSync::Sync() {
  if (wal_path_.empty()) return absl::OkStatus();
  const int64_t target = committed_.load(std::memory_order_acquire);
  int64_t upto = 0;
  {
    absl::MutexLock lock(&mu_);
    // Wait while another caller's fsync runs: it may already cover `target`.
    ++waiting_;
    while (syncing_ && synced_ < target) done_.Wait(&mu_);
    --waiting_;
    if (synced_ >= target) return absl::OkStatus();
    syncing_ = true;  // this caller leads: one fsync for everything committed so far
    upto = committed_.load(std::memory_order_acquire);
  }
  const absl::Status status = SyncFile();
  absl::MutexLock lock(&mu_);
  syncing_ = false;
  if (status.ok() && upto > synced_) synced_ = upto;
  done_.SignalAll();  // a waiter not covered (or after a failure) leads the next fsync
  return status;
}

absl::Status WalSync::SyncFile() {
  // The server's connection keeps the WAL file for its lifetime; reopen only if it was replaced.
  struct stat by_path {}, by_fd {};
  if (fd_ >= 0 && (::stat(wal_path_.c_str(), &by_path) != 0 || ::fstat(fd_, &by_fd) != 0 ||
                   by_path.st_ino != by_fd.st_ino || by_path.st_dev != by_fd.st_dev)) {
    ::close(fd_);
    fd_ = -1;
  }
  if (fd_ < 0) {
    fd_ = ::open(wal_path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      return absl::InternalError(
          absl::StrCat("group commit: cannot open ", wal_path_, ": ", std::strerror(errno)));
    }
  }
  syncs_.fetch_add(1, std::memory_order_relaxed);
  if (fdatasync_(fd_) != 0) {
    return absl::InternalError(
        absl::StrCat("group commit: fdatasync of ", wal_path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace hpo::store::sqlite
