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

// A default client accepts status messages up to 8 KB of metadata; a refusal that echoed a
// 100 KB name reached it as RESOURCE_EXHAUSTED instead of INVALID_ARGUMENT.
TEST_F(ExperimentServiceTest, LongInputIsRefusedWithItsOwnCode) {
  for (const std::string& name : {std::string(100000, 'n'), std::string(20000, '\t')}) {
    v1::CreateExperimentRequest bad = ValidRequest();
    bad.mutable_experiment()->set_name(name);
    grpc::ClientContext ctx;
    v1::CreateExperimentResponse resp;
    grpc::Status s = stub_->CreateExperiment(&ctx, bad, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message().substr(0, 200);
    EXPECT_THAT(s.error_message(), HasSubstr("name: \""));
  }
}

TEST_F(ExperimentServiceTest, DisplayNamesWithSpacesAndNonAsciiAreAccepted) {
  for (const char* name : {"Classifier Accuracy", "Précision du modèle"}) {
    v1::CreateExperimentRequest request = ValidRequest();
    request.mutable_experiment()->set_name(name);
    grpc::ClientContext ctx;
    v1::CreateExperimentResponse created;
    grpc::Status s = stub_->CreateExperiment(&ctx, request, &created);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(created.experiment().name(), name);
    grpc::ClientContext again_ctx;
    v1::CreateExperimentResponse again;
    EXPECT_EQ(stub_->CreateExperiment(&again_ctx, request, &again).error_code(),
              grpc::StatusCode::ALREADY_EXISTS);
  }
}

TEST(ToGrpcStatus, CutsLongMessagesAtACharacterBoundary) {
  std::string message(10, 'a');
  for (int i = 0; i < 50000; ++i) message += "\xC3\xA9";
  grpc::Status s = ToGrpcStatus(absl::NotFoundError(message));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LE(s.error_message().size(), kMaxStatusMessageBytes + 64);
  EXPECT_THAT(s.error_message(), HasSubstr("... (truncated from 100010 bytes)"));
  // 10 ASCII bytes, then whole two-byte characters only.
  const size_t kept = s.error_message().find("...");
  EXPECT_EQ((kept - 10) % 2, 0u);
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("short")).error_message(), "short");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

// 12 two-valued conditionals gating 88 int parameters under constraints no integer point
// satisfies, with 98 more constraints over every parameter: a search of many seconds without a
// budget.
v1::CreateExperimentRequest CostlyRequest() {
  v1::CreateExperimentRequest r = ValidRequest();
  auto* space = r.mutable_experiment()->mutable_search_space();
  space->clear_parameters();
  for (int c = 0; c < 12; ++c) {
    auto* conditional = space->add_conditionals();
    conditional->set_name("c" + std::to_string(c));
    conditional->add_values("on");
    conditional->add_values("off");
  }
  auto* low = space->add_linear_constraints();
  low->set_type(v1::CONSTRAINT_TYPE_GREATER_THAN);
  low->set_threshold(7.2);
  auto* high = space->add_linear_constraints();
  high->set_type(v1::CONSTRAINT_TYPE_LESS_THAN);
  high->set_threshold(7.8);
  for (int k = 0; k < 98; ++k) {
    auto* c = space->add_linear_constraints();
    c->set_type(v1::CONSTRAINT_TYPE_LESS_THAN);
    c->set_threshold(10000);
  }
  for (int i = 0; i < 88; ++i) {
    auto* p = space->add_parameters();
    p->set_name("p" + std::to_string(i));
    p->set_type(v1::PARAMETER_TYPE_INT);
    p->mutable_bounds()->set_min(0);
    p->mutable_bounds()->set_max(10);
    auto* condition = p->add_conditions();
    condition->set_name("c" + std::to_string(i % 12));
    condition->add_values("on");
    for (int k = 0; k < space->linear_constraints_size(); ++k) {
      auto* term = space->mutable_linear_constraints(k)->add_terms();
      term->set_name(p->name());
      term->set_weight(k < 2 ? 2 : 1 + ((i * 31 + k * 17) % 97) / 97.0);
    }
  }
  return r;
}

TEST_F(ExperimentServiceTest, CostlyValidationEndsWithinItsBudget) {
  grpc::ClientContext ctx;
  v1::CreateExperimentResponse resp;
  grpc::Status s = stub_->CreateExperiment(&ctx, CostlyRequest(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("search_space.linear_constraints: feasibility could not be decided within "
                        "the budget"));
}

TEST_F(ExperimentServiceTest, ValidationStopsWhenTheCallerGivesUp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(50));
  v1::CreateExperimentResponse resp;
  grpc::Status s = stub_->CreateExperiment(&ctx, CostlyRequest(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // Nothing was stored.
  grpc::ClientContext list_ctx;
  v1::ListExperimentsResponse list;
  ASSERT_TRUE(stub_->ListExperiments(&list_ctx, v1::ListExperimentsRequest(), &list).ok());
  EXPECT_EQ(list.experiments_size(), 0);
}

}  // namespace
}  // namespace hpo::service
