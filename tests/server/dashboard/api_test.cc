#include "server/dashboard/api.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/trial_scheduler.h"
#include "server/store/sqlite_store.h"

namespace hpo::dashboard {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

v1::Experiment Spec() {
  v1::Experiment e;
  e.set_name("two-metric");
  e.set_project("dlrm");
  e.set_observation_budget(50);
  e.set_parallel_bandwidth(4);
  auto* lr = e.mutable_search_space()->add_parameters();
  lr->set_name("lr");
  lr->set_type(v1::PARAMETER_TYPE_DOUBLE);
  lr->mutable_bounds()->set_min(0.001);
  lr->mutable_bounds()->set_max(1);
  lr->set_transformation(v1::TRANSFORMATION_LOG);
  auto* opt = e.mutable_search_space()->add_conditionals();
  opt->set_name("optimizer");
  opt->add_values("sgd");
  opt->add_values("lamb");
  auto* auc = e.add_metrics();
  auc->set_name("auc");
  auto* latency = e.add_metrics();
  latency->set_name("latency");
  latency->set_objective(v1::OBJECTIVE_MINIMIZE);
  auto* size = e.add_metrics();
  size->set_name("size");
  size->set_objective(v1::OBJECTIVE_MINIMIZE);
  size->set_strategy(v1::METRIC_STRATEGY_CONSTRAINT);
  size->set_threshold(100);
  e.mutable_optimizer()->set_algorithm("random");
  return e;
}

class DashboardApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteStore::Open(":memory:", &clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    service::ExperimentManagerOptions options;
    options.background_proposals = false;
    manager_ = std::make_unique<service::ExperimentManager>(store_.get(), &clock_, options);
    service::TrialSchedulerOptions scheduler_options;
    scheduler_options.background_reaper = false;
    scheduler_options.lease_timeout = absl::Seconds(30);
    scheduler_ = std::make_unique<service::TrialScheduler>(manager_.get(), &clock_,
                                                            scheduler_options);
    api_ = std::make_unique<DashboardApi>(manager_.get(), &clock_, absl::Seconds(30));
    auto e = manager_->CreateExperiment(Spec());
    ASSERT_TRUE(e.ok()) << e.status();
    id_ = e->id();
  }

  json Get(const std::string& path, DashboardApi::Params params = {}, int want_status = 200) {
    const ApiResponse r = api_->Handle(path, params);
    EXPECT_EQ(r.http_status, want_status) << path << ": " << r.body;
    if (r.content_type != "application/json") return json();
    return json::parse(r.body);
  }

  // Suggests and observes (auc, latency, size).
  void Observe(double auc, double latency, double size) {
    auto s = manager_->CreateSuggestion(id_, {});
    ASSERT_TRUE(s.ok()) << s.status();
    v1::CreateObservationRequest r;
    r.set_experiment_id(id_);
    r.set_suggestion_id(s->id());
    for (const auto& [name, value] :
         {std::pair<std::string, double>{"auc", auc}, {"latency", latency}, {"size", size}}) {
      auto* v = r.add_values();
      v->set_name(name);
      v->set_value(value);
    }
    ASSERT_TRUE(manager_->CreateObservation(r).ok());
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<service::ExperimentManager> manager_;
  std::unique_ptr<service::TrialScheduler> scheduler_;
  std::unique_ptr<DashboardApi> api_;
  int64_t id_ = 0;
};

TEST_F(DashboardApiTest, ListsExperimentsWithProgressAndBest) {
  Observe(0.70, 10, 50);
  Observe(0.80, 30, 50);
  Observe(0.90, 20, 500);  // violates the size constraint: not the best
  const json list = Get("/api/v1/experiments");
  ASSERT_EQ(list["experiments"].size(), 1u);
  const json& row = list["experiments"][0];
  EXPECT_EQ(row["name"], "two-metric");
  EXPECT_EQ(row["project"], "dlrm");
  EXPECT_EQ(row["state"], "active");
  EXPECT_EQ(row["budget"], 50);
  EXPECT_EQ(row["observations"], 3);
  EXPECT_EQ(row["primary_metric"], "auc");
  EXPECT_DOUBLE_EQ(row["best"].get<double>(), 0.80);
  EXPECT_EQ(Get("/api/v1/experiments", {{"project", "other"}})["experiments"].size(), 0u);
  EXPECT_EQ(Get("/api/v1/experiments", {{"state", "archived"}})["experiments"].size(), 0u);
  const json bad = Get("/api/v1/experiments", {{"state", "nope"}}, 400);
  EXPECT_EQ(bad["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_THAT(bad["error"]["message"].get<std::string>(), HasSubstr("state"));
}

TEST_F(DashboardApiTest, DetailNamesParametersAndMetrics) {
  const json d = Get("/api/v1/experiments/" + std::to_string(id_))["experiment"];
  EXPECT_EQ(d["optimizer"], "random");
  ASSERT_EQ(d["parameters"].size(), 2u);
  EXPECT_EQ(d["parameters"][0]["name"], "optimizer");
  EXPECT_EQ(d["parameters"][0]["type"], "categorical");
  EXPECT_EQ(d["parameters"][1]["name"], "lr");
  EXPECT_EQ(d["parameters"][1]["log"], true);
  EXPECT_DOUBLE_EQ(d["parameters"][1]["max"].get<double>(), 1.0);
  ASSERT_EQ(d["metrics"].size(), 3u);
  EXPECT_EQ(d["metrics"][2]["strategy"], "constraint");
  EXPECT_DOUBLE_EQ(d["metrics"][2]["threshold"].get<double>(), 100);
}

TEST_F(DashboardApiTest, UnknownIdsAndPathsAreClearErrors) {
  EXPECT_EQ(Get("/api/v1/experiments/999", {}, 404)["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(Get("/api/v1/experiments/abc", {}, 400)["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(Get("/api/v1/experiments/1/nothing", {}, 404)["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(Get("/api/v1/nothing", {}, 404)["error"]["code"], "NOT_FOUND");
  EXPECT_THAT(Get("/api/v1/experiments/1/curves", {{"max_points", "1"}}, 400)["error"]["message"]
                  .get<std::string>(),
              HasSubstr("max_points"));
}

TEST_F(DashboardApiTest, ObservationsImprovementParetoConstraintsAndSources) {
  Observe(0.70, 10, 50);
  Observe(0.80, 30, 50);
  Observe(0.60, 40, 500);
  Observe(0.90, 20, 80);
  const std::string base = "/api/v1/experiments/" + std::to_string(id_);
  const json obs = Get(base + "/observations")["observations"];
  ASSERT_EQ(obs.size(), 4u);
  EXPECT_EQ(obs[3]["trial"], 4);
  EXPECT_DOUBLE_EQ(obs[3]["values"]["auc"].get<double>(), 0.9);
  EXPECT_TRUE(obs[0]["assignment"].contains("lr"));
  EXPECT_TRUE(obs[0]["assignment"].contains("optimizer"));
  EXPECT_EQ(obs[0]["pruned"], false);

  const json up = Get(base + "/improvement");
  EXPECT_EQ(up["metric"], "auc");
  ASSERT_EQ(up["points"].size(), 4u);
  // Trial 3 (auc 0.6) violates the size constraint: plotted, not feasible.
  EXPECT_EQ(up["points"][2]["feasible"], false);
  EXPECT_DOUBLE_EQ(up["points"][2]["best"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(up["points"][3]["best"].get<double>(), 0.9);

  const json pareto = Get(base + "/pareto");
  EXPECT_EQ(pareto["metrics"], json({"auc", "latency"}));
  ASSERT_EQ(pareto["points"].size(), 4u);
  // (0.7, 10) and (0.9, 20) are non-dominated; (0.8, 30) and (0.6, 40) are dominated.
  EXPECT_EQ(pareto["points"][0]["pareto"], true);
  EXPECT_EQ(pareto["points"][1]["pareto"], false);
  EXPECT_EQ(pareto["points"][2]["pareto"], false);
  EXPECT_EQ(pareto["points"][3]["pareto"], true);

  const json constraints = Get(base + "/constraints");
  ASSERT_EQ(constraints["constraints"].size(), 1u);
  EXPECT_EQ(constraints["constraints"][0]["satisfied"], 3);
  EXPECT_EQ(constraints["constraints"][0]["violated"], 1);
  EXPECT_EQ(constraints["all_satisfied"], 3);
  EXPECT_EQ(constraints["observed"], 4);

  const json sources = Get(base + "/sources")["sources"];
  int total = 0;
  for (const json& s : sources) total += s["count"].get<int>();
  EXPECT_EQ(total, 4);

  const ApiResponse csv = api_->Handle(base + "/observations.csv", {});
  EXPECT_EQ(csv.http_status, 200);
  EXPECT_THAT(csv.content_type, HasSubstr("text/csv"));
  EXPECT_EQ(std::count(csv.body.begin(), csv.body.end(), '\n'), 5);  // header + 4 rows
  ASSERT_FALSE(csv.headers.empty());
  EXPECT_THAT(csv.headers[0].second, HasSubstr("attachment"));
}

TEST_F(DashboardApiTest, CurvesCarryStatusAndStopReasonAndWorkersTheirTrials) {
  v1::RegisterWorkerRequest reg;
  reg.mutable_worker()->set_name("node1");
  reg.mutable_worker()->set_host("xeon-01");
  auto worker = scheduler_->RegisterWorker(reg);
  ASSERT_TRUE(worker.ok());
  v1::LeaseTrialRequest lease;
  lease.set_worker_id(worker->worker_id());
  lease.set_experiment_id(id_);
  auto leased = scheduler_->LeaseTrial(lease);
  ASSERT_TRUE(leased.ok() && leased->has_suggestion());
  for (int step = 1; step <= 500; ++step) {
    v1::ProgressReport report;
    report.set_worker_id(worker->worker_id());
    report.set_suggestion_id(leased->suggestion().id());
    report.mutable_checkpoint()->set_step(step);
    auto* m = report.mutable_checkpoint()->add_metrics();
    m->set_name("auc");
    m->set_value(0.5 + step * 1e-4);
    ASSERT_TRUE(scheduler_->ReportProgress(report).ok());
  }
  const std::string base = "/api/v1/experiments/" + std::to_string(id_);
  const json curves = Get(base + "/curves", {{"max_points", "50"}})["curves"];
  ASSERT_EQ(curves.size(), 1u);
  EXPECT_EQ(curves[0]["status"], "running");
  EXPECT_EQ(curves[0]["points"].size(), 50u);
  EXPECT_EQ(curves[0]["points"][49][0], 500);

  const json workers = Get("/api/v1/workers", {{"experiment", std::to_string(id_)}})["workers"];
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["host"], "xeon-01");
  EXPECT_EQ(workers[0]["live"], true);
  ASSERT_EQ(workers[0]["trials"].size(), 1u);
  EXPECT_EQ(workers[0]["trials"][0]["suggestion_id"], leased->suggestion().id());

  clock_.Advance(absl::Minutes(5));  // no heartbeat: no longer live
  EXPECT_EQ(Get("/api/v1/workers")["workers"][0]["live"], false);
}

TEST_F(DashboardApiTest, RevisionGrowsWithWrites) {
  const int64_t before = Get("/api/v1/revision")["revision"];
  Observe(0.5, 1, 1);
  const int64_t after = Get("/api/v1/revision")["revision"];
  EXPECT_GT(after, before);
  EXPECT_EQ(Get("/api/v1/revision")["revision"], after);
}

}  // namespace
}  // namespace hpo::dashboard
