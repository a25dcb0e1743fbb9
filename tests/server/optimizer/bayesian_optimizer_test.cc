#include "server/optimizer/bayesian_optimizer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "sampler_test_util.h"
#include "server/optimizer/model_space.h"
#include "server/optimizer/sampling_optimizer.h"
#include "server/space/search_space.h"
#include "server/space/validation.h"

namespace hpo::optimizer {
namespace {

using testing::ExpectAllValid;
using testing::MakeExperiment;

double Num(const hpo::v1::Assignment& a, const std::string& name) {
  return *space::NumericValue(a.values().at(name));
}

hpo::v1::Observation Observe(const hpo::v1::Assignment& a, std::vector<std::pair<std::string, double>> values) {
  hpo::v1::Observation o;
  *o.mutable_assignment() = a;
  for (auto& [name, v] : values) {
    hpo::v1::MetricValue* mv = o.add_values();
    mv->set_name(name);
    mv->set_value(v);
  }
  return o;
}

double Branin(double x1, double x2) {
  const double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, r = 6, s = 10,
               t = 1 / (8 * M_PI);
  return a * std::pow(x2 - b * x1 * x1 + c * x1 - r, 2) + s * (1 - t) * std::cos(x1) + s;
}

constexpr char kBraninSpace[] = R"pb(
  parameters { name: "x1" type: PARAMETER_TYPE_DOUBLE bounds { min: -5 max: 10 } }
  parameters { name: "x2" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 15 } }
)pb";

hpo::v1::Experiment Minimizing(hpo::v1::Experiment e) {
  e.mutable_metrics(0)->set_objective(hpo::v1::OBJECTIVE_MINIMIZE);
  return e;
}

// Runs `trials` sequential suggest/observe rounds; returns the history.
template <typename F>
History RunTrials(const hpo::v1::Experiment& e, int trials, F evaluate, int count = 1) {
  BayesianOptimizer opt(e);
  History h;
  for (int t = 0; t < trials; t += count) {
    auto proposals = opt.Suggest(h, count);
    EXPECT_TRUE(proposals.ok()) << proposals.status();
    if (!proposals.ok()) break;
    ExpectAllValid(e, *proposals);
    h.suggestion_count += count;
    for (const Proposal& p : *proposals) h.observations.push_back(evaluate(p.assignment));
  }
  return h;
}

TEST(BayesianOptimizer, BraninConvergesIn40Trials) {
  const hpo::v1::Experiment e = Minimizing(MakeExperiment(kBraninSpace, "bayesian", 7));
  const auto start = std::chrono::steady_clock::now();
  double best = 1e300;
  const History h = RunTrials(e, 40, [&](const hpo::v1::Assignment& a) {
    const double v = Branin(Num(a, "x1"), Num(a, "x2"));
    best = std::min(best, v);
    return Observe(a, {{"m", v}});
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("Branin: best %.6f after %zu trials (regret %.2e), %.2f s\n", best,
              h.observations.size(), best - 0.397887, seconds);
  EXPECT_LT(best - 0.397887, 0.05);
}

TEST(BayesianOptimizer, SourcesInitialDesignThenModel) {
  const hpo::v1::Experiment e = Minimizing(MakeExperiment(kBraninSpace, "bayesian", 3));
  BayesianOptimizer opt(e);
  History h;
  for (int t = 0; t < 7; ++t) {
    auto p = opt.Suggest(h, 1);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ((*p)[0].source, t < opt.InitialDesignSize() ? "initial_design" : "bayesian") << t;
    h.observations.push_back(Observe((*p)[0].assignment, {{"m", Num((*p)[0].assignment, "x1")}}));
    ++h.suggestion_count;
  }
}

TEST(BayesianOptimizer, DeterministicForSeedAndHistory) {
  const hpo::v1::Experiment e = Minimizing(MakeExperiment(kBraninSpace, "bayesian", 11));
  auto evaluate = [](const hpo::v1::Assignment& a) {
    return Observe(a, {{"m", Branin(Num(a, "x1"), Num(a, "x2"))}});
  };
  const History a = RunTrials(e, 12, evaluate, 2);
  const History b = RunTrials(e, 12, evaluate, 2);
  ASSERT_EQ(a.observations.size(), b.observations.size());
  for (size_t i = 0; i < a.observations.size(); ++i) {
    EXPECT_EQ(AssignmentKey(a.observations[i].assignment()),
              AssignmentKey(b.observations[i].assignment()));
  }
  const History c = RunTrials(Minimizing(MakeExperiment(kBraninSpace, "bayesian", 12)), 12, evaluate, 2);
  EXPECT_NE(AssignmentKey(a.observations.back().assignment()),
            AssignmentKey(c.observations.back().assignment()));
}

TEST(BayesianOptimizer, ConditionalAndConstrainedSpacesNeverViolated) {
  for (const char* space : {testing::kConditionalSpace, testing::kConstrainedSpace,
                            testing::kThinSpace}) {
    const hpo::v1::Experiment e = MakeExperiment(space, "bayesian", 5);
    int model = 0;
    const History h = RunTrials(e, 30, [&](const hpo::v1::Assignment& a) {
      double v = 0;
      for (const auto& [name, value] : a.values()) {
        const auto x = space::NumericValue(value);
        v += x.has_value() ? std::sin(*x + name.size()) : (value.string_value() == "adam" ? 0.5 : 0);
      }
      return Observe(a, {{"m", v}});
    }, 3);
    std::set<std::string> keys;
    for (const hpo::v1::Observation& o : h.observations) {
      EXPECT_TRUE(space::ValidateAssignment(e.search_space(), o.assignment(), "p").ok());
      EXPECT_LT(space::FirstViolatedConstraint(e.search_space(), o.assignment()), 0);
      keys.insert(AssignmentKey(o.assignment()));
    }
    EXPECT_EQ(keys.size(), h.observations.size()) << space;
    (void)model;
  }
}

TEST(BayesianOptimizer, ModelSpaceRoundTripsConditionalAssignments) {
  const hpo::v1::Experiment e = MakeExperiment(testing::kConditionalSpace, "bayesian", 5);
  ModelSpace ms(e.search_space());
  space::Rng rng(1);
  for (int i = 0; i < 200; ++i) {
    std::vector<double> u(ms.unit_dimension());
    for (double& x : u) x = rng.Uniform();
    Eigen::VectorXd f = ms.FromUnit(u);
    if (i % 2) f = ms.Perturb(f, 0.1, 0.5, &rng);
    const hpo::v1::Assignment a = ms.Decode(f);
    ASSERT_TRUE(space::ValidateAssignment(e.search_space(), a, "a").ok());
    EXPECT_LT((ms.Encode(a) - f).norm(), 1e-9) << i;
  }
}

// 99 categoricals x 1000 values (plus a 40-valued conditional gating one of them), the space
// whose one suggestion took 440 MB with one-hot features.
hpo::v1::Experiment WideCategoricalExperiment() {
  std::string text = R"pb(conditionals { name: "mode" )pb";
  for (int j = 0; j < 40; ++j) text += "values: \"m" + std::to_string(j) + "\" ";
  text += "}\n";
  for (int i = 0; i < 99; ++i) {
    text += "parameters { name: \"c" + std::to_string(i) + "\" type: PARAMETER_TYPE_CATEGORICAL ";
    for (int j = 0; j < 1000; ++j) text += "categorical_values: \"v" + std::to_string(j) + "\" ";
    if (i == 0) text += "conditions { name: \"mode\" values: \"m1\" } ";
    text += "}\n";
  }
  return MakeExperiment(text, "bayesian", 3);
}

TEST(BayesianOptimizer, WideCategoricalsHaveCompactFeatures) {
  const hpo::v1::Experiment e = WideCategoricalExperiment();
  ModelSpace ms(e.search_space());
  EXPECT_EQ(ms.dimension(), 100 * ModelSpace::kCodeBits);  // one-hot: 99 * 1000 + 40
  // Every value of a wide block encodes and decodes exactly.
  hpo::v1::Assignment a;
  (*a.mutable_values())["mode"].set_string_value("m1");
  for (int i = 0; i < 99; ++i) (*a.mutable_values())["c" + std::to_string(i)].set_string_value("v0");
  for (int j = 0; j < 1000; ++j) {
    (*a.mutable_values())["c0"].set_string_value("v" + std::to_string(j));
    (*a.mutable_values())["c5"].set_string_value("v" + std::to_string(999 - j));
    (*a.mutable_values())["mode"].set_string_value(j % 40 == 1 ? "m1" : "m" + std::to_string(j % 40));
    hpo::v1::Assignment expected = a;
    if (j % 40 != 1) expected.mutable_values()->erase("c0");
    const hpo::v1::Assignment decoded = ms.Decode(ms.Encode(expected));
    ASSERT_EQ(AssignmentKey(decoded), AssignmentKey(expected)) << j;
  }
  // Sampled and perturbed points decode to valid assignments and encode back to themselves;
  // a point off the codes decodes to the nearest one.
  space::Rng rng(2);
  for (int i = 0; i < 50; ++i) {
    std::vector<double> u(ms.unit_dimension());
    for (double& x : u) x = rng.Uniform();
    Eigen::VectorXd f = ms.FromUnit(u);
    if (i % 2) f = ms.Perturb(f, 0.1, 0.5, &rng);
    const hpo::v1::Assignment decoded = ms.Decode(f);
    ASSERT_TRUE(space::ValidateAssignment(e.search_space(), decoded, "a").ok());
    EXPECT_LT((ms.Encode(decoded) - f).norm(), 1e-9) << i;
    Eigen::VectorXd noisy = f;
    for (int k = 0; k < noisy.size(); ++k) noisy[k] += 0.3 * (rng.Uniform() - 0.5);
    EXPECT_EQ(AssignmentKey(ms.Decode(noisy)), AssignmentKey(decoded)) << i;
  }
}

TEST(BayesianOptimizer, CandidateFeaturesStayWithinTheirMemoryBudget) {
  // The widest valid space: 100 conditionals and 100 parameters, each a 16-bit code.
  const int widest = (space::kMaxConditionals + space::kMaxParameters) * ModelSpace::kCodeBits;
  for (int features : {2, 100, 1584, widest, 99040}) {
    for (int points : {2, 10, 300}) {
      const int n = ScreenedCandidates(features, points);
      EXPECT_GE(n, 32);
      if (n > 32) {
        EXPECT_LE(static_cast<size_t>(n) * features * sizeof(double) * kCandidateCopies,
                  kCandidateBytes)
            << features << " features, " << points << " points";
      }
    }
  }
  EXPECT_EQ(ScreenedCandidates(2, 10), 3000);  // small spaces keep the flop-bounded count
  EXPECT_GE(ScreenedCandidates(widest, 10), 400);
}

TEST(BayesianOptimizer, SuggestsOnWideCategoricalSpace) {
  const hpo::v1::Experiment e = WideCategoricalExperiment();
  History h;
  space::Rng rng(7);
  QuasiRandom sampler(e);
  auto initial = sampler.Suggest(h, 12);
  ASSERT_TRUE(initial.ok()) << initial.status();
  for (const Proposal& p : *initial) {
    h.observations.push_back(Observe(p.assignment, {{"m", rng.Uniform()}}));
  }
  h.suggestion_count = 12;
  BayesianOptimizer opt(e);
  auto p = opt.Suggest(h, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)[0].source, "bayesian");
  ExpectAllValid(e, *p);
}

TEST(BayesianOptimizer, ParallelProposalsAreDiverse) {
  const hpo::v1::Experiment e = Minimizing(MakeExperiment(kBraninSpace, "bayesian", 2));
  History h = RunTrials(e, 10, [](const hpo::v1::Assignment& a) {
    return Observe(a, {{"m", Branin(Num(a, "x1"), Num(a, "x2"))}});
  });
  BayesianOptimizer opt(e);
  auto p = opt.Suggest(h, 4);
  ASSERT_TRUE(p.ok());
  // A pending point also repels the next call's proposals.
  h.pending.push_back((*p)[0].assignment);
  auto q = opt.Suggest(h, 1);
  ASSERT_TRUE(q.ok());
  std::vector<hpo::v1::Assignment> all;
  for (const Proposal& x : *p) all.push_back(x.assignment);
  all.push_back((*q)[0].assignment);
  double min_distance = 1e300;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*p)[i].source, "bayesian");
    for (size_t j = i + 1; j < 4; ++j) {
      const double dx = (Num(all[i], "x1") - Num(all[j], "x1")) / 15;
      const double dy = (Num(all[i], "x2") - Num(all[j], "x2")) / 15;
      min_distance = std::min(min_distance, std::hypot(dx, dy));
    }
  }
  const double dq = std::hypot((Num(all[0], "x1") - Num(all[4], "x1")) / 15,
                               (Num(all[0], "x2") - Num(all[4], "x2")) / 15);
  std::printf("min distance between parallel proposals: %.4f; to pending: %.4f\n", min_distance, dq);
  EXPECT_GT(min_distance, 1e-3);
  EXPECT_GT(dq, 1e-3);
}

TEST(BayesianOptimizer, FailuresSteerAwayFromFailingRegion) {
  // Every x1 > 2.5 fails; the optimum of the remaining function would be at x1 = 10.
  const hpo::v1::Experiment e = MakeExperiment(kBraninSpace, "bayesian", 4);
  int late_failures = 0;
  const History h = RunTrials(e, 30, [&](const hpo::v1::Assignment& a) {
    hpo::v1::Observation o = Observe(a, {{"m", Num(a, "x1")}});
    if (Num(a, "x1") > 2.5) {
      o.clear_values();
      o.set_failed(true);
    }
    return o;
  });
  for (size_t i = 15; i < h.observations.size(); ++i) late_failures += h.observations[i].failed();
  std::printf("failures among the last 15 trials: %d\n", late_failures);
  EXPECT_LE(late_failures, 7);
}

TEST(BayesianOptimizer, ConstraintMetricKeepsSearchFeasible) {
  // Minimize x1 subject to c = x2 >= 7.5 (maximize-constraint).
  hpo::v1::Experiment e = Minimizing(MakeExperiment(kBraninSpace, "bayesian", 6));
  hpo::v1::Metric* c = e.add_metrics();
  c->set_name("c");
  c->set_strategy(hpo::v1::METRIC_STRATEGY_CONSTRAINT);
  c->set_threshold(7.5);
  int late_feasible = 0;
  double best_feasible = 1e300;
  const History h = RunTrials(e, 30, [&](const hpo::v1::Assignment& a) {
    return Observe(a, {{"m", Num(a, "x1")}, {"c", Num(a, "x2")}});
  });
  for (size_t i = 0; i < h.observations.size(); ++i) {
    const bool ok = Num(h.observations[i].assignment(), "x2") >= 7.5;
    if (i >= 15) late_feasible += ok;
    if (ok) best_feasible = std::min(best_feasible, Num(h.observations[i].assignment(), "x1"));
  }
  std::printf("feasible among last 15: %d, best feasible x1 %.3f\n", late_feasible, best_feasible);
  EXPECT_GE(late_feasible, 10);
  EXPECT_LT(best_feasible, -4.5);
}

TEST(BayesianOptimizer, TwoObjectivesSpreadAlongParetoFront) {
  // f1 = x^2 + y^2 style trade-off: f1 = x1n, f2 = (1 - x1n) + x2n, both minimized; front x2n = 0.
  hpo::v1::Experiment e = Minimizing(MakeExperiment(kBraninSpace, "bayesian", 9));
  hpo::v1::Metric* m2 = e.add_metrics();
  m2->set_name("m2");
  m2->set_objective(hpo::v1::OBJECTIVE_MINIMIZE);
  ASSERT_TRUE(space::ValidateExperiment(e).ok()) << space::ValidateExperiment(e);
  const History h = RunTrials(e, 30, [&](const hpo::v1::Assignment& a) {
    const double u = (Num(a, "x1") + 5) / 15, v = Num(a, "x2") / 15;
    return Observe(a, {{"m", u * u}, {"m2", (1 - u) * (1 - u) + v}});
  });
  // Non-dominated set of the observations.
  std::vector<std::pair<double, double>> pts;
  for (const auto& o : h.observations) pts.emplace_back(o.values(0).value(), o.values(1).value());
  std::vector<std::pair<double, double>> front;
  for (const auto& p : pts) {
    bool dominated = false;
    for (const auto& q : pts) {
      dominated = dominated || (q.first <= p.first && q.second <= p.second && q != p);
    }
    if (!dominated) front.push_back(p);
  }
  double lo = 1e300, hi = -1e300, near_front = 0;
  for (const auto& p : front) {
    lo = std::min(lo, p.first);
    hi = std::max(hi, p.first);
  }
  for (size_t i = 10; i < h.observations.size(); ++i) {
    near_front += Num(h.observations[i].assignment(), "x2") < 1.5;
  }
  std::printf("Pareto set: %zu points, f1 spread [%.3f, %.3f]; %d of 20 model points near front\n",
              front.size(), lo, hi, static_cast<int>(near_front));
  EXPECT_GE(front.size(), 5u);
  EXPECT_GT(hi - lo, 0.3);
  EXPECT_GE(near_front, 10);
}

TEST(BayesianOptimizer, HundredParametersTwoThousandObservations) {
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text += "parameters { name: \"p" + std::to_string(i) +
            "\" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }\n";
  }
  const hpo::v1::Experiment e = MakeExperiment(text, "bayesian", 1);
  History h;
  space::Rng rng(5);
  for (int i = 0; i < 2000; ++i) {
    hpo::v1::Assignment a;
    double v = 0;
    for (int j = 0; j < 100; ++j) {
      const double x = rng.Uniform();
      (*a.mutable_values())["p" + std::to_string(j)].set_number_value(x);
      v += (x - 0.3) * (x - 0.3) * (j < 10 ? 10 : 1);
    }
    h.observations.push_back(Observe(a, {{"m", v}}));
  }
  h.suggestion_count = 2000;
  BayesianOptimizer opt(e);
  const auto start = std::chrono::steady_clock::now();
  auto p = opt.Suggest(h, 1);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)[0].source, "bayesian");
  ExpectAllValid(e, *p);
  std::printf("100 parameters x 2000 observations: Suggest %.2f s\n", seconds);
  EXPECT_LT(seconds, 10.0);
}

}  // namespace
}  // namespace hpo::optimizer

namespace hpo::optimizer {
namespace {

// Latency on a 6-D problem (Hartmann-like sum of bumps): Suggest at 100 and 1000 observations.
TEST(BayesianOptimizer, SuggestLatencySixDimensions) {
  std::string text;
  for (int i = 0; i < 6; ++i) {
    text += "parameters { name: \"p" + std::to_string(i) +
            "\" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }\n";
  }
  const hpo::v1::Experiment e = Minimizing(MakeExperiment(text, "bayesian", 3));
  for (int n : {100, 1000}) {
    History h;
    space::Rng rng(9);
    for (int i = 0; i < n; ++i) {
      hpo::v1::Assignment a;
      double v = 0;
      for (int j = 0; j < 6; ++j) {
        const double x = rng.Uniform();
        (*a.mutable_values())["p" + std::to_string(j)].set_number_value(x);
        v -= std::exp(-4 * (x - 0.2 * j) * (x - 0.2 * j));
      }
      h.observations.push_back(Observe(a, {{"m", v}}));
    }
    h.suggestion_count = n;
    BayesianOptimizer opt(e);
    const auto start = std::chrono::steady_clock::now();
    auto p = opt.Suggest(h, 1);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ((*p)[0].source, "bayesian");
    std::printf("6-D, %d observations: Suggest (fit + acquisition) %.3f s\n", n, seconds);
    EXPECT_LT(seconds, 10.0);
  }
}

}  // namespace
}  // namespace hpo::optimizer
