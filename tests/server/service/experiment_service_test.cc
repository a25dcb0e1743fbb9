// The gRPC adapter over loopback: codes and messages reach the client unchanged.
#include "server/service/experiment_service.h"

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"

namespace hpo::service {
namespace {

using ::testing::HasSubstr;

class ExperimentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteStore::Open(":memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    manager_ = std::make_unique<ExperimentManager>(store_.get(), RealClock());
    service_ = std::make_unique<ExperimentService>(manager_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = v1::ExperimentService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<ExperimentManager> manager_;
  std::unique_ptr<ExperimentService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ExperimentService::Stub> stub_;
};

v1::CreateExperimentRequest ValidRequest() {
  v1::CreateExperimentRequest r;
  auto* e = r.mutable_experiment();
  e->set_name("branin");
  e->set_observation_budget(3);
  for (const char* name : {"x1", "x2"}) {
    auto* p = e->mutable_search_space()->add_parameters();
    p->set_name(name);
    p->set_type(v1::PARAMETER_TYPE_DOUBLE);
    p->mutable_bounds()->set_min(-5);
    p->mutable_bounds()->set_max(10);
  }
  auto* m = e->add_metrics();
  m->set_name("value");
  m->set_objective(v1::OBJECTIVE_MINIMIZE);
  return r;
}

TEST_F(ExperimentServiceTest, SuggestObserveBestOverLoopback) {
  grpc::ClientContext create_ctx;
  v1::CreateExperimentResponse created;
  ASSERT_TRUE(stub_->CreateExperiment(&create_ctx, ValidRequest(), &created).ok());
  const int64_t id = created.experiment().id();
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    v1::CreateSuggestionRequest req;
    req.set_experiment_id(id);
    v1::CreateSuggestionResponse sug;
    ASSERT_TRUE(stub_->CreateSuggestion(&ctx, req, &sug).ok());
    grpc::ClientContext obs_ctx;
    v1::CreateObservationRequest obs;
    obs.set_experiment_id(id);
    obs.set_suggestion_id(sug.suggestion().id());
    auto* v = obs.add_values();
    v->set_name("value");
    v->set_value(10.0 - i);
    v1::CreateObservationResponse obs_resp;
    ASSERT_TRUE(stub_->CreateObservation(&obs_ctx, obs, &obs_resp).ok());
  }
  grpc::ClientContext best_ctx;
  v1::GetBestAssignmentsRequest best_req;
  best_req.set_experiment_id(id);
  v1::GetBestAssignmentsResponse best;
  ASSERT_TRUE(stub_->GetBestAssignments(&best_ctx, best_req, &best).ok());
  ASSERT_EQ(best.observations_size(), 1);
  EXPECT_EQ(best.observations(0).values(0).value(), 8.0);
}

TEST_F(ExperimentServiceTest, ErrorsKeepCodeAndFieldName) {
  v1::CreateExperimentRequest bad = ValidRequest();
  bad.mutable_experiment()->mutable_search_space()->mutable_parameters(1)->mutable_bounds()->set_max(-6);
  grpc::ClientContext ctx;
  v1::CreateExperimentResponse resp;
  grpc::Status s = stub_->CreateExperiment(&ctx, bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("x2"));

  grpc::ClientContext get_ctx;
  v1::GetExperimentRequest get;
  get.set_experiment_id(12345);
  v1::GetExperimentResponse got;
  s = stub_->GetExperiment(&get_ctx, get, &got);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("12345"));
}

}  // namespace
}  // namespace hpo::service
