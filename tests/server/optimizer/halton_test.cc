#include "server/optimizer/halton.h"

#include <set>

#include "gtest/gtest.h"

namespace hpo::optimizer {
namespace {

TEST(ScrambledHalton, FirstPrimes) {
  EXPECT_EQ(ScrambledHalton::FirstPrimes(6), (std::vector<int>{2, 3, 5, 7, 11, 13}));
}

TEST(ScrambledHalton, PointsAreInUnitCube) {
  ScrambledHalton h(40, 7);
  for (int64_t n = 0; n < 500; ++n) {
    for (double x : h.Point(n)) {
      EXPECT_GE(x, 0.0);
      EXPECT_LT(x, 1.0);
    }
  }
}

TEST(ScrambledHalton, DeterministicPerSeed) {
  EXPECT_EQ(ScrambledHalton(3, 1).Point(17), ScrambledHalton(3, 1).Point(17));
  EXPECT_NE(ScrambledHalton(3, 1).Point(17), ScrambledHalton(3, 2).Point(17));
}

// Digit permutations are bijections per level, so the first b^k points still hit every
// interval [j / b^k, (j + 1) / b^k) exactly once in base b.
TEST(ScrambledHalton, StratifiesEachCoordinate) {
  ScrambledHalton h(2, 99);
  std::set<int> cells2, cells3;
  for (int64_t n = 0; n < 64; ++n) cells2.insert(static_cast<int>(h.Point(n)[0] * 64));
  for (int64_t n = 0; n < 27; ++n) cells3.insert(static_cast<int>(h.Point(n)[1] * 27));
  EXPECT_EQ(cells2.size(), 64u);
  EXPECT_EQ(cells3.size(), 27u);
}

}  // namespace
}  // namespace hpo::optimizer
