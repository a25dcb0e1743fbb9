#include "server/service/experiment_manager.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"
#include "tests/testing/status_matchers.h"

namespace hpo::service {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;

v1::Experiment Spec(int budget = 5, int bandwidth = 2) {
  v1::Experiment e;
  e.set_name("exp");
  e.set_observation_budget(budget);
  e.set_parallel_bandwidth(bandwidth);
  auto* lr = e.mutable_search_space()->add_parameters();
  lr->set_name("lr");
  lr->set_type(v1::PARAMETER_TYPE_DOUBLE);
  lr->mutable_bounds()->set_min(1e-4);
  lr->mutable_bounds()->set_max(1);
  lr->set_transformation(v1::TRANSFORMATION_LOG);
  lr->mutable_default_value()->set_number_value(0.01);
  auto* opt = e.mutable_search_space()->add_conditionals();
  opt->set_name("optimizer");
  opt->add_values("sgd");
  opt->add_values("lamb");
  auto* beta = e.mutable_search_space()->add_parameters();
  beta->set_name("beta1");
  beta->set_type(v1::PARAMETER_TYPE_DOUBLE);
  beta->mutable_bounds()->set_min(0.8);
  beta->mutable_bounds()->set_max(0.99);
  auto* cond = beta->add_conditions();
  cond->set_name("optimizer");
  cond->add_values("lamb");
  auto* auc = e.add_metrics();
  auc->set_name("auc");
  return e;
}

v1::MetricValue Value(const std::string& name, double v) {
  v1::MetricValue m;
  m.set_name(name);
  m.set_value(v);
  return m;
}

class ExperimentManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteStore::Open(":memory:", &clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    manager_ = std::make_unique<ExperimentManager>(store_.get(), &clock_);
  }

  int64_t Create(const v1::Experiment& spec) {
    auto e = manager_->CreateExperiment(spec);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? e->id() : 0;
  }

  absl::StatusOr<v1::Observation> Observe(int64_t experiment_id, int64_t suggestion_id,
                                          double auc) {
    v1::CreateObservationRequest r;
    r.set_experiment_id(experiment_id);
    r.set_suggestion_id(suggestion_id);
    *r.add_values() = Value("auc", auc);
    return manager_->CreateObservation(r);
  }

  FakeClock clock_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<ExperimentManager> manager_;
  google::protobuf::Map<std::string, std::string> no_metadata_;
};

TEST_F(ExperimentManagerTest, CreateFillsDefaults) {
  auto e = manager_->CreateExperiment(Spec());
  HPO_ASSERT_OK(e);
  EXPECT_EQ(e->project(), "default");
  EXPECT_EQ(e->state(), v1::EXPERIMENT_STATE_ACTIVE);
  EXPECT_EQ(e->metrics(0).objective(), v1::OBJECTIVE_MAXIMIZE);
  EXPECT_EQ(e->metrics(0).strategy(), v1::METRIC_STRATEGY_OPTIMIZE);
  EXPECT_EQ(e->optimizer().algorithm(), "bayesian");
  EXPECT_NE(e->optimizer().seed(), 0u);
}

TEST_F(ExperimentManagerTest, InvalidSpecStoresNothing) {
  v1::Experiment bad = Spec();
  bad.mutable_search_space()->mutable_parameters(0)->mutable_bounds()->set_min(0);
  EXPECT_THAT(manager_->CreateExperiment(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bounds")));
  EXPECT_THAT(*manager_->ListExperiments("", {}), SizeIs(0));
}

TEST_F(ExperimentManagerTest, ValidationRunsWithinTheCallersLimits) {
  v1::Experiment spec = Spec();
  auto* c = spec.mutable_search_space()->add_linear_constraints();
  auto* term = c->add_terms();
  term->set_name("beta1");
  term->set_weight(1);
  c->set_threshold(0.95);
  c->set_type(v1::CONSTRAINT_TYPE_LESS_THAN);
  // A caller that went away stops the feasibility search; a tiny work limit is spent at once.
  space::WorkLimits gone;
  gone.cancelled = [] { return true; };
  EXPECT_THAT(manager_->CreateExperiment(spec, gone),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("linear_constraints")));
  space::WorkLimits tiny;
  tiny.max_work = 1;
  EXPECT_THAT(manager_->CreateExperiment(spec, tiny),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("budget")));
  EXPECT_THAT(*manager_->ListExperiments("", {}), SizeIs(0));
  // The cheap checks still run whatever the limits.
  v1::Experiment bad = spec;
  bad.set_observation_budget(0);
  EXPECT_THAT(manager_->CreateExperiment(bad, space::WorkLimits()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("observation_budget")));
  HPO_EXPECT_OK(manager_->CreateExperiment(spec));
}

TEST_F(ExperimentManagerTest, DuplicateNameIsAlreadyExists) {
  Create(Spec());
  EXPECT_THAT(manager_->CreateExperiment(Spec()), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(ExperimentManagerTest, SuggestionsRespectParallelBandwidth) {
  const int64_t id = Create(Spec(/*budget=*/10, /*bandwidth=*/2));
  auto a = manager_->CreateSuggestion(id, no_metadata_);
  auto b = manager_->CreateSuggestion(id, no_metadata_);
  HPO_ASSERT_OK(a);
  HPO_ASSERT_OK(b);
  EXPECT_NE(a->id(), b->id());
  EXPECT_THAT(manager_->CreateSuggestion(id, no_metadata_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("parallel_bandwidth")));
  HPO_ASSERT_OK(Observe(id, a->id(), 0.7));
  HPO_EXPECT_OK(manager_->CreateSuggestion(id, no_metadata_));
}

TEST_F(ExperimentManagerTest, SuggestionsHaveOnlyActiveParameters) {
  const int64_t id = Create(Spec(/*budget=*/20, /*bandwidth=*/20));
  std::set<std::string> branches;
  for (int i = 0; i < 12; ++i) {
    auto s = manager_->CreateSuggestion(id, no_metadata_);
    HPO_ASSERT_OK(s);
    const auto& values = s->assignment().values();
    const std::string branch = values.at("optimizer").string_value();
    branches.insert(branch);
    EXPECT_EQ(values.contains("beta1"), branch == "lamb");
    const double lr = values.at("lr").number_value();
    EXPECT_GE(lr, 1e-4);
    EXPECT_LE(lr, 1);
  }
  EXPECT_THAT(branches, SizeIs(2));
}

TEST_F(ExperimentManagerTest, BudgetCompletesExperimentAndStopsSuggestions) {
  const int64_t id = Create(Spec(/*budget=*/2, /*bandwidth=*/2));
  auto a = manager_->CreateSuggestion(id, no_metadata_);
  auto b = manager_->CreateSuggestion(id, no_metadata_);
  HPO_ASSERT_OK(b);
  HPO_ASSERT_OK(Observe(id, a->id(), 0.6));
  EXPECT_THAT(manager_->CreateSuggestion(id, no_metadata_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("observation_budget")));
  HPO_ASSERT_OK(Observe(id, b->id(), 0.8));
  auto e = manager_->GetExperiment(id);
  EXPECT_EQ(e->state(), v1::EXPERIMENT_STATE_COMPLETED);
  EXPECT_EQ(e->progress().observation_count(), 2);
  EXPECT_THAT(e->progress().stopping_advice(), HasSubstr("budget"));
  EXPECT_THAT(manager_->CreateSuggestion(id, no_metadata_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("completed")));
  EXPECT_THAT(manager_->SetExperimentState(id, v1::EXPERIMENT_STATE_ACTIVE),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("budget")));
}

TEST_F(ExperimentManagerTest, ObservationIsIdempotentOnSuggestion) {
  const int64_t id = Create(Spec());
  auto s = manager_->CreateSuggestion(id, no_metadata_);
  auto first = Observe(id, s->id(), 0.75);
  HPO_ASSERT_OK(first);
  auto again = Observe(id, s->id(), 0.75);
  HPO_ASSERT_OK(again);
  EXPECT_EQ(again->id(), first->id());
  EXPECT_THAT(Observe(id, s->id(), 0.5),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already observed")));
  EXPECT_THAT(*manager_->ListObservations(id), SizeIs(1));
  EXPECT_EQ(manager_->ListSuggestions(id, {})->at(0).state(), v1::SUGGESTION_STATE_COMPLETED);
}

TEST_F(ExperimentManagerTest, ObservationValidation) {
  const int64_t id = Create(Spec());
  auto s = manager_->CreateSuggestion(id, no_metadata_);
  EXPECT_THAT(Observe(id, s->id(), std::nan("")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("auc")));
  EXPECT_THAT(Observe(id, 999, 0.5), StatusIs(absl::StatusCode::kNotFound, HasSubstr("999")));
  EXPECT_THAT(Observe(999, s->id(), 0.5), StatusIs(absl::StatusCode::kNotFound));
  v1::CreateObservationRequest missing;
  missing.set_experiment_id(id);
  missing.set_suggestion_id(s->id());
  EXPECT_THAT(manager_->CreateObservation(missing),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("auc")));
  HPO_ASSERT_OK(manager_->DeleteSuggestion(id, s->id()));
  EXPECT_THAT(Observe(id, s->id(), 0.5),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("deleted")));
  EXPECT_THAT(*manager_->ListObservations(id), SizeIs(0));
}

TEST_F(ExperimentManagerTest, MetadataOfSuggestionsAndObservationsIsBounded) {
  const int64_t id = Create(Spec());
  google::protobuf::Map<std::string, std::string> many, long_value;
  for (int i = 0; i < 65; ++i) many[absl::StrCat("k", i)] = "v";
  long_value["k"] = std::string(4097, 'v');
  EXPECT_THAT(manager_->CreateSuggestion(id, many),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata")));
  EXPECT_THAT(manager_->CreateSuggestion(id, long_value),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata[\"k\"]")));
  v1::Assignment a;
  (*a.mutable_values())["lr"].set_number_value(0.1);
  (*a.mutable_values())["optimizer"].set_string_value("sgd");
  EXPECT_THAT(manager_->QueueSuggestion(id, a, long_value),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata[\"k\"]")));
  EXPECT_THAT(*manager_->ListSuggestions(id, {}), SizeIs(0));
  auto s = manager_->CreateSuggestion(id, no_metadata_);
  HPO_ASSERT_OK(s);
  v1::CreateObservationRequest r;
  r.set_experiment_id(id);
  r.set_suggestion_id(s->id());
  *r.add_values() = Value("auc", 0.5);
  *r.mutable_metadata() = many;
  EXPECT_THAT(manager_->CreateObservation(r),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata")));
  *r.mutable_metadata() = long_value;
  EXPECT_THAT(manager_->CreateObservation(r),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata[\"k\"]")));
  EXPECT_THAT(*manager_->ListObservations(id), SizeIs(0));
}

TEST_F(ExperimentManagerTest, LongFailureReasonIsCutAtACharacterBoundary) {
  const int64_t id = Create(Spec());
  auto s = manager_->CreateSuggestion(id, no_metadata_);
  HPO_ASSERT_OK(s);
  v1::CreateObservationRequest r;
  r.set_experiment_id(id);
  r.set_suggestion_id(s->id());
  r.set_failed(true);
  std::string reason = "exit 1: ";
  for (int i = 0; i < 50'000; ++i) reason += "\xc3\xa9";  // U+00E9, two bytes
  r.set_failure_reason(reason);
  auto o = manager_->CreateObservation(r);
  HPO_ASSERT_OK(o);
  const std::string& stored = o->failure_reason();
  EXPECT_LE(stored.size(), 4096u);
  const size_t marker = stored.find(" [... cut: 100008 bytes in all]");
  ASSERT_NE(marker, std::string::npos) << stored.substr(stored.size() - 64);
  EXPECT_EQ(marker + 31, stored.size());
  EXPECT_EQ(stored.substr(0, 8), "exit 1: ");
  EXPECT_EQ((marker - 8) % 2, 0u);  // whole characters only
  // The same report again is a retry, not another result.
  auto again = manager_->CreateObservation(r);
  HPO_ASSERT_OK(again);
  EXPECT_EQ(again->id(), o->id());
}

TEST_F(ExperimentManagerTest, FailedObservationMarksSuggestionFailed) {
  const int64_t id = Create(Spec());
  auto s = manager_->CreateSuggestion(id, no_metadata_);
  v1::CreateObservationRequest r;
  r.set_experiment_id(id);
  r.set_suggestion_id(s->id());
  r.set_failed(true);
  r.set_failure_reason("loss diverged");
  auto o = manager_->CreateObservation(r);
  HPO_ASSERT_OK(o);
  EXPECT_TRUE(o->failed());
  EXPECT_EQ(manager_->ListSuggestions(id, {})->at(0).state(), v1::SUGGESTION_STATE_FAILED);
  *r.add_values() = Value("auc", 0.5);
  r.set_suggestion_id(manager_->CreateSuggestion(id, no_metadata_)->id());
  EXPECT_THAT(manager_->CreateObservation(r), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ExperimentManagerTest, ObservationWithAssignmentIsValidated) {
  const int64_t id = Create(Spec());
  v1::CreateObservationRequest r;
  r.set_experiment_id(id);
  auto& values = *r.mutable_assignment()->mutable_values();
  values["optimizer"].set_string_value("sgd");
  values["lr"].set_number_value(0.1);
  values["beta1"].set_number_value(0.9);  // inactive for sgd
  *r.add_values() = Value("auc", 0.7);
  EXPECT_THAT(manager_->CreateObservation(r),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beta1")));
  values.erase("beta1");
  HPO_EXPECT_OK(manager_->CreateObservation(r));
  values["lr"].set_number_value(5.0);
  EXPECT_THAT(manager_->CreateObservation(r),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lr")));
}

TEST_F(ExperimentManagerTest, QueuedSuggestionsComeFirstWithDefaults) {
  const int64_t id = Create(Spec());
  v1::Assignment partial;
  (*partial.mutable_values())["optimizer"].set_string_value("lamb");
  (*partial.mutable_values())["beta1"].set_number_value(0.95);
  auto queued = manager_->QueueSuggestion(id, partial, no_metadata_);
  HPO_ASSERT_OK(queued);
  EXPECT_EQ(queued->state(), v1::SUGGESTION_STATE_QUEUED);
  EXPECT_DOUBLE_EQ(queued->assignment().values().at("lr").number_value(), 0.01);
  auto issued = manager_->CreateSuggestion(id, no_metadata_);
  HPO_ASSERT_OK(issued);
  EXPECT_EQ(issued->id(), queued->id());
  EXPECT_EQ(issued->source(), "queued");
  EXPECT_EQ(issued->state(), v1::SUGGESTION_STATE_OPEN);
  (*partial.mutable_values())["beta1"].set_number_value(2.0);
  EXPECT_THAT(manager_->QueueSuggestion(id, partial, no_metadata_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beta1")));
}

TEST_F(ExperimentManagerTest, StateTransitions) {
  const int64_t id = Create(Spec());
  auto paused = manager_->SetExperimentState(id, v1::EXPERIMENT_STATE_PAUSED);
  HPO_ASSERT_OK(paused);
  EXPECT_EQ(paused->state(), v1::EXPERIMENT_STATE_PAUSED);
  EXPECT_THAT(manager_->CreateSuggestion(id, no_metadata_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("paused")));
  HPO_ASSERT_OK(manager_->SetExperimentState(id, v1::EXPERIMENT_STATE_ACTIVE));
  HPO_ASSERT_OK(manager_->CreateSuggestion(id, no_metadata_));
  HPO_ASSERT_OK(manager_->SetExperimentState(id, v1::EXPERIMENT_STATE_ARCHIVED));
  EXPECT_THAT(manager_->SetExperimentState(id, v1::EXPERIMENT_STATE_ACTIVE),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("archived")));
  EXPECT_THAT(*manager_->ListExperiments("", {}), SizeIs(0));
  EXPECT_THAT(*manager_->ListExperiments("", {v1::EXPERIMENT_STATE_ARCHIVED}), SizeIs(1));
  EXPECT_THAT(manager_->SetExperimentState(id, v1::EXPERIMENT_STATE_UNSPECIFIED),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("state")));
}

TEST_F(ExperimentManagerTest, CheckpointsOfOtherExperimentAreNotFound) {
  const int64_t a = Create(Spec());
  v1::Experiment other = Spec();
  other.set_name("other");
  const int64_t b = Create(other);
  auto s = manager_->CreateSuggestion(a, no_metadata_);
  HPO_EXPECT_OK(manager_->ListCheckpoints(a, s->id()));
  EXPECT_THAT(manager_->ListCheckpoints(b, s->id()), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(manager_->DeleteSuggestion(b, s->id()), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ExperimentManagerProposalsTest, BackgroundAndInlineProposalsGiveTheSameSuggestions) {
  std::vector<std::vector<std::string>> runs;
  for (bool background : {false, true}) {
    FakeClock clock;
    auto store = store::SqliteStore::Open(":memory:", &clock);
    ASSERT_TRUE(store.ok()) << store.status();
    ExperimentManagerOptions options;
    options.background_proposals = background;
    ExperimentManager manager(store->get(), &clock, options);
    v1::Experiment spec = Spec(/*budget=*/12, /*bandwidth=*/3);
    spec.mutable_optimizer()->set_seed(42);
    auto e = manager.CreateExperiment(spec);
    ASSERT_TRUE(e.ok()) << e.status();
    std::vector<std::string> run;
    google::protobuf::Map<std::string, std::string> none;
    std::vector<int64_t> open;
    for (int i = 0; i < 12; ++i) {
      if (open.size() == 3) {
        v1::CreateObservationRequest r;
        r.set_experiment_id(e->id());
        r.set_suggestion_id(open.front());
        *r.add_values() = Value("auc", 0.5 + 0.01 * i);
        ASSERT_TRUE(manager.CreateObservation(r).ok());
        open.erase(open.begin());
      }
      auto s = manager.CreateSuggestion(e->id(), none);
      ASSERT_TRUE(s.ok()) << s.status();
      open.push_back(s->id());
      run.push_back(s->assignment().SerializeAsString());
    }
    runs.push_back(run);
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  for (size_t i = 0; i < runs[0].size(); ++i) {
    v1::Assignment a, b;
    a.ParseFromString(runs[0][i]);
    b.ParseFromString(runs[1][i]);
    EXPECT_EQ(a.values().at("lr").number_value(), b.values().at("lr").number_value()) << i;
  }
}

TEST(ExperimentManagerProposalsTest, ConcurrentRequestsRespectBandwidthAndAreDistinct) {
  FakeClock clock;
  auto store = store::SqliteStore::Open(":memory:", &clock);
  ASSERT_TRUE(store.ok());
  ExperimentManager manager(store->get(), &clock);
  auto e = manager.CreateExperiment(Spec(/*budget=*/50, /*bandwidth=*/4));
  ASSERT_TRUE(e.ok());
  std::vector<std::thread> threads;
  std::atomic<int> issued{0}, refused{0};
  google::protobuf::Map<std::string, std::string> none;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto s = manager.CreateSuggestion(e->id(), none);
      if (s.ok()) {
        ++issued;
      } else if (absl::IsFailedPrecondition(s.status())) {
        ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(issued, 4);
  EXPECT_EQ(refused, 4);
  auto open = manager.ListSuggestions(e->id(), {v1::SUGGESTION_STATE_OPEN});
  ASSERT_TRUE(open.ok());
  std::set<double> lrs;
  for (const auto& s : *open) lrs.insert(s.assignment().values().at("lr").number_value());
  EXPECT_EQ(lrs.size(), 4u);
}

}  // namespace
}  // namespace hpo::service
