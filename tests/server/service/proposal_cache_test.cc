#include "server/service/proposal_cache.h"

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hpo::service {
namespace {

using ::hpo::testing::StatusIs;

v1::Experiment OneParameter() {
  v1::Experiment e;
  e.mutable_optimizer()->set_algorithm("quasi_random");
  e.mutable_optimizer()->set_seed(3);
  auto* p = e.mutable_search_space()->add_parameters();
  p->set_name("x");
  p->set_type(v1::PARAMETER_TYPE_DOUBLE);
  p->mutable_bounds()->set_min(0);
  p->mutable_bounds()->set_max(1);
  e.add_metrics()->set_name("y");
  return e;
}

// A snapshot function over a hand-held history that counts its calls.
struct FakeExperiment {
  int64_t observations = 0;
  int batch = 2;
  std::atomic<int> calls{0};
  absl::StatusOr<ProposalCache::Snapshot> operator()(int64_t) {
    ++calls;
    ProposalCache::Snapshot s;
    s.experiment = OneParameter();
    s.history.observations.resize(observations);
    s.history.suggestion_count = observations;
    s.batch_size = batch;
    return s;
  }
};

ProposalCache::Options Inline() {
  ProposalCache::Options o;
  o.background = false;
  return o;
}

TEST(ProposalCacheTest, TakeNeedsProposalsForTheCurrentObservationCount) {
  FakeExperiment fake;
  ProposalCache cache([&](int64_t id) { return fake(id); }, Inline());
  EXPECT_FALSE(cache.Take(1, 0).has_value());
  HPO_ASSERT_OK(cache.EnsureFresh(1, 0));
  EXPECT_EQ(fake.calls, 1);
  EXPECT_TRUE(cache.Take(1, 0).has_value());
  EXPECT_FALSE(cache.Take(1, 1).has_value());  // stale after a new observation
  EXPECT_TRUE(cache.Take(1, 0).has_value());   // second proposal of the batch of 2
  EXPECT_FALSE(cache.Take(1, 0).has_value());  // batch used up
}

TEST(ProposalCacheTest, EnsureFreshDoesNotRecomputeWhatIsReady) {
  FakeExperiment fake;
  ProposalCache cache([&](int64_t id) { return fake(id); }, Inline());
  HPO_ASSERT_OK(cache.EnsureFresh(1, 0));
  HPO_ASSERT_OK(cache.EnsureFresh(1, 0));
  EXPECT_EQ(fake.calls, 1);
  fake.observations = 1;
  HPO_ASSERT_OK(cache.EnsureFresh(1, 1));
  EXPECT_EQ(fake.calls, 2);
}

TEST(ProposalCacheTest, SnapshotErrorsReachTheCaller) {
  ProposalCache cache(
      [](int64_t) -> absl::StatusOr<ProposalCache::Snapshot> {
        return absl::FailedPreconditionError("paused");
      },
      Inline());
  EXPECT_THAT(cache.EnsureFresh(1, 0), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ProposalCacheTest, BackgroundComputesTheSameBatchAsInline) {
  FakeExperiment a, b;
  ProposalCache inline_cache([&](int64_t id) { return a(id); }, Inline());
  HPO_ASSERT_OK(inline_cache.EnsureFresh(1, 0));
  ProposalCache background([&](int64_t id) { return b(id); }, ProposalCache::Options());
  background.Refresh(1);
  // EnsureFresh waits for the background computation (or computes) and never duplicates it.
  HPO_ASSERT_OK(background.EnsureFresh(1, 0));
  for (int i = 0; i < 2; ++i) {
    auto x = inline_cache.Take(1, 0), y = background.Take(1, 0);
    ASSERT_TRUE(x.has_value() && y.has_value());
    EXPECT_EQ(x->assignment.values().at("x").number_value(),
              y->assignment.values().at("x").number_value());
  }
}

}  // namespace
}  // namespace hpo::service
