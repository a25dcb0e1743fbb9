#include "server/optimizer/optimizer.h"

#include "absl/status/status.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/space/validation.h"

namespace hpo::optimizer {
namespace {

hpo::v1::Experiment Experiment(const std::string& algorithm) {
  hpo::v1::Experiment e;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "e"
    search_space { parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } } }
    metrics { name: "m" }
    observation_budget: 5
  )pb", &e));
  e.mutable_optimizer()->set_algorithm(algorithm);
  return e;
}

TEST(CreateOptimizer, DefaultIsBayesianStartingWithItsInitialDesign) {
  auto opt = CreateOptimizer(Experiment(""));
  ASSERT_TRUE(opt.ok()) << opt.status();
  auto proposals = (*opt)->Suggest(History{}, 1);
  ASSERT_TRUE(proposals.ok()) << proposals.status();
  EXPECT_EQ((*proposals)[0].source, "initial_design");
}

TEST(CreateOptimizer, BuildsEveryRegisteredName) {
  for (const std::string& name : OptimizerNames()) {
    auto opt = CreateOptimizer(Experiment(name));
    ASSERT_TRUE(opt.ok()) << name << ": " << opt.status();
    auto proposals = (*opt)->Suggest(History{}, 2);
    ASSERT_TRUE(proposals.ok()) << proposals.status();
    // Model-based optimizers label their first, model-free points "initial_design".
    const std::string& source = (*proposals)[0].source;
    EXPECT_TRUE(source == name || source == "initial_design") << name << ": " << source;
  }
}

TEST(CreateOptimizer, RejectsUnknownName) {
  auto opt = CreateOptimizer(Experiment("gp_ei_nope"));
  EXPECT_EQ(opt.status().code(), absl::StatusCode::kInvalidArgument);
}

// hpo::space validates algorithm names without depending on this library; keep the lists equal.
TEST(OptimizerNames, MatchSpaceValidationList) {
  EXPECT_EQ(OptimizerNames(), space::DefaultAlgorithmNames());
}

TEST(Suggest, RejectsNonPositiveCount) {
  auto opt = CreateOptimizer(Experiment("random"));
  ASSERT_TRUE(opt.ok());
  EXPECT_EQ((*opt)->Suggest(History{}, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hpo::optimizer
