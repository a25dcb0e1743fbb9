#include "server/service/trial_scheduler.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"
#include "tests/testing/status_matchers.h"

namespace hpo::service {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

v1::Experiment Spec(int budget, int bandwidth) {
  v1::Experiment e;
  e.set_name("trials");
  e.set_observation_budget(budget);
  e.set_parallel_bandwidth(bandwidth);
  auto* lr = e.mutable_search_space()->add_parameters();
  lr->set_name("lr");
  lr->set_type(v1::PARAMETER_TYPE_DOUBLE);
  lr->mutable_bounds()->set_min(0.001);
  lr->mutable_bounds()->set_max(1);
  auto* auc = e.add_metrics();
  auc->set_name("auc");
  auc->set_objective(v1::OBJECTIVE_MAXIMIZE);
  return e;
}

class TrialSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteStore::Open(":memory:", &clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    manager_ = std::make_unique<ExperimentManager>(store_.get(), &clock_);
    TrialSchedulerOptions options;
    options.lease_timeout = absl::Seconds(30);
    options.max_attempts = 2;
    options.background_reaper = false;
    scheduler_ = std::make_unique<TrialScheduler>(manager_.get(), &clock_, options);
  }

  std::string Register(const std::string& name) {
    v1::RegisterWorkerRequest r;
    r.mutable_worker()->set_name(name);
    r.mutable_worker()->set_host("localhost");
    r.mutable_worker()->set_threads(2);
    auto resp = scheduler_->RegisterWorker(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp->worker_id();
  }

  absl::StatusOr<v1::LeaseTrialResponse> Lease(const std::string& worker, int64_t experiment = 0) {
    v1::LeaseTrialRequest r;
    r.set_worker_id(worker);
    r.set_experiment_id(experiment);
    return scheduler_->LeaseTrial(r);
  }

  absl::StatusOr<v1::ProgressDecision> Report(const std::string& worker, int64_t suggestion,
                                              int64_t step, double auc) {
    v1::ProgressReport r;
    r.set_worker_id(worker);
    r.set_suggestion_id(suggestion);
    r.mutable_checkpoint()->set_step(step);
    auto* m = r.mutable_checkpoint()->add_metrics();
    m->set_name("auc");
    m->set_value(auc);
    return scheduler_->ReportProgress(r);
  }

  absl::StatusOr<v1::Observation> Complete(const std::string& worker, int64_t suggestion,
                                           double auc) {
    v1::CompleteTrialRequest r;
    r.set_worker_id(worker);
    r.set_suggestion_id(suggestion);
    auto* v = r.add_values();
    v->set_name("auc");
    v->set_value(auc);
    return scheduler_->CompleteTrial(r);
  }

  FakeClock clock_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<ExperimentManager> manager_;
  std::unique_ptr<TrialScheduler> scheduler_;
};

TEST_F(TrialSchedulerTest, RegisterAssignsIdsAndKeepsGivenOnes) {
  const std::string id = Register("node1");
  EXPECT_THAT(id, ::testing::StartsWith("w-"));
  v1::RegisterWorkerRequest again;
  again.set_worker_id(id);
  auto resp = scheduler_->RegisterWorker(again);
  HPO_ASSERT_OK(resp);
  EXPECT_EQ(resp->worker_id(), id);
  EXPECT_GT(resp->heartbeat_interval().seconds(), 0);
}

TEST_F(TrialSchedulerTest, UnregisteredWorkerIsNotFound) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(4, 2)));
  EXPECT_THAT(Lease("nobody"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
}

TEST_F(TrialSchedulerTest, SameWorkerGetsItsOwnSuggestionBack) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(4, 2)));
  const std::string w = Register("n1");
  auto first = Lease(w);
  HPO_ASSERT_OK(first);
  ASSERT_TRUE(first->has_suggestion());
  EXPECT_EQ(first->suggestion().state(), v1::SUGGESTION_STATE_ACTIVE);
  auto again = Lease(w);
  HPO_ASSERT_OK(again);
  EXPECT_EQ(again->suggestion().id(), first->suggestion().id());
}

TEST_F(TrialSchedulerTest, WorkersShareExperimentWithinBandwidth) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(10, 2)));
  const std::string a = Register("a"), b = Register("b"), c = Register("c");
  auto la = Lease(a), lb = Lease(b), lc = Lease(c);
  HPO_ASSERT_OK(la);
  HPO_ASSERT_OK(lb);
  HPO_ASSERT_OK(lc);
  EXPECT_TRUE(la->has_suggestion());
  EXPECT_TRUE(lb->has_suggestion());
  EXPECT_NE(la->suggestion().id(), lb->suggestion().id());
  EXPECT_FALSE(lc->has_suggestion());  // bandwidth 2 is taken: no work now
  HPO_ASSERT_OK(Complete(a, la->suggestion().id(), 0.7));
  auto lc2 = Lease(c);
  HPO_ASSERT_OK(lc2);
  EXPECT_TRUE(lc2->has_suggestion());
}

TEST_F(TrialSchedulerTest, ExpiredLeaseReturnsSuggestionToPoolThenFails) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(5, 1)));
  const std::string a = Register("a"), b = Register("b");
  auto la = Lease(a);
  HPO_ASSERT_OK(la);
  const int64_t id = la->suggestion().id();
  clock_.Advance(absl::Seconds(31));  // a vanished
  auto lb = Lease(b);
  HPO_ASSERT_OK(lb);
  ASSERT_TRUE(lb->has_suggestion());
  EXPECT_EQ(lb->suggestion().id(), id);  // same trial, second attempt
  EXPECT_EQ(lb->suggestion().attempts(), 2);
  EXPECT_THAT(Complete(a, id, 0.5), StatusIs(absl::StatusCode::kFailedPrecondition,
                                             HasSubstr("not leased by worker")));
  clock_.Advance(absl::Seconds(31));  // b vanished too: max_attempts = 2 reached
  auto reaped = scheduler_->ReapExpiredLeases();
  HPO_ASSERT_OK(reaped);
  EXPECT_EQ(*reaped, 1);
  auto observations = manager_->ListObservations(lb->experiment().id());
  HPO_ASSERT_OK(observations);
  ASSERT_EQ(observations->size(), 1u);
  EXPECT_TRUE((*observations)[0].failed());
  EXPECT_THAT((*observations)[0].failure_reason(), HasSubstr("lease expired"));
}

TEST_F(TrialSchedulerTest, HeartbeatRenewsLease) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(5, 1)));
  const std::string a = Register("a");
  auto la = Lease(a);
  const int64_t id = la->suggestion().id();
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(absl::Seconds(20));
    v1::HeartbeatRequest hb;
    hb.set_worker_id(a);
    hb.set_suggestion_id(id);
    auto r = scheduler_->Heartbeat(hb);
    HPO_ASSERT_OK(r);
    EXPECT_FALSE(r->stop());
  }
  EXPECT_EQ(*scheduler_->ReapExpiredLeases(), 0);
  HPO_EXPECT_OK(Complete(a, id, 0.8));
}

TEST_F(TrialSchedulerTest, CompleteIsIdempotentAndProgressIsStored) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(5, 1)));
  const std::string a = Register("a");
  auto la = Lease(a);
  const int64_t id = la->suggestion().id();
  for (int step : {100, 200, 300}) {
    auto d = Report(a, id, step, 0.6 + step / 1000.0);
    HPO_ASSERT_OK(d);
    EXPECT_EQ(d->decision(), v1::DECISION_CONTINUE);
  }
  HPO_ASSERT_OK(Report(a, id, 300, 0.9));  // a resent step is not stored twice
  auto first = Complete(a, id, 0.9);
  HPO_ASSERT_OK(first);
  auto retry = Complete(a, id, 0.9);
  HPO_ASSERT_OK(retry);
  EXPECT_EQ(retry->id(), first->id());
  auto curve = manager_->ListCheckpoints(la->experiment().id(), id);
  HPO_ASSERT_OK(curve);
  EXPECT_EQ(curve->size(), 3u);
}

TEST_F(TrialSchedulerTest, ThresholdPrunerStopsAndTrialEndsPruned) {
  v1::Experiment spec = Spec(5, 1);
  spec.mutable_pruner()->mutable_threshold()->set_lower(0.55);
  HPO_ASSERT_OK(manager_->CreateExperiment(spec));
  const std::string a = Register("a");
  auto la = Lease(a);
  const int64_t id = la->suggestion().id();
  HPO_ASSERT_OK(Report(a, id, 1, 0.6));
  auto d = Report(a, id, 2, 0.5);
  HPO_ASSERT_OK(d);
  EXPECT_EQ(d->decision(), v1::DECISION_STOP);
  EXPECT_FALSE(d->reason().empty());
  auto again = Report(a, id, 3, 0.9);  // the decision stands
  HPO_ASSERT_OK(again);
  EXPECT_EQ(again->decision(), v1::DECISION_STOP);
  v1::HeartbeatRequest hb;
  hb.set_worker_id(a);
  hb.set_suggestion_id(id);
  EXPECT_TRUE(scheduler_->Heartbeat(hb)->stop());
  HPO_ASSERT_OK(Complete(a, id, 0.5));
  auto s = manager_->ListSuggestions(la->experiment().id(), {});
  EXPECT_EQ(s->at(0).state(), v1::SUGGESTION_STATE_PRUNED);
  EXPECT_EQ(s->at(0).stop_step(), 2);
  EXPECT_EQ(s->at(0).stop_reason(), d->reason());
}

TEST_F(TrialSchedulerTest, LastStepOfAFullRunIsNeverPruned) {
  v1::Experiment spec = Spec(5, 1);
  spec.mutable_pruner()->mutable_threshold()->set_lower(0.55);
  spec.mutable_training()->set_max_steps(3);
  HPO_ASSERT_OK(manager_->CreateExperiment(spec));
  const std::string a = Register("a");
  auto la = Lease(a);
  const int64_t id = la->suggestion().id();
  HPO_ASSERT_OK(Report(a, id, 1, 0.6));
  auto last = Report(a, id, 3, 0.5);  // below the threshold, but the run is complete
  HPO_ASSERT_OK(last);
  EXPECT_EQ(last->decision(), v1::DECISION_CONTINUE);
  HPO_ASSERT_OK(Complete(a, id, 0.5));
  EXPECT_EQ(manager_->ListSuggestions(la->experiment().id(), {})->at(0).state(),
            v1::SUGGESTION_STATE_COMPLETED);
}

TEST_F(TrialSchedulerTest, NanCheckpointIsStoppedAsAnomalyAndNotStored) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(5, 1)));
  const std::string a = Register("a");
  auto la = Lease(a);
  const int64_t id = la->suggestion().id();
  auto d = Report(a, id, 10, std::numeric_limits<double>::quiet_NaN());
  HPO_ASSERT_OK(d);
  EXPECT_EQ(d->decision(), v1::DECISION_STOP);
  EXPECT_THAT(d->reason(), HasSubstr("auc"));
  EXPECT_TRUE(manager_->ListCheckpoints(la->experiment().id(), id)->empty());
}

TEST_F(TrialSchedulerTest, ProgressFromOtherWorkerIsRefused) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(5, 1)));
  const std::string a = Register("a"), b = Register("b");
  auto la = Lease(a);
  EXPECT_THAT(Report(b, la->suggestion().id(), 1, 0.5),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// --- Gang trials (TrainingSpec.ranks_per_trial > 1) ---

v1::Experiment GangSpec(int ranks) {
  v1::Experiment e = Spec(6, 2);
  e.mutable_training()->set_ranks_per_trial(ranks);
  return e;
}

v1::HeartbeatRequest Beat(const std::string& worker, int64_t suggestion) {
  v1::HeartbeatRequest hb;
  hb.set_worker_id(worker);
  hb.set_suggestion_id(suggestion);
  return hb;
}

TEST_F(TrialSchedulerTest, GangFormsOnlyWithAllRanksAndRanksAreStable) {
  HPO_ASSERT_OK(manager_->CreateExperiment(GangSpec(3)));
  const std::string a = Register("a"), b = Register("b"), c = Register("c");
  auto la = Lease(a);
  HPO_ASSERT_OK(la);
  EXPECT_FALSE(la->has_suggestion());
  EXPECT_TRUE(la->gang_forming());
  auto lb = Lease(b);
  HPO_ASSERT_OK(lb);
  EXPECT_FALSE(lb->has_suggestion());
  EXPECT_TRUE(lb->gang_forming());
  auto again = Lease(a);  // still gathering
  HPO_ASSERT_OK(again);
  EXPECT_FALSE(again->has_suggestion());
  EXPECT_TRUE(again->gang_forming());
  auto lc = Lease(c);  // the third rank completes the gang
  HPO_ASSERT_OK(lc);
  ASSERT_TRUE(lc->has_suggestion());
  EXPECT_FALSE(lc->gang_forming());
  EXPECT_EQ(lc->gang().rank(), 2);
  EXPECT_EQ(lc->gang().world_size(), 3);
  EXPECT_EQ(lc->gang().master_addr(), "localhost");
  const int64_t id = lc->suggestion().id();
  EXPECT_EQ(lc->gang().master_port(), 29500 + id % 1000);
  // Every member gets the same suggestion with its join-order rank, again and again.
  for (int round = 0; round < 2; ++round) {
    for (const auto& [worker, rank] :
         std::vector<std::pair<std::string, int>>{{a, 0}, {b, 1}, {c, 2}}) {
      auto l = Lease(worker);
      HPO_ASSERT_OK(l);
      ASSERT_TRUE(l->has_suggestion()) << worker;
      EXPECT_EQ(l->suggestion().id(), id);
      EXPECT_EQ(l->gang().rank(), rank);
      EXPECT_EQ(l->gang().world_size(), 3);
    }
  }
  // A fourth worker starts the next gang (bandwidth 2), it does not join the formed one.
  const std::string d = Register("d");
  auto ld = Lease(d);
  HPO_ASSERT_OK(ld);
  EXPECT_FALSE(ld->has_suggestion());
  EXPECT_TRUE(ld->gang_forming());
}

TEST_F(TrialSchedulerTest, GangRendezvousUsesRankZerosAdvertisedPort) {
  HPO_ASSERT_OK(manager_->CreateExperiment(GangSpec(2)));
  v1::RegisterWorkerRequest r;
  r.mutable_worker()->set_name("m");
  r.mutable_worker()->set_host("node7");
  (*r.mutable_worker()->mutable_labels())["rendezvous_port"] = "31234";
  auto reg = scheduler_->RegisterWorker(r);
  HPO_ASSERT_OK(reg);
  const std::string a = reg->worker_id(), b = Register("b");
  HPO_ASSERT_OK(Lease(a));
  auto lb = Lease(b);
  HPO_ASSERT_OK(lb);
  ASSERT_TRUE(lb->has_suggestion());
  EXPECT_EQ(lb->gang().master_addr(), "node7");
  EXPECT_EQ(lb->gang().master_port(), 31234);
}

TEST_F(TrialSchedulerTest, OnlyRankZeroReportsAndCompletes) {
  HPO_ASSERT_OK(manager_->CreateExperiment(GangSpec(2)));
  const std::string a = Register("a"), b = Register("b");
  HPO_ASSERT_OK(Lease(a));
  auto lb = Lease(b);
  HPO_ASSERT_OK(lb);
  const int64_t id = lb->suggestion().id();
  EXPECT_THAT(Report(b, id, 1, 0.5),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("only rank 0")));
  EXPECT_THAT(Complete(b, id, 0.5),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("only rank 0")));
  HPO_ASSERT_OK(Report(a, id, 1, 0.5));
  // Rank 1 releases its place with an empty completion; the trial stays rank 0's.
  v1::CompleteTrialRequest release;
  release.set_worker_id(b);
  release.set_suggestion_id(id);
  HPO_ASSERT_OK(scheduler_->CompleteTrial(release));
  auto obs = Complete(a, id, 0.7);
  HPO_ASSERT_OK(obs);
  EXPECT_FALSE(obs->failed());
  auto observations = manager_->ListObservations(lb->experiment().id());
  HPO_ASSERT_OK(observations);
  EXPECT_EQ(observations->size(), 1u);
  // Both workers go on to the next gang.
  auto next = Lease(b);
  HPO_ASSERT_OK(next);
  EXPECT_TRUE(next->gang_forming());
}

TEST_F(TrialSchedulerTest, LostRankDissolvesGangAndReturnsSuggestion) {
  HPO_ASSERT_OK(manager_->CreateExperiment(GangSpec(2)));
  const std::string a = Register("a"), b = Register("b"), c = Register("c");
  HPO_ASSERT_OK(Lease(a));
  auto lb = Lease(b);
  HPO_ASSERT_OK(lb);
  ASSERT_TRUE(lb->has_suggestion());
  const int64_t id = lb->suggestion().id();
  EXPECT_EQ(lb->suggestion().attempts(), 1);
  // Rank 0 keeps beating, rank 1 (b) vanishes.
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(absl::Seconds(20));
    auto hb = scheduler_->Heartbeat(Beat(a, id));
    HPO_ASSERT_OK(hb);
    EXPECT_FALSE(hb->stop());
  }
  auto reaped = scheduler_->ReapExpiredLeases();
  HPO_ASSERT_OK(reaped);
  EXPECT_EQ(*reaped, 1);
  // The surviving rank is told to stop, and can no longer report.
  auto hb = scheduler_->Heartbeat(Beat(a, id));
  HPO_ASSERT_OK(hb);
  EXPECT_TRUE(hb->stop());
  EXPECT_THAT(Report(a, id, 1, 0.5), StatusIs(absl::StatusCode::kFailedPrecondition));
  auto s = store_->GetSuggestion(id);
  HPO_ASSERT_OK(s);
  EXPECT_EQ(s->state(), v1::SUGGESTION_STATE_OPEN);
  // A new gang takes the same suggestion again: second attempt, not a duplicate trial.
  auto lc = Lease(c);
  HPO_ASSERT_OK(lc);
  EXPECT_TRUE(lc->gang_forming());
  auto la = Lease(a);
  HPO_ASSERT_OK(la);
  ASSERT_TRUE(la->has_suggestion());
  EXPECT_EQ(la->suggestion().id(), id);
  EXPECT_EQ(la->suggestion().attempts(), 2);
  EXPECT_EQ(la->gang().rank(), 1);
  // Losing it again reaches max_attempts = 2: the trial fails, once.
  clock_.Advance(absl::Seconds(31));
  HPO_ASSERT_OK(scheduler_->ReapExpiredLeases());
  auto observations = manager_->ListObservations(la->experiment().id());
  HPO_ASSERT_OK(observations);
  ASSERT_EQ(observations->size(), 1u);
  EXPECT_TRUE((*observations)[0].failed());
  EXPECT_THAT((*observations)[0].failure_reason(), HasSubstr("gang rank"));
}

TEST_F(TrialSchedulerTest, GatheringGangDropsExpiredMembers) {
  HPO_ASSERT_OK(manager_->CreateExperiment(GangSpec(3)));
  const std::string a = Register("a"), b = Register("b"), c = Register("c"), d = Register("d");
  HPO_ASSERT_OK(Lease(a));  // rank 0, then vanishes
  clock_.Advance(absl::Seconds(20));
  auto lb = Lease(b);
  HPO_ASSERT_OK(lb);
  EXPECT_TRUE(lb->gang_forming());
  clock_.Advance(absl::Seconds(15));  // a's place expired, b's did not
  auto lc = Lease(c);
  HPO_ASSERT_OK(lc);
  EXPECT_TRUE(lc->gang_forming());  // a was dropped: two of three
  auto ld = Lease(d);
  HPO_ASSERT_OK(ld);
  ASSERT_TRUE(ld->has_suggestion());
  EXPECT_EQ(ld->gang().rank(), 2);
  EXPECT_EQ(ld->suggestion().attempts(), 1);  // gathering is not an attempt lost
  auto again = Lease(b);
  HPO_ASSERT_OK(again);
  ASSERT_TRUE(again->has_suggestion());
  EXPECT_EQ(again->gang().rank(), 0);  // b took over rank 0 and the suggestion's lease
  EXPECT_EQ(again->suggestion().worker_id(), b);
  auto gone = Lease(a);  // a comes back: its place is gone, it starts gathering a new gang
  HPO_ASSERT_OK(gone);
  EXPECT_TRUE(gone->gang_forming());
}

TEST_F(TrialSchedulerTest, RanksPerTrialIsValidated) {
  EXPECT_THAT(manager_->CreateExperiment(GangSpec(65)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ranks_per_trial")));
  EXPECT_THAT(manager_->CreateExperiment(GangSpec(-1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ranks_per_trial")));
}

}  // namespace
}  // namespace hpo::service
