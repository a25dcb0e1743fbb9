#include "client/hpo_client.h"

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_experiment_service.h"

namespace hpo::client {
namespace {

using ::hpo::testing::FakeServer;

class HpoClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    HpoClientOptions options;
    options.target = server_.address();
    options.timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<HpoClient>> client = HpoClient::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  static hpo::v1::Experiment SmallExperiment(const std::string& name) {
    hpo::v1::Experiment experiment;
    experiment.set_name(name);
    hpo::v1::Parameter* x = experiment.mutable_search_space()->add_parameters();
    x->set_name("x");
    x->set_type(hpo::v1::PARAMETER_TYPE_DOUBLE);
    x->mutable_bounds()->set_max(1);
    experiment.add_metrics()->set_name("loss");
    experiment.set_observation_budget(10);
    return experiment;
  }

  FakeServer server_;
  std::unique_ptr<HpoClient> client_;
};

TEST(FromGrpcStatusTest, OkIsOk) { EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok()); }

TEST(FromGrpcStatusTest, CodesMatchNumericallyAndMessageIsKept) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status status = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(code), "why"));
    EXPECT_EQ(static_cast<int>(status.code()), code);
    EXPECT_EQ(status.message(), "why");
  }
}

TEST(FromGrpcStatusTest, UnknownCodeBecomesUnknown) {
  absl::Status status = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(42), "odd"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(status.message(), "odd");
}

TEST(HpoClientConnectTest, RejectsEmptyTargetAndBadTimeout) {
  HpoClientOptions options;
  options.target = "";
  EXPECT_EQ(HpoClient::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.target = "127.0.0.1:1";
  options.timeout = absl::ZeroDuration();
  EXPECT_EQ(HpoClient::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HpoClientTest, CreateThenGetRoundTrips) {
  absl::StatusOr<hpo::v1::Experiment> created = client_->CreateExperiment(SmallExperiment("a"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_GT(created->id(), 0);
  EXPECT_EQ(created->state(), hpo::v1::EXPERIMENT_STATE_ACTIVE);

  absl::StatusOr<hpo::v1::Experiment> fetched = client_->GetExperiment(created->id());
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->name(), "a");
  EXPECT_EQ(fetched->search_space().parameters(0).name(), "x");
}

TEST_F(HpoClientTest, ServerErrorsKeepCodeAndMessage) {
  absl::StatusOr<hpo::v1::Experiment> missing = client_->GetExperiment(345);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "experiment 345 not found");

  ASSERT_TRUE(client_->CreateExperiment(SmallExperiment("dup")).ok());
  EXPECT_EQ(client_->CreateExperiment(SmallExperiment("dup")).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(HpoClientTest, EveryServerCodeArrivesUnchanged) {
  for (int code : {3, 5, 6, 9, 13, 14}) {
    absl::Status status =
        client_->GetExperiment(hpo::testing::kStatusExperimentBase + code).status();
    EXPECT_EQ(static_cast<int>(status.code()), code) << status;
    EXPECT_EQ(status.message(), absl::StrCat("code ", code));
  }
}

TEST_F(HpoClientTest, EveryCallCarriesTheConfiguredDeadline) {
  client_->set_timeout(absl::Seconds(7));
  const absl::Time before = absl::Now();
  ASSERT_TRUE(client_->CreateExperiment(SmallExperiment("d")).ok());
  ASSERT_TRUE(client_->GetExperiment(1).ok());
  const absl::Time after = absl::Now();
  const absl::Time deadline = server_.experiments().last_deadline();
  EXPECT_GE(deadline, before + absl::Seconds(7) - absl::Milliseconds(50));
  EXPECT_LE(deadline, after + absl::Seconds(7) + absl::Milliseconds(50));
}

TEST_F(HpoClientTest, SlowCallFailsWithDeadlineExceeded) {
  client_->set_timeout(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  absl::Status status = client_->GetExperiment(hpo::testing::kSlowExperimentId).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(HpoClientUnavailableTest, NobodyListeningIsUnavailable) {
  HpoClientOptions options;
  options.target = "127.0.0.1:1";  // privileged port, nobody listens
  options.timeout = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<HpoClient>> client = HpoClient::Connect(options);
  ASSERT_TRUE(client.ok());
  absl::Status status = (*client)->ListExperiments().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST_F(HpoClientTest, ListPassesProjectAndStates) {
  ASSERT_TRUE(client_->CreateExperiment(SmallExperiment("l")).ok());
  absl::StatusOr<std::vector<hpo::v1::Experiment>> all =
      client_->ListExperiments("", {hpo::v1::EXPERIMENT_STATE_PAUSED});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 1u);
  hpo::v1::ListExperimentsRequest request = server_.experiments().last_list_request();
  ASSERT_EQ(request.states_size(), 1);
  EXPECT_EQ(request.states(0), hpo::v1::EXPERIMENT_STATE_PAUSED);
  absl::StatusOr<std::vector<hpo::v1::Experiment>> other = client_->ListExperiments("other");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
}

TEST_F(HpoClientTest, ListsFollowEveryPage) {
  server_.experiments().set_page_size(2);
  std::vector<int64_t> ids;
  for (const char* name : {"p1", "p2", "p3", "p4", "p5"}) {
    absl::StatusOr<hpo::v1::Experiment> created = client_->CreateExperiment(SmallExperiment(name));
    ASSERT_TRUE(created.ok()) << created.status();
    ids.insert(ids.begin(), created->id());  // listed newest first
  }
  absl::StatusOr<std::vector<hpo::v1::Experiment>> experiments = client_->ListExperiments();
  ASSERT_TRUE(experiments.ok()) << experiments.status();
  std::vector<int64_t> listed;
  for (const auto& e : *experiments) listed.push_back(e.id());
  EXPECT_EQ(listed, ids);
  EXPECT_EQ(server_.experiments().list_calls(), 3);

  const int64_t id = ids.back();
  std::vector<int64_t> suggestion_ids;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<hpo::v1::Suggestion> suggestion = client_->CreateSuggestion(id);
    ASSERT_TRUE(suggestion.ok()) << suggestion.status();
    suggestion_ids.push_back(suggestion->id());
    hpo::v1::CreateObservationRequest request;
    request.set_experiment_id(id);
    request.set_suggestion_id(suggestion->id());
    ASSERT_TRUE(client_->CreateObservation(request).ok());
  }
  absl::StatusOr<std::vector<hpo::v1::Suggestion>> suggestions = client_->ListSuggestions(id);
  ASSERT_TRUE(suggestions.ok()) << suggestions.status();
  ASSERT_EQ(suggestions->size(), 3u);
  absl::StatusOr<std::vector<hpo::v1::Observation>> observations = client_->ListObservations(id);
  ASSERT_TRUE(observations.ok()) << observations.status();
  ASSERT_EQ(observations->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*suggestions)[i].id(), suggestion_ids[i]);
    EXPECT_EQ((*observations)[i].suggestion_id(), suggestion_ids[i]);
  }
  absl::StatusOr<std::vector<hpo::v1::Checkpoint>> curve =
      client_->ListCheckpoints(id, suggestion_ids[0]);
  ASSERT_TRUE(curve.ok()) << curve.status();
  ASSERT_EQ(curve->size(), 3u);
  EXPECT_EQ((*curve)[2].step(), 200);
  // Two pages for each of the three lists of three items.
  EXPECT_EQ(server_.experiments().list_calls(), 3 + 3 * 2);
}

TEST_F(HpoClientTest, SuggestObserveAndBest) {
  absl::StatusOr<hpo::v1::Experiment> experiment = client_->CreateExperiment(SmallExperiment("s"));
  ASSERT_TRUE(experiment.ok());
  absl::StatusOr<hpo::v1::Suggestion> suggestion =
      client_->CreateSuggestion(experiment->id(), {{"host", "a"}});
  ASSERT_TRUE(suggestion.ok()) << suggestion.status();
  EXPECT_EQ(suggestion->metadata().at("host"), "a");

  hpo::v1::CreateObservationRequest request;
  request.set_experiment_id(experiment->id());
  request.set_suggestion_id(suggestion->id());
  hpo::v1::MetricValue* value = request.add_values();
  value->set_name("loss");
  value->set_value(0.25);
  absl::StatusOr<hpo::v1::Observation> observation = client_->CreateObservation(request);
  ASSERT_TRUE(observation.ok()) << observation.status();
  EXPECT_EQ(observation->suggestion_id(), suggestion->id());

  absl::StatusOr<std::vector<hpo::v1::Observation>> best =
      client_->GetBestAssignments(experiment->id());
  ASSERT_TRUE(best.ok());
  ASSERT_EQ(best->size(), 1u);
  EXPECT_EQ((*best)[0].values(0).value(), 0.25);

  absl::StatusOr<std::vector<hpo::v1::Observation>> all =
      client_->ListObservations(experiment->id());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);

  absl::StatusOr<std::vector<hpo::v1::Suggestion>> suggestions =
      client_->ListSuggestions(experiment->id());
  ASSERT_TRUE(suggestions.ok());
  EXPECT_EQ(suggestions->size(), 1u);

  absl::StatusOr<std::vector<hpo::v1::Checkpoint>> curve =
      client_->ListCheckpoints(experiment->id(), suggestion->id());
  ASSERT_TRUE(curve.ok());
  EXPECT_EQ(curve->size(), 3u);
}

TEST_F(HpoClientTest, SetExperimentStateReturnsTheExperiment) {
  absl::StatusOr<hpo::v1::Experiment> experiment = client_->CreateExperiment(SmallExperiment("p"));
  ASSERT_TRUE(experiment.ok());
  absl::StatusOr<hpo::v1::Experiment> paused =
      client_->SetExperimentState(experiment->id(), hpo::v1::EXPERIMENT_STATE_PAUSED);
  ASSERT_TRUE(paused.ok()) << paused.status();
  EXPECT_EQ(paused->state(), hpo::v1::EXPERIMENT_STATE_PAUSED);
}

TEST_F(HpoClientTest, TrialServiceCallsGoThroughToo) {
  hpo::v1::RegisterWorkerRequest request;
  request.mutable_worker()->set_name("w");
  absl::StatusOr<hpo::v1::RegisterWorkerResponse> response = client_->RegisterWorker(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->worker_id(), "worker-w");

  EXPECT_EQ(client_->LeaseTrial(hpo::v1::LeaseTrialRequest()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Not implemented by the fake: gRPC answers UNIMPLEMENTED.
  EXPECT_EQ(client_->Heartbeat(hpo::v1::HeartbeatRequest()).status().code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace hpo::client
