#include "server/store/sqlite/checkpointer.h"

#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace hpo::store {
namespace {

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

v1::Experiment Named(int i) {
  v1::Experiment e;
  e.set_name("experiment-" + std::to_string(i));
  e.set_state(v1::EXPERIMENT_STATE_ACTIVE);
  (*e.mutable_metadata())["padding"] = std::string(3000, 'x');  // about one page per commit
  return e;
}

// Commits one experiment per transaction until `done()` or `limit` commits.
template <typename Done>
int CommitUntil(SqliteStore* store, int* next, int limit, Done done) {
  int made = 0;
  for (; made < limit && !done(); ++made) {
    const int i = (*next)++;
    EXPECT_TRUE(store->Transact([&] { return store->InsertExperiment(Named(i)).status(); },
                                Store::Durability::kRelaxed).ok());
  }
  return made;
}

TEST(CheckpointerTest, CheckpointsRunInTheBackgroundAndTheWalIsReused) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/hpo.db";
  int next = 0;
  {
    auto store = SqliteStore::Open(path);
    HPO_ASSERT_OK(store);
    const sqlite::Checkpointer* checkpointer = (*store)->checkpointer();
    ASSERT_NE(checkpointer, nullptr);
    // Past the start threshold, the thread checkpoints while the writer goes on committing.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (checkpointer->background_checkpoints() == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      CommitUntil(store->get(), &next, 50, [] { return false; });
    }
    ASSERT_GE(checkpointer->background_checkpoints(), 1);
    EXPECT_EQ(checkpointer->inline_checkpoints(), 0);
    // Once a checkpoint has copied the whole WAL the writer starts it over: writing far more
    // than the threshold again does not grow the file past a few thresholds' worth of pages.
    const int64_t page = 4096;
    const int64_t before = checkpointer->background_checkpoints();
    CommitUntil(store->get(), &next, 6 * sqlite::Checkpointer::kStartPages,
                [&] { return checkpointer->background_checkpoints() >= before + 3; });
    EXPECT_GE(checkpointer->background_checkpoints(), before + 1);
    EXPECT_LT(FileSize(path + "-wal"), 8 * sqlite::Checkpointer::kStartPages * page);
  }
  auto reopened = SqliteStore::Open(path);
  HPO_ASSERT_OK(reopened);
  auto listed = (*reopened)->ListExperiments("", {});
  HPO_ASSERT_OK(listed);
  EXPECT_EQ(static_cast<int>(listed->size()), next);  // every commit is there
}

TEST(CheckpointerTest, InMemoryStoreHasNone) {
  auto store = SqliteStore::Open(":memory:");
  HPO_ASSERT_OK(store);
  EXPECT_EQ((*store)->checkpointer(), nullptr);
}

}  // namespace
}  // namespace hpo::store
