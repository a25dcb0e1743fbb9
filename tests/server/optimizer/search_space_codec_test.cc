#include "server/optimizer/search_space_codec.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/space/rng.h"

namespace hpo::optimizer {
namespace {

hpo::v1::SearchSpace Parse(const std::string& text) {
  hpo::v1::SearchSpace space;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &space)) << text;
  return space;
}

// Decodes `n` uniform draws of the single parameter of `space_text`.
std::vector<hpo::v1::ParameterValue> Draw(const std::string& space_text, int n) {
  SearchSpaceCodec codec(Parse(space_text));
  space::Rng rng(12345);
  std::vector<hpo::v1::ParameterValue> out;
  for (int i = 0; i < n; ++i) out.push_back(codec.DecodeParameter(0, rng.Uniform()));
  return out;
}

double ChiSquare(const std::vector<int>& counts) {
  double total = 0;
  for (int c : counts) total += c;
  const double expected = total / counts.size();
  double chi2 = 0;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  return chi2;
}

TEST(SearchSpaceCodec, LogTransformSpreadsEvenlyOverDecades) {
  auto values = Draw(R"pb(parameters { name: "lr" type: PARAMETER_TYPE_DOUBLE
                                       bounds { min: 1e-5 max: 1 } transformation: TRANSFORMATION_LOG })pb",
                     2000);
  std::vector<int> decades(5, 0);
  for (const auto& v : values) {
    ASSERT_GE(v.number_value(), 1e-5);
    ASSERT_LE(v.number_value(), 1.0);
    ++decades[std::min(4, static_cast<int>(std::floor(std::log10(v.number_value()) + 5)))];
  }
  // 4 degrees of freedom: P(chi2 > 18.5) = 0.001.
  EXPECT_LT(ChiSquare(decades), 18.5);
}

TEST(SearchSpaceCodec, LinearDoubleIsUniform) {
  auto values = Draw(R"pb(parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: -2 max: 8 } })pb",
                     2000);
  std::vector<int> bins(10, 0);
  for (const auto& v : values) ++bins[std::min(9, static_cast<int>(v.number_value() + 2))];
  EXPECT_LT(ChiSquare(bins), 27.9);  // 9 dof, p = 0.001
}

TEST(SearchSpaceCodec, NormalPriorShiftsMean) {
  auto values = Draw(R"pb(parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 10 }
                                       prior { normal { mean: 2 scale: 1 } } })pb",
                     2000);
  double sum = 0;
  for (const auto& v : values) sum += v.number_value();
  // Truncation at 0 lifts the mean slightly: E = 2 + phi(2)/Phi(2) ~ 2.055.
  EXPECT_NEAR(sum / values.size(), 2.055, 0.1);
}

TEST(SearchSpaceCodec, NormalPriorWithLogUsesDecades) {
  auto values = Draw(R"pb(parameters { name: "lr" type: PARAMETER_TYPE_DOUBLE bounds { min: 1e-6 max: 1 }
                                       transformation: TRANSFORMATION_LOG
                                       prior { normal { mean: 1e-3 scale: 0.5 } } })pb",
                     2000);
  std::vector<double> logs;
  for (const auto& v : values) logs.push_back(std::log10(v.number_value()));
  std::sort(logs.begin(), logs.end());
  EXPECT_NEAR(logs[logs.size() / 2], -3.0, 0.1);
  // About 95% within two decades-scales (+-1 decade) of the mean.
  const auto within = std::count_if(logs.begin(), logs.end(), [](double l) { return std::fabs(l + 3) <= 1; });
  EXPECT_NEAR(static_cast<double>(within) / logs.size(), 0.954, 0.03);
}

TEST(SearchSpaceCodec, BetaPriorShiftsMedian) {
  auto values = Draw(R"pb(parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 10 max: 20 }
                                       prior { beta { shape_a: 5 shape_b: 1 } } })pb",
                     2000);
  std::vector<double> xs;
  for (const auto& v : values) xs.push_back(v.number_value());
  std::sort(xs.begin(), xs.end());
  // Median of Beta(5, 1) is 0.5^(1/5) = 0.8706.
  EXPECT_NEAR(xs[xs.size() / 2], 10 + 10 * 0.8706, 0.15);
  EXPECT_GE(xs.front(), 10);
  EXPECT_LE(xs.back(), 20);
}

TEST(SearchSpaceCodec, IntsCoverEveryValueEqually) {
  auto values = Draw(R"pb(parameters { name: "k" type: PARAMETER_TYPE_INT bounds { min: 3 max: 9 } })pb", 2100);
  std::vector<int> counts(7, 0);
  for (const auto& v : values) {
    ASSERT_EQ(v.kind_case(), hpo::v1::ParameterValue::kIntValue);
    ASSERT_GE(v.int_value(), 3);
    ASSERT_LE(v.int_value(), 9);
    ++counts[v.int_value() - 3];
  }
  for (int c : counts) EXPECT_GT(c, 0);
  EXPECT_LT(ChiSquare(counts), 22.5);  // 6 dof, p = 0.001
}

TEST(SearchSpaceCodec, LogIntsCoverEveryValueWithLogSpacing) {
  auto values = Draw(R"pb(parameters { name: "k" type: PARAMETER_TYPE_INT bounds { min: 1 max: 20 }
                                       transformation: TRANSFORMATION_LOG })pb",
                     5000);
  std::map<int64_t, int> counts;
  for (const auto& v : values) ++counts[v.int_value()];
  EXPECT_EQ(counts.size(), 20u);
  EXPECT_EQ(counts.begin()->first, 1);
  EXPECT_EQ(counts.rbegin()->first, 20);
  EXPECT_GT(counts[1], 3 * counts[10]);  // log spacing favours small values
}

TEST(SearchSpaceCodec, GridYieldsOnlyGridValues) {
  auto values = Draw(R"pb(parameters { name: "g" type: PARAMETER_TYPE_DOUBLE grid: 0.5 grid: 0.1 grid: 0.25 })pb",
                     300);
  std::map<double, int> counts;
  for (const auto& v : values) ++counts[v.number_value()];
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_TRUE(counts.count(0.1) && counts.count(0.25) && counts.count(0.5));
  auto ints = Draw(R"pb(parameters { name: "g" type: PARAMETER_TYPE_INT grid: 16 grid: 32 grid: 64 })pb", 300);
  for (const auto& v : ints) {
    EXPECT_TRUE(v.int_value() == 16 || v.int_value() == 32 || v.int_value() == 64) << v.int_value();
  }
}

TEST(SearchSpaceCodec, DecodeLeavesOutInactiveParameters) {
  SearchSpaceCodec codec(Parse(R"pb(
    parameters { name: "m" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 }
                 conditions { name: "opt" values: "sgd" } }
    parameters { name: "c" type: PARAMETER_TYPE_CATEGORICAL categorical_values: "a"
                 categorical_values: "b" }
    conditionals { name: "opt" values: "adam" values: "sgd" }
  )pb"));
  ASSERT_EQ(codec.dimension(), 3);
  hpo::v1::Assignment a = codec.Decode({0.2, 0.5, 0.7});  // opt = adam
  EXPECT_EQ(a.values().at("opt").string_value(), "adam");
  EXPECT_FALSE(a.values().contains("m"));
  EXPECT_EQ(a.values().at("c").string_value(), "b");
  hpo::v1::Assignment b = codec.Decode({0.7, 0.5, 0.2});  // opt = sgd
  EXPECT_EQ(b.values().at("opt").string_value(), "sgd");
  EXPECT_DOUBLE_EQ(b.values().at("m").number_value(), 0.5);
}

TEST(SearchSpaceCodec, EncodeInvertsDecode) {
  SearchSpaceCodec codec(Parse(R"pb(
    parameters { name: "lr" type: PARAMETER_TYPE_DOUBLE bounds { min: 1e-4 max: 1 }
                 transformation: TRANSFORMATION_LOG }
    parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 }
                 prior { beta { shape_a: 2 shape_b: 3 } } }
    parameters { name: "y" type: PARAMETER_TYPE_DOUBLE bounds { min: -1 max: 1 }
                 prior { normal { mean: 0 scale: 0.3 } } }
    parameters { name: "k" type: PARAMETER_TYPE_INT bounds { min: 0 max: 4 } }
  )pb"));
  const std::vector<double> u = {0.3, 0.6, 0.45, 0.5};
  const std::vector<double> back = codec.Encode(codec.Decode(u));
  EXPECT_NEAR(back[0], 0.3, 1e-9);
  EXPECT_NEAR(back[1], 0.6, 1e-9);
  EXPECT_NEAR(back[2], 0.45, 1e-9);
  EXPECT_NEAR(back[3], 0.5, 1e-9);  // k = 2, the middle of cell 2 of 5
}

}  // namespace
}  // namespace hpo::optimizer
