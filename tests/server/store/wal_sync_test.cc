#include "server/store/sqlite/wal_sync.h"

#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace hpo::store {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

std::string MakeWal(const std::string& dir) {
  const std::string path = dir + "/db-wal";
  std::FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("frames", f);
  std::fclose(f);
  return path;
}

TEST(WalSyncTest, OneSyncCoversEveryEarlierCommitAndNothingIsSyncedTwice) {
  testing::TempDir dir;
  sqlite::WalSync sync(MakeWal(dir.path()));
  sync.Committed();
  sync.Committed();
  HPO_ASSERT_OK(sync.Sync());
  EXPECT_EQ(sync.syncs(), 1);
  HPO_ASSERT_OK(sync.Sync());  // nothing new committed: no fsync
  EXPECT_EQ(sync.syncs(), 1);
  sync.Committed();
  HPO_ASSERT_OK(sync.Sync());
  EXPECT_EQ(sync.syncs(), 2);
}

TEST(WalSyncTest, WritersArrivingDuringAnFsyncShareTheNextOne) {
  testing::TempDir dir;
  absl::Notification entered, release;
  int calls = 0;
  sqlite::WalSync sync(MakeWal(dir.path()), [&](int fd) {
    if (++calls == 1) {  // the first leader's fsync blocks until the others wait behind it
      entered.Notify();
      release.WaitForNotification();
    }
    return ::fdatasync(fd);
  });
  sync.Committed();
  std::thread leader([&] { HPO_EXPECT_OK(sync.Sync()); });
  entered.WaitForNotification();
  constexpr int kWriters = 5;
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&] {
      sync.Committed();
      HPO_EXPECT_OK(sync.Sync());
    });
  }
  while (sync.waiting() < kWriters) std::this_thread::yield();
  release.Notify();
  leader.join();
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(sync.syncs(), 2);  // the blocked one, then one for all five writers
  EXPECT_EQ(calls, 2);
}

TEST(WalSyncTest, AFailedFsyncIsReportedAndTheNextCallerRetries) {
  testing::TempDir dir;
  int calls = 0;
  sqlite::WalSync sync(MakeWal(dir.path()), [&](int fd) {
    if (++calls == 1) {
      errno = EIO;
      return -1;
    }
    return ::fdatasync(fd);
  });
  sync.Committed();
  EXPECT_THAT(sync.Sync(), StatusIs(absl::StatusCode::kInternal, HasSubstr("fdatasync")));
  HPO_ASSERT_OK(sync.Sync());  // not marked durable by the failure: synced again
  EXPECT_EQ(calls, 2);
}

TEST(WalSyncTest, MissingWalFileIsAnError) {
  testing::TempDir dir;
  sqlite::WalSync sync(dir.path() + "/absent-wal");
  sync.Committed();
  EXPECT_THAT(sync.Sync(), StatusIs(absl::StatusCode::kInternal, HasSubstr("absent-wal")));
}

TEST(WalSyncTest, StoreGroupCommitsAreVisibleAfterReopen) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/hpo.db";
  {
    auto store = SqliteStore::Open(path);
    HPO_ASSERT_OK(store);
    for (int i = 0; i < 3; ++i) {
      v1::Experiment e;
      e.set_name("e" + std::to_string(i));
      e.set_state(v1::EXPERIMENT_STATE_ACTIVE);
      HPO_ASSERT_OK((*store)->Transact(
          [&] { return (*store)->InsertExperiment(e).status(); }, Store::Durability::kGroup));
    }
    const int64_t before = (*store)->group_syncs();
    HPO_ASSERT_OK((*store)->SyncCommitted());
    EXPECT_EQ((*store)->group_syncs(), before + 1);
  }
  auto reopened = SqliteStore::Open(path);
  HPO_ASSERT_OK(reopened);
  auto listed = (*reopened)->ListExperiments("", {});
  HPO_ASSERT_OK(listed);
  EXPECT_EQ(listed->size(), 3u);
}

TEST(WalSyncTest, InMemoryStoreSyncIsANoOp) {
  auto store = SqliteStore::Open(":memory:");
  HPO_ASSERT_OK(store);
  HPO_ASSERT_OK((*store)->SyncCommitted());
  EXPECT_EQ((*store)->group_syncs(), 0);
}

}  // namespace
}  // namespace hpo::store
