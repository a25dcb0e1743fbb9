#include "server/service/trial_scheduler.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
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

// --- Checkpoint steps ---

TEST_F(TrialSchedulerTest, LowerCheckpointStepIsRefusedAndNotStored) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(5, 1)));
  const std::string a = Register("a");
  auto la = Lease(a);
  HPO_ASSERT_OK(la);
  const int64_t id = la->suggestion().id();
  HPO_ASSERT_OK(Report(a, id, 10, 0.6));
  EXPECT_THAT(Report(a, id, 5, 0.7), StatusIs(absl::StatusCode::kInvalidArgument,
                                              ::testing::AllOf(HasSubstr("checkpoint.step"),
                                                               HasSubstr("5"), HasSubstr("10"))));
  // A resend of the last step is a retry, not an error; a higher step goes on.
  auto resent = Report(a, id, 10, 0.6);
  HPO_ASSERT_OK(resent);
  EXPECT_EQ(resent->decision(), v1::DECISION_CONTINUE);
  HPO_ASSERT_OK(Report(a, id, 20, 0.8));
  // A stored step sent again after a reconnect is a retry too; a new step below the last is not.
  auto again = Report(a, id, 10, 0.6);
  HPO_ASSERT_OK(again);
  EXPECT_EQ(again->step(), 10);
  EXPECT_THAT(Report(a, id, 15, 0.7), StatusIs(absl::StatusCode::kInvalidArgument,
                                               ::testing::AllOf(HasSubstr("checkpoint.step"),
                                                                HasSubstr("15"), HasSubstr("20"))));
  auto curve = manager_->ListCheckpoints(la->experiment().id(), id);
  HPO_ASSERT_OK(curve);
  ASSERT_EQ(curve->size(), 2u);
  EXPECT_EQ((*curve)[0].step(), 10);
  EXPECT_EQ((*curve)[1].step(), 20);
}

TEST_F(TrialSchedulerTest, StepOrderIsKeptAcrossARestartAndStartsOverWithANewAttempt) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(5, 1)));
  const std::string a = Register("a"), b = Register("b");
  auto la = Lease(a);
  HPO_ASSERT_OK(la);
  const int64_t id = la->suggestion().id();
  HPO_ASSERT_OK(Report(a, id, 10, 0.6));
  // A restarted server (a new scheduler, nothing cached) still knows the last step.
  TrialSchedulerOptions options = scheduler_->options();
  scheduler_.reset();
  scheduler_ = std::make_unique<TrialScheduler>(manager_.get(), &clock_, options);
  EXPECT_THAT(Report(a, id, 3, 0.7),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checkpoint.step")));
  // The next attempt (another worker, after the lease expired) runs the trial from the start.
  clock_.Advance(absl::Seconds(31));
  auto lb = Lease(b);
  HPO_ASSERT_OK(lb);
  ASSERT_EQ(lb->suggestion().id(), id);
  EXPECT_EQ(lb->suggestion().attempts(), 2);
  HPO_ASSERT_OK(Report(b, id, 2, 0.6));
  EXPECT_THAT(Report(b, id, 1, 0.6),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checkpoint.step")));
}

TEST_F(TrialSchedulerTest, EveryNewLeaseStartsTheStepsOverAlthoughReleasesReuseAttemptNumbers) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(5, 1)));
  const std::string a = Register("a");
  auto release = [&](int64_t suggestion) {
    v1::ReleaseTrialRequest r;
    r.set_worker_id(a);
    r.set_suggestion_id(suggestion);
    r.set_reason("SIGTERM");
    return scheduler_->ReleaseTrial(r);
  };
  auto first = Lease(a);
  HPO_ASSERT_OK(first);
  const int64_t id = first->suggestion().id();
  HPO_ASSERT_OK(release(id));
  auto second = Lease(a);
  HPO_ASSERT_OK(second);
  ASSERT_EQ(second->suggestion().id(), id);
  EXPECT_EQ(second->suggestion().attempts(), 2);
  for (int64_t step = 10; step <= 50; step += 10) HPO_ASSERT_OK(Report(a, id, step, 0.5));
  HPO_ASSERT_OK(release(id));
  auto third = Lease(a);
  HPO_ASSERT_OK(third);
  ASSERT_EQ(third->suggestion().id(), id);
  EXPECT_EQ(third->suggestion().attempts(), 2);  // the same number as the second lease's
  auto restarted = Report(a, id, 5, 0.5);
  HPO_ASSERT_OK(restarted);
  EXPECT_EQ(restarted->decision(), v1::DECISION_CONTINUE);
  EXPECT_THAT(Report(a, id, 4, 0.5),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checkpoint.step")));
}

// --- One worker id, concurrent calls ---

TEST_F(TrialSchedulerTest, ConcurrentLeasesOfOneWorkerGetOneSuggestion) {
  constexpr int kRounds = 20, kCalls = 5;
  for (int round = 0; round < kRounds; ++round) {
    v1::Experiment spec = Spec(20, kCalls);
    spec.set_name(absl::StrCat("race-", round));
    auto e = manager_->CreateExperiment(spec);
    HPO_ASSERT_OK(e);
    const std::string w = Register(absl::StrCat("racer-", round));
    std::vector<absl::StatusOr<v1::LeaseTrialResponse>> leases(kCalls);
    absl::Notification go;
    std::vector<std::thread> threads;
    for (int i = 0; i < kCalls; ++i) {
      threads.emplace_back([&, i] {
        go.WaitForNotification();
        leases[i] = Lease(w, e->id());
      });
    }
    go.Notify();
    for (std::thread& t : threads) t.join();
    std::set<int64_t> ids;
    for (const auto& lease : leases) {
      HPO_ASSERT_OK(lease);
      ASSERT_TRUE(lease->has_suggestion());
      ids.insert(lease->suggestion().id());
    }
    EXPECT_EQ(ids.size(), 1u) << "round " << round;
    auto active = manager_->ListSuggestions(e->id(), {v1::SUGGESTION_STATE_ACTIVE});
    HPO_ASSERT_OK(active);
    EXPECT_EQ(active->size(), 1u) << "round " << round;
  }
}

// --- Worker ownership ---

TEST_F(TrialSchedulerTest, WorkerIdsBelongToTheProjectThatRegisteredThem) {
  v1::Experiment beta_spec = Spec(5, 2);
  beta_spec.set_project("beta");
  beta_spec.mutable_training()->set_ranks_per_trial(2);
  auto beta = manager_->CreateExperiment(beta_spec);
  HPO_ASSERT_OK(beta);
  v1::RegisterWorkerRequest r;
  r.mutable_worker()->set_name("b0");
  r.mutable_worker()->set_host("beta-host");
  (*r.mutable_worker()->mutable_labels())["rendezvous_host"] = "10.0.0.2";
  auto b0 = scheduler_->RegisterWorker(r, "beta");
  HPO_ASSERT_OK(b0);
  const std::string id = b0->worker_id();
  v1::RegisterWorkerRequest b1_request;
  auto b1 = scheduler_->RegisterWorker(b1_request, "beta");
  HPO_ASSERT_OK(b1);

  // Project alpha cannot take the id over: not its description, not its rendezvous address.
  v1::RegisterWorkerRequest takeover;
  takeover.set_worker_id(id);
  takeover.mutable_worker()->set_host("evil-host");
  (*takeover.mutable_worker()->mutable_labels())["rendezvous_host"] = "evil.example";
  EXPECT_THAT(scheduler_->RegisterWorker(takeover, "alpha"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("worker_id")));
  auto stored = store_->GetWorker(id);
  HPO_ASSERT_OK(stored);
  EXPECT_EQ(stored->info.host(), "beta-host");
  EXPECT_EQ(stored->owner, std::optional<std::string>("beta"));

  // Every other call with the id reads like an unknown worker's.
  v1::LeaseTrialRequest lease;
  lease.set_worker_id(id);
  EXPECT_THAT(scheduler_->LeaseTrial(lease, "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  lease.set_worker_id("never-registered");
  const absl::Status unknown = scheduler_->LeaseTrial(lease, "alpha").status();
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  EXPECT_THAT(scheduler_->Heartbeat(Beat(id, 0), "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));

  // Beta's own calls work; its gang's rank 1 meets rank 0 at beta's address.
  lease.set_worker_id(id);
  lease.set_project("beta");
  HPO_ASSERT_OK(scheduler_->LeaseTrial(lease, "beta"));
  lease.set_worker_id(b1->worker_id());
  auto rank1 = scheduler_->LeaseTrial(lease, "beta");
  HPO_ASSERT_OK(rank1);
  ASSERT_TRUE(rank1->has_suggestion());
  EXPECT_EQ(rank1->gang().master_addr(), "10.0.0.2");
  const int64_t suggestion = rank1->suggestion().id();
  HPO_EXPECT_OK(scheduler_->Heartbeat(Beat(id, suggestion), "beta"));

  // With another project's scope, the holder's progress, completion and release are refused too.
  v1::ProgressReport report;
  report.set_worker_id(id);
  report.set_suggestion_id(suggestion);
  report.mutable_checkpoint()->set_step(1);
  EXPECT_THAT(scheduler_->ReportProgress(report, "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  v1::CompleteTrialRequest complete;
  complete.set_worker_id(id);
  complete.set_suggestion_id(suggestion);
  complete.add_values()->set_name("auc");
  EXPECT_THAT(scheduler_->CompleteTrial(complete, "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  v1::ReleaseTrialRequest release;
  release.set_worker_id(id);
  release.set_suggestion_id(suggestion);
  EXPECT_THAT(scheduler_->ReleaseTrial(release, "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  EXPECT_EQ(store_->GetSuggestion(suggestion)->state(), v1::SUGGESTION_STATE_ACTIVE);

  // An unscoped caller (admin; or any caller without --auth) may use every worker.
  HPO_EXPECT_OK(scheduler_->Heartbeat(Beat(id, suggestion), ""));
  HPO_EXPECT_OK(scheduler_->RegisterWorker(takeover, ""));
  EXPECT_EQ(store_->GetWorker(id)->owner, std::optional<std::string>("beta"));
}

TEST(TrialSchedulerOwnersTest, WorkerRegisteredBeforeOwnersIsClaimedOnlyByARegistration) {
  const std::string path = ::testing::TempDir() + "/unowned-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  FakeClock clock;
  {
    auto store = store::SqliteStore::Open(path, &clock);
    HPO_ASSERT_OK(store);
    HPO_ASSERT_OK((*store)->UpsertWorker("w-old", v1::WorkerInfo(), ""));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE workers SET owner = NULL", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = store::SqliteStore::Open(path, &clock);
  HPO_ASSERT_OK(store);
  ExperimentManager manager(store->get(), &clock);
  TrialSchedulerOptions options;
  options.background_reaper = false;
  TrialScheduler scheduler(&manager, &clock, options);
  v1::Experiment alpha_spec = Spec(5, 1);
  alpha_spec.set_project("alpha");
  HPO_ASSERT_OK(manager.CreateExperiment(alpha_spec));

  // A project's caller cannot use (or claim) an unowned id by any call but a registration: it
  // may be another project's worker from before owners were recorded.
  v1::LeaseTrialRequest lease;
  lease.set_worker_id("w-old");
  EXPECT_THAT(scheduler.LeaseTrial(lease, "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  EXPECT_THAT(scheduler.Heartbeat(Beat("w-old", 0), "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  v1::ProgressReport report;
  report.set_worker_id("w-old");
  report.set_suggestion_id(1);
  report.mutable_checkpoint()->set_step(1);
  EXPECT_THAT(scheduler.ReportProgress(report, "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  v1::CompleteTrialRequest complete;
  complete.set_worker_id("w-old");
  complete.set_suggestion_id(1);
  EXPECT_THAT(scheduler.CompleteTrial(complete, "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  v1::ReleaseTrialRequest release;
  release.set_worker_id("w-old");
  release.set_suggestion_id(1);
  EXPECT_THAT(scheduler.ReleaseTrial(release, "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  EXPECT_EQ((*store)->GetWorker("w-old")->owner, std::nullopt);
  // An unscoped caller may use it, and does not claim it either.
  HPO_EXPECT_OK(scheduler.Heartbeat(Beat("w-old", 0), ""));
  EXPECT_EQ((*store)->GetWorker("w-old")->owner, std::nullopt);

  v1::RegisterWorkerRequest r;
  r.set_worker_id("w-old");
  HPO_ASSERT_OK(scheduler.RegisterWorker(r, "alpha"));
  EXPECT_EQ((*store)->GetWorker("w-old")->owner, std::optional<std::string>("alpha"));
  EXPECT_THAT(scheduler.RegisterWorker(r, "beta"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("worker_id")));
  HPO_EXPECT_OK(scheduler.RegisterWorker(r, "alpha"));
  HPO_EXPECT_OK(scheduler.Heartbeat(Beat("w-old", 0), "alpha"));
  std::remove(path.c_str());
}

TEST_F(TrialSchedulerTest, LeaseWithAnotherProjectsWorkerIdChangesNothing) {
  v1::Experiment beta_spec = Spec(5, 1);
  beta_spec.set_project("beta");
  HPO_ASSERT_OK(manager_->CreateExperiment(beta_spec));
  v1::RegisterWorkerRequest r;
  auto b = scheduler_->RegisterWorker(r, "beta");
  HPO_ASSERT_OK(b);
  v1::LeaseTrialRequest lease;
  lease.set_worker_id(b->worker_id());
  auto leased = scheduler_->LeaseTrial(lease, "beta");
  HPO_ASSERT_OK(leased);
  ASSERT_TRUE(leased->has_suggestion());
  const int64_t id = leased->suggestion().id();
  clock_.Advance(absl::Seconds(31));  // the lease expired; nothing has reaped it yet
  // Alpha's ask with beta's id is refused before any work on beta's behalf (no reaping, no
  // waiting on the worker's lock).
  EXPECT_THAT(scheduler_->LeaseTrial(lease, "alpha"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker_id")));
  auto s = store_->GetSuggestion(id);
  HPO_ASSERT_OK(s);
  EXPECT_EQ(s->state(), v1::SUGGESTION_STATE_ACTIVE);
  EXPECT_EQ(s->worker_id(), b->worker_id());
}

// --- Bounded strings ---

TEST_F(TrialSchedulerTest, WorkerDescriptionsAndIdsAreBounded) {
  v1::RegisterWorkerRequest r;
  r.mutable_worker()->set_host(std::string(257, 'h'));
  EXPECT_THAT(scheduler_->RegisterWorker(r),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker.host")));
  r.mutable_worker()->set_host("h");
  auto& labels = *r.mutable_worker()->mutable_labels();
  labels["rendezvous_host"] = std::string(254, 'x');  // copied into every gang member's lease
  EXPECT_THAT(scheduler_->RegisterWorker(r),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("worker.labels[\"rendezvous_host\"]")));
  labels.clear();
  labels[std::string(64, 'k')] = "v";
  EXPECT_THAT(scheduler_->RegisterWorker(r),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker.labels")));
  labels.clear();
  for (int i = 0; i < 33; ++i) labels[absl::StrCat("k", i)] = "v";
  EXPECT_THAT(scheduler_->RegisterWorker(r),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker.labels")));
  labels.erase("k0");
  HPO_EXPECT_OK(scheduler_->RegisterWorker(r));

  const std::string long_id(129, 'w');
  EXPECT_THAT(Lease(long_id), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker_id")));
  EXPECT_THAT(scheduler_->Heartbeat(Beat(long_id, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker_id")));
  EXPECT_THAT(Report(long_id, 1, 1, 0.5),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker_id")));
  EXPECT_THAT(Complete(long_id, 1, 0.5),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker_id")));
  v1::ReleaseTrialRequest release;
  release.set_worker_id(long_id);
  release.set_suggestion_id(1);
  EXPECT_THAT(scheduler_->ReleaseTrial(release),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker_id")));
}

TEST_F(TrialSchedulerTest, CompletionMetadataIsBoundedAndALongFailureReasonIsCut) {
  HPO_ASSERT_OK(manager_->CreateExperiment(Spec(5, 1)));
  const std::string w = Register("w");
  auto leased = Lease(w);
  HPO_ASSERT_OK(leased);
  v1::CompleteTrialRequest c;
  c.set_worker_id(w);
  c.set_suggestion_id(leased->suggestion().id());
  c.set_failed(true);
  c.set_failure_reason(std::string(1 << 20, 'x'));  // the tail of a program's output
  for (int i = 0; i < 65; ++i) (*c.mutable_metadata())[absl::StrCat("k", i)] = "v";
  EXPECT_THAT(scheduler_->CompleteTrial(c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata")));
  c.clear_metadata();
  (*c.mutable_metadata())["k"] = std::string(4097, 'v');
  EXPECT_THAT(scheduler_->CompleteTrial(c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata[\"k\"]")));
  c.clear_metadata();
  auto o = scheduler_->CompleteTrial(c);
  HPO_ASSERT_OK(o);
  EXPECT_LE(o->failure_reason().size(), 4096u);
  EXPECT_THAT(o->failure_reason(), HasSubstr("1048576 bytes in all"));
}

// --- Learning-curve cache ---

TEST_F(TrialSchedulerTest, CurveCacheIsReadOnceAndLeavesWithItsExperiment) {
  auto e = manager_->CreateExperiment(Spec(5, 2));
  HPO_ASSERT_OK(e);
  const std::string a = Register("a");
  auto la = Lease(a);
  HPO_ASSERT_OK(la);
  const int64_t id = la->suggestion().id();
  for (int step = 1; step <= 300; ++step) HPO_ASSERT_OK(Report(a, id, step, 0.5));
  CurveCacheStats stats = scheduler_->curve_cache_stats();
  EXPECT_EQ(stats.loads, 1);  // one read of the store, then only appends
  EXPECT_EQ(stats.experiments, 1);
  EXPECT_EQ(stats.trials, 1);
  EXPECT_EQ(stats.points, 300);
  // A deleted suggestion's curve leaves at the next report.
  const std::string b = Register("b");
  auto lb = Lease(b);
  HPO_ASSERT_OK(lb);
  HPO_ASSERT_OK(manager_->DeleteSuggestion(e->id(), id));
  HPO_ASSERT_OK(Report(b, lb->suggestion().id(), 1, 0.5));
  stats = scheduler_->curve_cache_stats();
  EXPECT_EQ(stats.trials, 1);
  EXPECT_EQ(stats.points, 1);
  // Archived: gone.
  HPO_ASSERT_OK(manager_->SetExperimentState(e->id(), v1::EXPERIMENT_STATE_ARCHIVED));
  stats = scheduler_->curve_cache_stats();
  EXPECT_EQ(stats.experiments, 0);
  EXPECT_EQ(stats.points, 0);
}

TEST_F(TrialSchedulerTest, CurveCacheLeavesWhenTheLastObservationCompletesTheExperiment) {
  auto e = manager_->CreateExperiment(Spec(1, 1));
  HPO_ASSERT_OK(e);
  const std::string a = Register("a");
  auto la = Lease(a);
  HPO_ASSERT_OK(la);
  HPO_ASSERT_OK(Report(a, la->suggestion().id(), 1, 0.5));
  EXPECT_EQ(scheduler_->curve_cache_stats().experiments, 1);
  HPO_ASSERT_OK(Complete(a, la->suggestion().id(), 0.5));
  EXPECT_EQ(manager_->GetExperiment(e->id())->state(), v1::EXPERIMENT_STATE_COMPLETED);
  EXPECT_EQ(scheduler_->curve_cache_stats().experiments, 0);
}

TEST_F(TrialSchedulerTest, CurveCacheIsBoundedAndDecisionsStayTheSame) {
  TrialSchedulerOptions options = scheduler_->options();
  options.curve_cache_max_points = 6;
  scheduler_.reset();
  scheduler_ = std::make_unique<TrialScheduler>(manager_.get(), &clock_, options);
  // Two experiments whose threshold pruner stops a trial below 0.55.
  std::vector<int64_t> suggestions;
  std::vector<std::string> workers;
  for (const char* name : {"one", "two"}) {
    v1::Experiment spec = Spec(5, 1);
    spec.set_name(name);
    spec.mutable_pruner()->mutable_threshold()->set_lower(0.55);
    auto e = manager_->CreateExperiment(spec);
    HPO_ASSERT_OK(e);
    workers.push_back(Register(name));
    auto lease = Lease(workers.back(), e->id());
    HPO_ASSERT_OK(lease);
    suggestions.push_back(lease->suggestion().id());
  }
  for (int step = 1; step <= 4; ++step) {
    for (size_t i = 0; i < 2; ++i) {
      auto d = Report(workers[i], suggestions[i], step, 0.6);
      HPO_ASSERT_OK(d);
      EXPECT_EQ(d->decision(), v1::DECISION_CONTINUE);
      EXPECT_LE(scheduler_->curve_cache_stats().points, 6);
    }
  }
  EXPECT_EQ(scheduler_->curve_cache_stats().experiments, 1);  // the other one was evicted
  auto d = Report(workers[0], suggestions[0], 5, 0.5);        // read again from the store
  HPO_ASSERT_OK(d);
  EXPECT_EQ(d->decision(), v1::DECISION_STOP);
  EXPECT_LE(scheduler_->curve_cache_stats().points, 6);
}

}  // namespace
}  // namespace hpo::service
