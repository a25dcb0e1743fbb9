#include "server/store/sqlite_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hpo::store {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;

v1::Experiment MakeExperiment(const std::string& name) {
  v1::Experiment e;
  e.set_name(name);
  e.set_project("proj");
  e.set_state(v1::EXPERIMENT_STATE_ACTIVE);
  e.set_observation_budget(10);
  e.set_parallel_bandwidth(2);
  auto* p = e.mutable_search_space()->add_parameters();
  p->set_name("x");
  p->set_type(v1::PARAMETER_TYPE_DOUBLE);
  p->mutable_bounds()->set_min(0);
  p->mutable_bounds()->set_max(1);
  auto* m = e.add_metrics();
  m->set_name("y");
  (*e.mutable_metadata())["owner"] = "test";
  return e;
}

v1::Suggestion MakeSuggestion(int64_t experiment_id, double x, v1::SuggestionState state) {
  v1::Suggestion s;
  s.set_experiment_id(experiment_id);
  s.set_state(state);
  s.set_source("random");
  (*s.mutable_assignment()->mutable_values())["x"].set_number_value(x);
  return s;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(":memory:", &clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  FakeClock clock_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, InsertAndGetExperimentRoundTrips) {
  auto inserted = store_->InsertExperiment(MakeExperiment("a"));
  HPO_ASSERT_OK(inserted);
  EXPECT_GT(inserted->id(), 0);
  auto got = store_->GetExperiment(inserted->id());
  HPO_ASSERT_OK(got);
  EXPECT_EQ(got->name(), "a");
  EXPECT_EQ(got->project(), "proj");
  EXPECT_EQ(got->state(), v1::EXPERIMENT_STATE_ACTIVE);
  EXPECT_EQ(got->metadata().at("owner"), "test");
  EXPECT_EQ(got->search_space().parameters(0).name(), "x");
  EXPECT_EQ(got->create_time().seconds(), absl::ToUnixSeconds(clock_.Now()));
}

TEST_F(SqliteStoreTest, DuplicateNameInProjectIsAlreadyExists) {
  HPO_ASSERT_OK(store_->InsertExperiment(MakeExperiment("a")));
  EXPECT_THAT(store_->InsertExperiment(MakeExperiment("a")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("experiment.name")));
  v1::Experiment other = MakeExperiment("a");
  other.set_project("other");
  HPO_EXPECT_OK(store_->InsertExperiment(other));
}

TEST_F(SqliteStoreTest, UnknownIdsAreNotFound) {
  EXPECT_THAT(store_->GetExperiment(42), StatusIs(absl::StatusCode::kNotFound, HasSubstr("42")));
  EXPECT_THAT(store_->GetSuggestion(7), StatusIs(absl::StatusCode::kNotFound, HasSubstr("7")));
  EXPECT_THAT(store_->UpdateExperimentState(42, v1::EXPERIMENT_STATE_PAUSED),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("42")));
}

TEST_F(SqliteStoreTest, ListFiltersByProjectAndStateNewestFirst) {
  auto a = store_->InsertExperiment(MakeExperiment("a"));
  auto b = store_->InsertExperiment(MakeExperiment("b"));
  v1::Experiment c = MakeExperiment("c");
  c.set_project("other");
  HPO_ASSERT_OK(store_->InsertExperiment(c));
  HPO_ASSERT_OK(store_->UpdateExperimentState(a->id(), v1::EXPERIMENT_STATE_ARCHIVED));
  auto all = store_->ListExperiments("", {});
  HPO_ASSERT_OK(all);
  ASSERT_THAT(*all, SizeIs(3));
  EXPECT_EQ((*all)[0].name(), "c");
  auto proj_active = store_->ListExperiments("proj", {v1::EXPERIMENT_STATE_ACTIVE});
  HPO_ASSERT_OK(proj_active);
  ASSERT_THAT(*proj_active, SizeIs(1));
  EXPECT_EQ((*proj_active)[0].id(), b->id());
}

TEST_F(SqliteStoreTest, SuggestionLifecycleAndProgress) {
  auto e = store_->InsertExperiment(MakeExperiment("a"));
  HPO_ASSERT_OK(e);
  auto s1 = store_->InsertSuggestion(MakeSuggestion(e->id(), 0.25, v1::SUGGESTION_STATE_OPEN));
  auto s2 = store_->InsertSuggestion(MakeSuggestion(e->id(), 0.5, v1::SUGGESTION_STATE_QUEUED));
  HPO_ASSERT_OK(s1);
  HPO_ASSERT_OK(s2);
  EXPECT_EQ(s1->assignment().values().at("x").number_value(), 0.25);
  EXPECT_EQ(*store_->CountIssuedSuggestions(e->id()), 1);

  v1::Suggestion leased = *s1;
  leased.set_state(v1::SUGGESTION_STATE_ACTIVE);
  leased.set_worker_id("w1");
  leased.set_attempts(1);
  leased.mutable_lease_expire_time()->set_seconds(1'800'000'000);
  HPO_ASSERT_OK(store_->UpdateSuggestion(leased));
  auto got = store_->GetSuggestion(s1->id());
  HPO_ASSERT_OK(got);
  EXPECT_EQ(got->worker_id(), "w1");
  EXPECT_EQ(got->attempts(), 1);
  EXPECT_EQ(got->lease_expire_time().seconds(), 1'800'000'000);

  auto progress = store_->GetExperiment(e->id());
  HPO_ASSERT_OK(progress);
  EXPECT_EQ(progress->progress().open_suggestion_count(), 1);
  EXPECT_EQ(progress->progress().queued_suggestion_count(), 1);

  auto queued = store_->ListSuggestions(e->id(), {v1::SUGGESTION_STATE_QUEUED});
  HPO_ASSERT_OK(queued);
  ASSERT_THAT(*queued, SizeIs(1));
  EXPECT_EQ((*queued)[0].id(), s2->id());
}

TEST_F(SqliteStoreTest, GangMembersUpsertListExpireAndDelete) {
  auto e = store_->InsertExperiment(MakeExperiment("a"));
  HPO_ASSERT_OK(e);
  auto s = store_->InsertSuggestion(MakeSuggestion(e->id(), 0.25, v1::SUGGESTION_STATE_ACTIVE));
  HPO_ASSERT_OK(s);
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  GangMember m0{s->id(), "w0", 0, t0, false}, m1{s->id(), "w1", 1, t0 + absl::Seconds(10), false};
  HPO_ASSERT_OK(store_->UpsertGangMember(m1));
  HPO_ASSERT_OK(store_->UpsertGangMember(m0));
  auto members = store_->ListGangMembers(s->id());
  HPO_ASSERT_OK(members);
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].worker_id, "w0");  // by rank
  EXPECT_EQ((*members)[1].lease_expire_time, t0 + absl::Seconds(10));
  auto expired = store_->ListGangPlaces("", t0 + absl::Seconds(5));
  HPO_ASSERT_OK(expired);
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ((*expired)[0].worker_id, "w0");
  m1.released = true;  // a released place is no longer listed as a place
  HPO_ASSERT_OK(store_->UpsertGangMember(m1));
  EXPECT_TRUE(store_->ListGangPlaces("w1", absl::InfiniteFuture())->empty());
  EXPECT_EQ(store_->ListGangMembers(s->id())->size(), 2u);
  HPO_ASSERT_OK(store_->DeleteGangMembers(s->id(), "w0"));
  EXPECT_EQ(store_->ListGangMembers(s->id())->size(), 1u);
  HPO_ASSERT_OK(store_->DeleteGangMembers(s->id(), ""));
  EXPECT_TRUE(store_->ListGangMembers(s->id())->empty());
}

TEST_F(SqliteStoreTest, ObservationsStoreValuesStddevAndFailures) {
  auto e = store_->InsertExperiment(MakeExperiment("a"));
  auto s = store_->InsertSuggestion(MakeSuggestion(e->id(), 0.25, v1::SUGGESTION_STATE_OPEN));
  v1::Observation o;
  o.set_experiment_id(e->id());
  o.set_suggestion_id(s->id());
  *o.mutable_assignment() = s->assignment();
  auto* v = o.add_values();
  v->set_name("y");
  v->set_value(0.75);
  v->set_stddev(0.01);
  (*o.mutable_metadata())["host"] = "n1";
  auto stored = store_->InsertObservation(o);
  HPO_ASSERT_OK(stored);
  EXPECT_EQ(stored->values(0).value(), 0.75);
  EXPECT_TRUE(stored->values(0).has_stddev());
  EXPECT_EQ(stored->metadata().at("host"), "n1");

  EXPECT_THAT(store_->InsertObservation(o), StatusIs(absl::StatusCode::kAlreadyExists));

  v1::Observation failed;
  failed.set_experiment_id(e->id());
  *failed.mutable_assignment() = s->assignment();
  failed.set_failed(true);
  failed.set_failure_reason("diverged");
  HPO_ASSERT_OK(store_->InsertObservation(failed));

  auto all = store_->ListObservations(e->id());
  HPO_ASSERT_OK(all);
  ASSERT_THAT(*all, SizeIs(2));
  EXPECT_FALSE((*all)[0].failed());
  EXPECT_TRUE((*all)[1].failed());
  EXPECT_EQ((*all)[1].failure_reason(), "diverged");
  EXPECT_EQ((*all)[1].suggestion_id(), 0);
  auto found = store_->FindObservationBySuggestion(s->id());
  HPO_ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id(), stored->id());
  EXPECT_EQ(store_->GetExperiment(e->id())->progress().failed_observation_count(), 1);
}

TEST_F(SqliteStoreTest, TransactionRollsBackEverythingOnError) {
  absl::Status s = store_->Transact([&]() -> absl::Status {
    auto e = store_->InsertExperiment(MakeExperiment("a"));
    if (!e.ok()) return e.status();
    return absl::InvalidArgumentError("late failure");
  });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("late failure")));
  EXPECT_THAT(*store_->ListExperiments("", {}), SizeIs(0));
  HPO_ASSERT_OK(store_->Transact([&]() { return store_->InsertExperiment(MakeExperiment("b")).status(); }));
  EXPECT_THAT(*store_->ListExperiments("", {}), SizeIs(1));
}

TEST_F(SqliteStoreTest, CheckpointsGroupMetricsByStep) {
  auto e = store_->InsertExperiment(MakeExperiment("a"));
  auto s = store_->InsertSuggestion(MakeSuggestion(e->id(), 0.25, v1::SUGGESTION_STATE_ACTIVE));
  for (int step : {100, 200}) {
    v1::Checkpoint c;
    c.set_step(step);
    c.set_elapsed_seconds(step / 10.0);
    auto* auc = c.add_metrics();
    auc->set_name("auc");
    auc->set_value(0.7 + step / 1000.0);
    auto* loss = c.add_metrics();
    loss->set_name("loss");
    loss->set_value(0.5);
    HPO_ASSERT_OK(store_->InsertCheckpoint(s->id(), c));
  }
  v1::Checkpoint dup;
  dup.set_step(100);
  dup.add_metrics()->set_name("auc");
  EXPECT_THAT(store_->InsertCheckpoint(s->id(), dup), StatusIs(absl::StatusCode::kAlreadyExists));
  auto curve = store_->ListCheckpoints(s->id());
  HPO_ASSERT_OK(curve);
  ASSERT_THAT(*curve, SizeIs(2));
  EXPECT_EQ((*curve)[1].step(), 200);
  EXPECT_THAT((*curve)[1].metrics(), SizeIs(2));
  EXPECT_DOUBLE_EQ((*curve)[1].elapsed_seconds(), 20.0);
}

TEST_F(SqliteStoreTest, ReportedStepIsKeptPerLeaseAttempt) {
  auto e = store_->InsertExperiment(MakeExperiment("a"));
  auto s = store_->InsertSuggestion(MakeSuggestion(e->id(), 0.25, v1::SUGGESTION_STATE_ACTIVE));
  HPO_ASSERT_OK(s);
  auto none = store_->GetReportedStep(s->id(), 1);
  HPO_ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
  HPO_ASSERT_OK(store_->SetReportedStep(s->id(), 1, 40));
  EXPECT_EQ(store_->GetReportedStep(s->id(), 1).value(), std::optional<int64_t>(40));
  // Another attempt has reported nothing yet.
  EXPECT_FALSE(store_->GetReportedStep(s->id(), 2).value().has_value());
  v1::Checkpoint c;
  c.set_step(40);
  auto* m = c.add_metrics();
  m->set_name("y");
  m->set_value(1);
  HPO_ASSERT_OK(store_->InsertCheckpoint(s->id(), c));
  EXPECT_TRUE(store_->HasCheckpoint(s->id(), 40).value());
  EXPECT_FALSE(store_->HasCheckpoint(s->id(), 39).value());
}

TEST(SqliteStoreFileTest, WorkersKeepTheirOwnerAndOnlyARegistrationClaimsAnUnownedOne) {
  const std::string path = ::testing::TempDir() + "/owners-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  FakeClock clock;
  hpo::v1::WorkerInfo info;
  info.set_name("n1");
  {
    auto store = SqliteStore::Open(path, &clock);
    HPO_ASSERT_OK(store);
    HPO_ASSERT_OK((*store)->UpsertWorker("w-a", info, "alpha"));
    HPO_ASSERT_OK((*store)->UpsertWorker("w-a", info, "beta"));  // the owner is kept
    HPO_ASSERT_OK((*store)->TouchWorker("w-a"));
    HPO_ASSERT_OK((*store)->UpsertWorker("w-admin", info, ""));
    HPO_ASSERT_OK((*store)->UpsertWorker("w-old", info, "alpha"));
    EXPECT_EQ((*store)->GetWorker("w-a")->owner, std::optional<std::string>("alpha"));
    EXPECT_EQ((*store)->GetWorker("w-admin")->owner, std::optional<std::string>(""));
  }
  {  // w-old as a worker registered before owners were recorded
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE workers SET owner = NULL WHERE id = 'w-old'", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = SqliteStore::Open(path, &clock);
  HPO_ASSERT_OK(store);
  EXPECT_EQ((*store)->GetWorker("w-old")->owner, std::nullopt);
  HPO_ASSERT_OK((*store)->TouchWorker("w-old"));  // a heartbeat claims nothing
  EXPECT_EQ((*store)->GetWorker("w-old")->owner, std::nullopt);
  HPO_ASSERT_OK((*store)->UpsertWorker("w-old", info, "beta"));  // a registration does
  HPO_ASSERT_OK((*store)->UpsertWorker("w-old", info, "gamma"));
  EXPECT_EQ((*store)->GetWorker("w-old")->owner, std::optional<std::string>("beta"));
  auto workers = (*store)->ListWorkers();
  HPO_ASSERT_OK(workers);
  ASSERT_THAT(*workers, SizeIs(3));
  EXPECT_EQ((*workers)[0].owner, std::optional<std::string>("alpha"));
  std::remove(path.c_str());
}

TEST(SqliteStoreFileTest, UpgradeGivesUnownedWorkersTheProjectOfWhatTheyHold) {
  const std::string path = ::testing::TempDir() + "/held-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  FakeClock clock;
  {
    auto store = SqliteStore::Open(path, &clock);
    HPO_ASSERT_OK(store);
    v1::Experiment alpha = MakeExperiment("a");
    alpha.set_project("alpha");
    v1::Experiment beta = MakeExperiment("b");
    beta.set_project("beta");
    auto a = (*store)->InsertExperiment(alpha);
    auto b = (*store)->InsertExperiment(beta);
    HPO_ASSERT_OK(a);
    HPO_ASSERT_OK(b);
    auto lease = [&](int64_t experiment, const std::string& worker, v1::SuggestionState state) {
      v1::Suggestion s = MakeSuggestion(experiment, 0.5, state);
      s.set_worker_id(worker);
      s.set_attempts(1);
      auto inserted = (*store)->InsertSuggestion(s);
      EXPECT_TRUE(inserted.ok()) << inserted.status();
      return inserted.ok() ? inserted->id() : 0;
    };
    lease(a->id(), "w-lease", v1::SUGGESTION_STATE_ACTIVE);
    lease(b->id(), "w-done", v1::SUGGESTION_STATE_COMPLETED);  // held no more
    lease(a->id(), "w-mixed", v1::SUGGESTION_STATE_ACTIVE);
    lease(b->id(), "w-mixed", v1::SUGGESTION_STATE_ACTIVE);  // two projects: undecided
    const int64_t gang = lease(b->id(), "w-rank0", v1::SUGGESTION_STATE_ACTIVE);
    GangMember m;
    m.suggestion_id = gang;
    m.worker_id = "w-rank1";
    m.rank = 1;
    m.lease_expire_time = clock.Now() + absl::Seconds(60);
    HPO_ASSERT_OK((*store)->UpsertGangMember(m));
    for (const char* w : {"w-lease", "w-done", "w-mixed", "w-rank0", "w-rank1", "w-idle"}) {
      HPO_ASSERT_OK((*store)->UpsertWorker(w, v1::WorkerInfo(), "ignored"));
    }
  }
  {  // the database as before owners were recorded
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE workers SET owner = NULL; PRAGMA user_version = 6", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = SqliteStore::Open(path, &clock);
  HPO_ASSERT_OK(store);
  auto owner = [&](const std::string& w) { return (*store)->GetWorker(w).value().owner; };
  EXPECT_EQ(owner("w-lease"), std::optional<std::string>("alpha"));
  EXPECT_EQ(owner("w-rank0"), std::optional<std::string>("beta"));
  EXPECT_EQ(owner("w-rank1"), std::optional<std::string>("beta"));
  EXPECT_EQ(owner("w-done"), std::nullopt);
  EXPECT_EQ(owner("w-mixed"), std::nullopt);
  EXPECT_EQ(owner("w-idle"), std::nullopt);
  std::remove(path.c_str());
}

TEST(SqliteStoreFileTest, ReopenedFileKeepsData) {
  const std::string path = ::testing::TempDir() + "/reopen.db";
  std::remove(path.c_str());
  int64_t id = 0;
  {
    auto store = SqliteStore::Open(path);
    HPO_ASSERT_OK(store);
    auto e = (*store)->InsertExperiment(MakeExperiment("kept"));
    HPO_ASSERT_OK(e);
    id = e->id();
  }
  auto store = SqliteStore::Open(path);
  HPO_ASSERT_OK(store);
  EXPECT_EQ((*store)->migration().from_version, (*store)->migration().to_version);
  auto e = (*store)->GetExperiment(id);
  HPO_ASSERT_OK(e);
  EXPECT_EQ(e->name(), "kept");
}

}  // namespace
}  // namespace hpo::store

namespace hpo::store {
namespace {

TEST(SqliteStoreDurabilityTest, RelaxedCommitsAreKeptAndFailuresRollBack) {
  const std::string path = ::testing::TempDir() + "/relaxed-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  FakeClock clock;
  {
    auto store = SqliteStore::Open(path, &clock);
    ASSERT_TRUE(store.ok()) << store.status();
    hpo::v1::WorkerInfo info;
    info.set_name("n1");
    ASSERT_TRUE((*store)
                    ->Transact([&] { return (*store)->UpsertWorker("w-1", info, ""); },
                               Store::Durability::kRelaxed)
                    .ok());
    // A failing relaxed transaction rolls back; the next full commit works as before.
    EXPECT_FALSE((*store)
                     ->Transact([&]() -> absl::Status { return absl::AbortedError("no"); },
                                Store::Durability::kRelaxed)
                     .ok());
    ASSERT_TRUE((*store)->Transact([&] { return (*store)->UpsertWorker("w-2", info, ""); }).ok());
  }
  auto reopened = SqliteStore::Open(path, &clock);
  ASSERT_TRUE(reopened.ok());
  auto workers = (*reopened)->ListWorkers();
  ASSERT_TRUE(workers.ok());
  EXPECT_EQ(workers->size(), 2u);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace hpo::store
