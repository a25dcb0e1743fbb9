// SqliteStore's files: how Open() creates and checks them, how the store reports corruption
// found later, and where Backup() may write.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace hpo::store {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

v1::Experiment MakeExperiment(const std::string& name) {
  v1::Experiment e;
  e.set_name(name);
  e.set_project("proj");
  e.set_state(v1::EXPERIMENT_STATE_ACTIVE);
  e.set_observation_budget(10);
  e.set_parallel_bandwidth(1);
  auto* p = e.mutable_search_space()->add_parameters();
  p->set_name("x");
  p->set_type(v1::PARAMETER_TYPE_DOUBLE);
  p->mutable_bounds()->set_min(0);
  p->mutable_bounds()->set_max(1);
  e.add_metrics()->set_name("y");
  return e;
}

int Mode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 0777);
}

// Runs `sql` on a connection of its own (another process would do the same).
void Exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

// Restores the process umask on destruction.
class Umask {
 public:
  explicit Umask(mode_t mask) : old_(umask(mask)) {}
  ~Umask() { umask(old_); }

 private:
  mode_t old_;
};

TEST(SqliteStoreOpenTest, FilesAreTheOwnersAlone) {
  Umask permissive(022);
  testing::TempDir dir;
  const std::string path = dir.path() + "/hpo.db";
  auto store = SqliteStore::Open(path);
  HPO_ASSERT_OK(store);
  HPO_ASSERT_OK((*store)->InsertExperiment(MakeExperiment("a")));
  EXPECT_EQ(Mode(path), 0600);
  EXPECT_EQ(Mode(path + "-wal"), 0600);
  EXPECT_EQ(Mode(path + "-shm"), 0600);

  const std::string backup = dir.path() + "/backup.db";
  HPO_ASSERT_OK((*store)->Backup(backup));
  EXPECT_EQ(Mode(backup), 0600);
}

TEST(SqliteStoreOpenTest, ExistingFilesReadableByOthersAreTightened) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/hpo.db";
  {
    auto store = SqliteStore::Open(path);
    HPO_ASSERT_OK(store);
  }
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  auto store = SqliteStore::Open(path);
  HPO_ASSERT_OK(store);
  EXPECT_EQ(Mode(path), 0600);
}

TEST(SqliteStoreOpenTest, EmptyFileIsRefusedNotStartedAfresh) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/hpo.db";
  std::ofstream(path).close();
  EXPECT_THAT(SqliteStore::Open(path).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("empty")));
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
}

TEST(SqliteStoreOpenTest, CorruptFileIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/hpo.db";
  {
    auto store = SqliteStore::Open(path);
    HPO_ASSERT_OK(store);
    for (int i = 0; i < 50; ++i) {
      HPO_ASSERT_OK((*store)->InsertExperiment(MakeExperiment("e" + std::to_string(i))));
    }
  }
  // Garbage over the experiments table's root page: opening and migrating never read it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT rootpage, (SELECT page_size FROM pragma_page_size) "
                               "FROM sqlite_schema WHERE name = 'experiments'",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  const int64_t root = sqlite3_column_int64(stmt, 0);
  const int64_t page_size = sqlite3_column_int64(stmt, 1);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  ASSERT_GT(root, 1);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp((root - 1) * page_size);
    const std::string garbage(static_cast<size_t>(page_size), '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  EXPECT_THAT(SqliteStore::Open(path).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("integrity check")));
}

TEST(SqliteStoreOpenTest, CorruptionFoundLaterFailsPing) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/hpo.db";
  auto store = SqliteStore::Open(path);
  HPO_ASSERT_OK(store);
  HPO_ASSERT_OK((*store)->InsertExperiment(MakeExperiment("a")));
  HPO_ASSERT_OK((*store)->Ping());
  // Another process damages the file: the experiments table now points past its end.
  Exec(path,
       "PRAGMA writable_schema=ON;"
       "UPDATE sqlite_schema SET rootpage = 100000 WHERE name = 'experiments';");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA schema_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  const int64_t version = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  Exec(path, "PRAGMA schema_version = " + std::to_string(version + 1));

  EXPECT_THAT((*store)->ListExperiments("", {}).status(), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT((*store)->Ping(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("corrupt")));
}

TEST(SqliteStoreBackupTest, RefusesNulLinksAndExistingFiles) {
  testing::TempDir dir;
  auto store = SqliteStore::Open(dir.path() + "/hpo.db");
  HPO_ASSERT_OK(store);

  const std::string cut = dir.path() + "/cut";
  EXPECT_THAT((*store)->Backup(cut + std::string("\0.db", 4)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  EXPECT_FALSE(std::filesystem::exists(cut));

  // A dangling link is not followed: its target stays uncreated.
  const std::string target = dir.path() + "/target.db";
  const std::string link = dir.path() + "/link.db";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  EXPECT_THAT((*store)->Backup(link).status(), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_FALSE(std::filesystem::exists(target));

  const std::string existing = dir.path() + "/existing.db";
  std::ofstream(existing) << "keep";
  EXPECT_THAT((*store)->Backup(existing).status(), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(std::filesystem::file_size(existing), 4u);
}

}  // namespace
}  // namespace hpo::store
