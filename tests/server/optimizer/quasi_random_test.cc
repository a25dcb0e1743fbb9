#include "server/optimizer/quasi_random.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "server/optimizer/sampling_optimizer.h"
#include "tests/server/optimizer/sampler_test_util.h"

namespace hpo::optimizer {
namespace {

using testing::ExpectAllValid;
using testing::MakeExperiment;
using testing::SuggestOrDie;

constexpr char kUnitSquare[] = R"pb(
  parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
  parameters { name: "y" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
)pb";

// Estimate of the star discrepancy: the largest gap between the fraction of points in an
// anchored box [0, a) x [0, b) and its area, over a 64 x 64 grid of corners.
double StarDiscrepancy(const std::vector<std::pair<double, double>>& points) {
  double worst = 0;
  for (int i = 1; i <= 64; ++i) {
    for (int j = 1; j <= 64; ++j) {
      const double a = i / 64.0, b = j / 64.0;
      int inside = 0;
      for (const auto& [x, y] : points) inside += (x < a && y < b);
      worst = std::max(worst, std::fabs(static_cast<double>(inside) / points.size() - a * b));
    }
  }
  return worst;
}

std::vector<std::pair<double, double>> Points(const std::string& algorithm, uint64_t seed, int n) {
  std::vector<std::pair<double, double>> out;
  for (const Proposal& p : SuggestOrDie(MakeExperiment(kUnitSquare, algorithm, seed), n)) {
    out.emplace_back(p.assignment.values().at("x").number_value(),
                     p.assignment.values().at("y").number_value());
  }
  return out;
}

TEST(QuasiRandom, LowerDiscrepancyThanRandom) {
  double quasi = 0, random = 0;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    quasi += StarDiscrepancy(Points("quasi_random", seed, 512));
    random += StarDiscrepancy(Points("random", seed, 512));
  }
  EXPECT_LT(quasi, 0.6 * random) << "quasi " << quasi / 3 << " random " << random / 3;
  EXPECT_LT(quasi / 3, 0.02);
}

TEST(QuasiRandom, ContinuesSequenceAcrossCalls) {
  hpo::v1::Experiment e = MakeExperiment(testing::kConditionalSpace, "quasi_random");
  std::vector<Proposal> first = SuggestOrDie(e, 7, 0);
  std::vector<Proposal> second = SuggestOrDie(e, 9, 7);
  std::vector<Proposal> both = SuggestOrDie(e, 16, 0);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(AssignmentKey(first[i].assignment), AssignmentKey(both[i].assignment));
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(AssignmentKey(second[i].assignment), AssignmentKey(both[7 + i].assignment));
  }
}

TEST(QuasiRandom, DeterministicForSameSeed) {
  hpo::v1::Experiment e = MakeExperiment(kUnitSquare, "quasi_random", 5);
  EXPECT_EQ(AssignmentKey(SuggestOrDie(e, 3, 11)[2].assignment),
            AssignmentKey(SuggestOrDie(e, 3, 11)[2].assignment));
  hpo::v1::Experiment other = MakeExperiment(kUnitSquare, "quasi_random", 6);
  EXPECT_NE(AssignmentKey(SuggestOrDie(e, 1, 11)[0].assignment),
            AssignmentKey(SuggestOrDie(other, 1, 11)[0].assignment));
}

TEST(QuasiRandom, ConditionalsActivateBothBranches) {
  hpo::v1::Experiment e = MakeExperiment(testing::kConditionalSpace, "quasi_random");
  std::vector<Proposal> proposals = SuggestOrDie(e, 200);
  ExpectAllValid(e, proposals);
  int sgd = 0;
  for (const Proposal& p : proposals) {
    const bool is_sgd = p.assignment.values().at("optimizer").string_value() == "sgd";
    sgd += is_sgd;
    EXPECT_EQ(p.assignment.values().contains("momentum"), is_sgd);
    EXPECT_EQ(p.assignment.values().contains("beta2"), !is_sgd);
  }
  EXPECT_EQ(sgd, 100);  // base-2 coordinate: exactly half of each pair of points
}

TEST(QuasiRandom, NeverViolatesConstraints) {
  hpo::v1::Experiment e = MakeExperiment(testing::kConstrainedSpace, "quasi_random");
  ExpectAllValid(e, SuggestOrDie(e, 3000));
  hpo::v1::Experiment thin = MakeExperiment(testing::kThinSpace, "quasi_random");
  ExpectAllValid(thin, SuggestOrDie(thin, 500));
}

}  // namespace
}  // namespace hpo::optimizer
