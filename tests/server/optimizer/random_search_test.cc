#include "server/optimizer/random_search.h"

#include <set>

#include "gtest/gtest.h"
#include "server/optimizer/sampling_optimizer.h"
#include "tests/server/optimizer/sampler_test_util.h"

namespace hpo::optimizer {
namespace {

using testing::ExpectAllValid;
using testing::MakeExperiment;
using testing::SuggestOrDie;

TEST(RandomSearch, DeterministicForSameSeedAndHistory) {
  hpo::v1::Experiment e = MakeExperiment(testing::kConditionalSpace, "random", 7);
  std::vector<Proposal> a = SuggestOrDie(e, 20, 5);
  std::vector<Proposal> b = SuggestOrDie(e, 20, 5);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(AssignmentKey(a[i].assignment), AssignmentKey(b[i].assignment));
  hpo::v1::Experiment other = MakeExperiment(testing::kConditionalSpace, "random", 8);
  EXPECT_NE(AssignmentKey(SuggestOrDie(other, 1, 5)[0].assignment), AssignmentKey(a[0].assignment));
}

TEST(RandomSearch, SuccessiveCallsDoNotRepeat) {
  hpo::v1::Experiment e = MakeExperiment(testing::kConditionalSpace, "random");
  std::vector<Proposal> first = SuggestOrDie(e, 10, 0);
  std::vector<Proposal> second = SuggestOrDie(e, 10, 10);
  std::vector<Proposal> both = SuggestOrDie(e, 20, 0);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(AssignmentKey(first[i].assignment), AssignmentKey(both[i].assignment));
    EXPECT_EQ(AssignmentKey(second[i].assignment), AssignmentKey(both[10 + i].assignment));
  }
}

TEST(RandomSearch, ConditionalsActivateBothBranches) {
  hpo::v1::Experiment e = MakeExperiment(testing::kConditionalSpace, "random");
  std::vector<Proposal> proposals = SuggestOrDie(e, 400);
  ExpectAllValid(e, proposals);
  int sgd = 0, adam = 0;
  for (const Proposal& p : proposals) {
    EXPECT_EQ(p.source, "random");
    const auto& v = p.assignment.values();
    if (v.at("optimizer").string_value() == "sgd") {
      ++sgd;
      EXPECT_TRUE(v.contains("momentum"));
      EXPECT_FALSE(v.contains("beta2"));
    } else {
      ++adam;
      EXPECT_FALSE(v.contains("momentum"));
      EXPECT_TRUE(v.contains("beta2"));
    }
  }
  EXPECT_GT(sgd, 150);
  EXPECT_GT(adam, 150);
}

TEST(RandomSearch, NeverViolatesConstraints) {
  hpo::v1::Experiment e = MakeExperiment(testing::kConstrainedSpace, "random");
  std::vector<Proposal> proposals = SuggestOrDie(e, 3000);
  ExpectAllValid(e, proposals);
  std::set<int64_t> ks;
  for (const Proposal& p : proposals) ks.insert(p.assignment.values().at("k").int_value());
  EXPECT_GE(ks.size(), 8u);  // k = 0..8 except where x >= k + 0.5 is hard to meet
}

TEST(RandomSearch, FindsPointsInThinRegion) {
  hpo::v1::Experiment e = MakeExperiment(testing::kThinSpace, "random");
  std::vector<Proposal> proposals = SuggestOrDie(e, 500);
  ExpectAllValid(e, proposals);
  std::set<std::string> distinct;
  for (const Proposal& p : proposals) distinct.insert(AssignmentKey(p.assignment));
  EXPECT_EQ(distinct.size(), proposals.size());
}

}  // namespace
}  // namespace hpo::optimizer
