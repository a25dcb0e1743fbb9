#include "server/store/migrator.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hpo::store {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

std::string TempDbPath(const std::string& name) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  return path;
}

TEST(MigratorTest, EmbeddedMigrationsAreNumberedFromOne) {
  const auto& all = migrations::All();
  ASSERT_FALSE(all.empty());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].version, static_cast<int>(i) + 1);
}

TEST(MigratorTest, EmptyDatabaseGoesToLatestAndRecordsVersion) {
  auto db = sqlite::Database::Open(":memory:");
  HPO_ASSERT_OK(db);
  auto result = MigrateToLatest(*db);
  HPO_ASSERT_OK(result);
  EXPECT_EQ(result->from_version, 0);
  EXPECT_EQ(result->to_version, static_cast<int>(migrations::All().size()));
  auto version = SchemaVersion(*db);
  HPO_ASSERT_OK(version);
  EXPECT_EQ(*version, static_cast<int>(migrations::All().size()));
  HPO_EXPECT_OK(db->Execute("SELECT id, spec FROM experiments"));
}

TEST(MigratorTest, SecondRunIsANoOp) {
  auto db = sqlite::Database::Open(":memory:");
  HPO_ASSERT_OK(db);
  HPO_ASSERT_OK(MigrateToLatest(*db));
  auto again = MigrateToLatest(*db);
  HPO_ASSERT_OK(again);
  EXPECT_EQ(again->from_version, again->to_version);
}

TEST(MigratorTest, AppliesOnlyPendingMigrationsInOrder) {
  const std::vector<migrations::Migration> v1 = {{1, "0001_a.sql", "CREATE TABLE a (x);"}};
  const std::vector<migrations::Migration> v2 = {
      {1, "0001_a.sql", "CREATE TABLE a (x);"},
      {2, "0002_b.sql", "CREATE TABLE b (y); INSERT INTO a (x) VALUES (7);"}};
  auto db = sqlite::Database::Open(":memory:");
  HPO_ASSERT_OK(db);
  HPO_ASSERT_OK(Migrate(*db, v1));
  auto result = Migrate(*db, v2);
  HPO_ASSERT_OK(result);
  EXPECT_EQ(result->from_version, 1);
  EXPECT_EQ(result->to_version, 2);
  auto stmt = db->Prepare("SELECT COUNT(*) FROM a");
  HPO_ASSERT_OK(stmt);
  ASSERT_TRUE(*stmt->Step());
  EXPECT_EQ(stmt->ColumnInt64(0), 1);
}

TEST(MigratorTest, FailedMigrationRollsBackAndKeepsPreviousVersion) {
  const std::vector<migrations::Migration> bad = {
      {1, "0001_a.sql", "CREATE TABLE a (x);"},
      {2, "0002_bad.sql", "CREATE TABLE c (z); THIS IS NOT SQL;"}};
  auto db = sqlite::Database::Open(":memory:");
  HPO_ASSERT_OK(db);
  EXPECT_THAT(Migrate(*db, bad), StatusIs(absl::StatusCode::kInternal, HasSubstr("0002_bad.sql")));
  EXPECT_EQ(*SchemaVersion(*db), 1);
  EXPECT_FALSE(db->Execute("SELECT * FROM c").ok());  // table c was rolled back
}

TEST(MigratorTest, RefusesDatabaseFromNewerIncompatibleVersion) {
  const std::string path = TempDbPath("newer.db");
  {
    auto db = sqlite::Database::Open(path);
    HPO_ASSERT_OK(db);
    HPO_ASSERT_OK(MigrateToLatest(*db));
    const int future = static_cast<int>(migrations::All().size()) + 5;
    HPO_ASSERT_OK(db->Execute("PRAGMA user_version = " + std::to_string(future)));
    HPO_ASSERT_OK(db->Execute("UPDATE meta SET value = '" + std::to_string(future) +
                              "' WHERE key = 'compatible_version'"));
  }
  auto db = sqlite::Database::Open(path);
  HPO_ASSERT_OK(db);
  EXPECT_THAT(MigrateToLatest(*db),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is newer than")));
}

TEST(MigratorTest, OpensNewerButCompatibleDatabase) {
  auto db = sqlite::Database::Open(":memory:");
  HPO_ASSERT_OK(db);
  HPO_ASSERT_OK(MigrateToLatest(*db));
  const int future = static_cast<int>(migrations::All().size()) + 1;
  HPO_ASSERT_OK(db->Execute("PRAGMA user_version = " + std::to_string(future)));
  auto result = MigrateToLatest(*db);
  HPO_ASSERT_OK(result);
  EXPECT_EQ(result->to_version, future);
}

TEST(MigratorTest, NonDatabaseFileIsDataLoss) {
  const std::string path = TempDbPath("not_a.db");
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("this is certainly not an sqlite database, just some text padding it out....", f);
  std::fclose(f);
  auto db = sqlite::Database::Open(path);
  EXPECT_THAT(db, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("not a database")));
}

}  // namespace
}  // namespace hpo::store
