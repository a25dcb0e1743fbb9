// The gRPC adapter over loopback: codes and messages reach the client unchanged.
#include "server/service/experiment_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"

namespace hpo::service {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Allows every call, with the project scope a test sets ("": every project).
class ScopeGuard final : public CallGuard {
 public:
  absl::StatusOr<std::string> Check(const grpc::CallbackServerContext& context,
                                    const google::protobuf::Message& request) override {
    absl::MutexLock lock(&mu_);
    return scope_;
  }
  void set_scope(std::string scope) {
    absl::MutexLock lock(&mu_);
    scope_ = std::move(scope);
  }

 private:
  absl::Mutex mu_;
  std::string scope_ ABSL_GUARDED_BY(mu_);
};

class ExperimentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteStore::Open(":memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    manager_ = std::make_unique<ExperimentManager>(store_.get(), RealClock());
    service_ = std::make_unique<ExperimentService>(manager_.get(), &guard_);
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

  ScopeGuard guard_;
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

namespace paging {

// Every reply of a List call, following next_page_token from `request`.
template <typename Response, typename Request, typename Call>
std::vector<Response> AllPages(Request request, Call call) {
  std::vector<Response> pages;
  while (pages.size() < 1000) {
    grpc::ClientContext ctx;
    Response response;
    grpc::Status s = call(&ctx, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
    if (!s.ok()) break;
    pages.push_back(response);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return pages;
}

}  // namespace paging

class ExperimentServicePagingTest : public ExperimentServiceTest {
 protected:
  int64_t Create(v1::CreateExperimentRequest request) {
    grpc::ClientContext ctx;
    v1::CreateExperimentResponse created;
    grpc::Status s = stub_->CreateExperiment(&ctx, request, &created);
    EXPECT_TRUE(s.ok()) << s.error_message().substr(0, 300);
    return created.experiment().id();
  }
  int64_t Create(const std::string& name, const std::string& project = "") {
    v1::CreateExperimentRequest request = ValidRequest();
    request.mutable_experiment()->set_name(name);
    request.mutable_experiment()->set_project(project);
    request.mutable_experiment()->set_observation_budget(100);
    return Create(request);
  }
  int64_t Observe(int64_t experiment_id, double value,
                  const std::map<std::string, std::string>& metadata = {}) {
    grpc::ClientContext ctx;
    v1::CreateObservationRequest request;
    request.set_experiment_id(experiment_id);
    auto& values = *request.mutable_assignment()->mutable_values();
    values["x1"].set_number_value(1);
    values["x2"].set_number_value(2);
    auto* v = request.add_values();
    v->set_name("value");
    v->set_value(value);
    for (const auto& [key, text] : metadata) (*request.mutable_metadata())[key] = text;
    v1::CreateObservationResponse response;
    grpc::Status s = stub_->CreateObservation(&ctx, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.observation().id();
  }
  int64_t Queue(int64_t experiment_id) {
    grpc::ClientContext ctx;
    v1::QueueSuggestionRequest request;
    request.set_experiment_id(experiment_id);
    (*request.mutable_assignment()->mutable_values())["x1"].set_number_value(1);
    (*request.mutable_assignment()->mutable_values())["x2"].set_number_value(2);
    v1::QueueSuggestionResponse response;
    grpc::Status s = stub_->QueueSuggestion(&ctx, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.suggestion().id();
  }

  // Every page of a List call, from `request` on.
  template <typename Response, typename Request>
  std::vector<Response> Pages(grpc::Status (v1::ExperimentService::Stub::*method)(
                                  grpc::ClientContext*, const Request&, Response*),
                              Request request) {
    return paging::AllPages<Response>(
        request, [&](grpc::ClientContext* ctx, const Request& r, Response* out) {
          return (stub_.get()->*method)(ctx, r, out);
        });
  }
  std::vector<v1::ListExperimentsResponse> ExperimentPages(v1::ListExperimentsRequest request) {
    return Pages(&v1::ExperimentService::Stub::ListExperiments, request);
  }
  std::vector<v1::ListObservationsResponse> ObservationPages(v1::ListObservationsRequest request) {
    return Pages(&v1::ExperimentService::Stub::ListObservations, request);
  }

  static std::vector<int64_t> Ids(const std::vector<v1::ListExperimentsResponse>& pages) {
    std::vector<int64_t> ids;
    for (const auto& page : pages) {
      for (const auto& e : page.experiments()) ids.push_back(e.id());
    }
    return ids;
  }
  static std::vector<int64_t> Ids(const std::vector<v1::ListObservationsResponse>& pages) {
    std::vector<int64_t> ids;
    for (const auto& page : pages) {
      for (const auto& o : page.observations()) ids.push_back(o.id());
    }
    return ids;
  }

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::ExperimentService::Stub::*method)(grpc::ClientContext*,
                                                                        const Request&, Response*),
                    const Request& request, Response* response = nullptr) {
    grpc::ClientContext ctx;
    Response ignored;
    return (stub_.get()->*method)(&ctx, request, response != nullptr ? response : &ignored);
  }
};

TEST_F(ExperimentServicePagingTest, ExperimentsComeOnceEachNewestFirstAcrossPages) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Create(absl::StrCat("e", i)));
  std::reverse(ids.begin(), ids.end());
  v1::ListExperimentsRequest request;
  request.set_page_size(2);
  std::vector<v1::ListExperimentsResponse> pages = ExperimentPages(request);
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].experiments_size(), 2);
  EXPECT_EQ(pages[2].experiments_size(), 1);
  EXPECT_EQ(pages[2].next_page_token(), "");
  EXPECT_THAT(Ids(pages), ElementsAreArray(ids));

  // An experiment created between two pages is newer than the first page: it neither shifts the
  // later pages nor repeats an item.
  v1::ListExperimentsResponse first;
  ASSERT_TRUE(Call(&v1::ExperimentService::Stub::ListExperiments, request, &first).ok());
  Create("late");
  request.set_page_token(first.next_page_token());
  std::vector<v1::ListExperimentsResponse> rest = ExperimentPages(request);
  rest.insert(rest.begin(), first);
  EXPECT_THAT(Ids(rest), ElementsAreArray(ids));
}

TEST_F(ExperimentServicePagingTest, ObservationsSuggestionsAndCheckpointsComeInOrderAcrossPages) {
  const int64_t id = Create("paged");
  std::vector<int64_t> observations;
  for (int i = 0; i < 7; ++i) observations.push_back(Observe(id, i));
  v1::ListObservationsRequest request;
  request.set_experiment_id(id);
  request.set_page_size(3);
  v1::ListObservationsResponse first;
  ASSERT_TRUE(Call(&v1::ExperimentService::Stub::ListObservations, request, &first).ok());
  ASSERT_EQ(first.observations_size(), 3);
  // Created after the first page: it comes last, once.
  observations.push_back(Observe(id, 7));
  request.set_page_token(first.next_page_token());
  std::vector<v1::ListObservationsResponse> pages = ObservationPages(request);
  pages.insert(pages.begin(), first);
  EXPECT_EQ(pages.size(), 3u);
  EXPECT_THAT(Ids(pages), ElementsAreArray(observations));

  const int64_t queued_id = Create("queued");
  std::vector<int64_t> suggestions;
  for (int i = 0; i < 5; ++i) suggestions.push_back(Queue(queued_id));
  v1::ListSuggestionsRequest list_suggestions;
  list_suggestions.set_experiment_id(queued_id);
  list_suggestions.add_states(v1::SUGGESTION_STATE_QUEUED);
  list_suggestions.set_page_size(2);
  std::vector<int64_t> listed;
  for (const auto& page : Pages(&v1::ExperimentService::Stub::ListSuggestions, list_suggestions)) {
    EXPECT_LE(page.suggestions_size(), 2);
    for (const auto& s : page.suggestions()) listed.push_back(s.id());
  }
  EXPECT_THAT(listed, ElementsAreArray(suggestions));

  // The learning curve of a queued suggestion, written straight to the store (no other caller
  // uses it meanwhile).
  for (int step : {0, 10, 20, 30, 40}) {
    v1::Checkpoint checkpoint;
    checkpoint.set_step(step);
    auto* metric = checkpoint.add_metrics();
    metric->set_name("value");
    metric->set_value(step);
    ASSERT_TRUE(store_->InsertCheckpoint(suggestions[0], checkpoint).ok());
  }
  v1::ListCheckpointsRequest list_checkpoints;
  list_checkpoints.set_experiment_id(queued_id);
  list_checkpoints.set_suggestion_id(suggestions[0]);
  list_checkpoints.set_page_size(2);
  std::vector<int64_t> steps;
  for (const auto& page : Pages(&v1::ExperimentService::Stub::ListCheckpoints, list_checkpoints)) {
    EXPECT_LE(page.checkpoints_size(), 2);
    for (const auto& c : page.checkpoints()) steps.push_back(c.step());
  }
  EXPECT_THAT(steps, ElementsAre(0, 10, 20, 30, 40));
}

TEST_F(ExperimentServicePagingTest, PageSizeHasADefaultAndAMaximum) {
  for (int i = 0; i < 101; ++i) Create(absl::StrCat("e", i));
  v1::ListExperimentsRequest defaults;
  v1::ListExperimentsResponse page;
  ASSERT_TRUE(Call(&v1::ExperimentService::Stub::ListExperiments, defaults, &page).ok());
  EXPECT_EQ(page.experiments_size(), 100);
  EXPECT_NE(page.next_page_token(), "");
  v1::ListExperimentsRequest huge;
  huge.set_page_size(1 << 30);  // counts as the maximum
  ASSERT_TRUE(Call(&v1::ExperimentService::Stub::ListExperiments, huge, &page).ok());
  EXPECT_EQ(page.experiments_size(), 101);
  EXPECT_EQ(page.next_page_token(), "");
}

// About 1 MB, just under the 1 MiB limit of an experiment: five no longer fit one reply that a
// default client (4 MiB receive limit) accepts.
v1::CreateExperimentRequest LargeRequest(const std::string& name) {
  v1::CreateExperimentRequest r = ValidRequest();
  v1::Experiment* e = r.mutable_experiment();
  e->set_name(name);
  for (int p = 0; p < 3; ++p) {
    v1::Parameter* c = e->mutable_search_space()->add_parameters();
    c->set_name(absl::StrCat("c", p));
    c->set_type(v1::PARAMETER_TYPE_CATEGORICAL);
    for (int i = 0; i < 1000; ++i) {
      c->add_categorical_values(absl::StrCat(i, std::string(250, 'v')));
    }
  }
  for (int i = 0; i < 60; ++i) {
    (*e->mutable_metadata())[absl::StrCat("k", i)] = std::string(4000, 'm');
  }
  return r;
}

TEST_F(ExperimentServicePagingTest, RepliesStayUnderTheDefaultClientLimit) {
  constexpr size_t kBudget = 3 << 20;
  constexpr size_t kDefaultClientLimit = 4 << 20;
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    const v1::CreateExperimentRequest request = LargeRequest(absl::StrCat("large", i));
    ASSERT_GT(request.experiment().ByteSizeLong(), 1000000u);
    ids.push_back(Create(request));
  }
  std::reverse(ids.begin(), ids.end());
  std::vector<v1::ListExperimentsResponse> pages = ExperimentPages(v1::ListExperimentsRequest());
  EXPECT_GE(pages.size(), 2u);
  for (const auto& page : pages) {
    EXPECT_LE(page.ByteSizeLong(), kBudget);
    EXPECT_LT(page.ByteSizeLong(), kDefaultClientLimit);
  }
  EXPECT_THAT(Ids(pages), ElementsAreArray(ids));

  // Observations with much metadata (64 entries of 4000 bytes each, about 256 KB): 20 of them.
  const int64_t id = Create("metadata");
  std::map<std::string, std::string> metadata;
  for (int i = 0; i < 64; ++i) metadata[absl::StrCat("k", i)] = std::string(4000, 'm');
  std::vector<int64_t> observations;
  for (int i = 0; i < 20; ++i) observations.push_back(Observe(id, i, metadata));
  v1::ListObservationsRequest list;
  list.set_experiment_id(id);
  std::vector<v1::ListObservationsResponse> observation_pages = ObservationPages(list);
  EXPECT_GE(observation_pages.size(), 2u);
  for (const auto& page : observation_pages) EXPECT_LE(page.ByteSizeLong(), kBudget);
  EXPECT_THAT(Ids(observation_pages), ElementsAreArray(observations));
}

TEST_F(ExperimentServicePagingTest, BadPageSizeOrTokenIsInvalidArgumentNamingTheField) {
  const int64_t id = Create("a");
  Observe(id, 1);
  Observe(id, 2);

  v1::ListExperimentsRequest negative;
  negative.set_page_size(-1);
  grpc::Status s = Call(&v1::ExperimentService::Stub::ListExperiments, negative);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_size"));
  v1::ListObservationsRequest negative_observations;
  negative_observations.set_experiment_id(id);
  negative_observations.set_page_size(-5);
  s = Call(&v1::ExperimentService::Stub::ListObservations, negative_observations);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_size"));

  // A real token of ListObservations, for the tokens below that are made from it.
  v1::ListObservationsRequest observations;
  observations.set_experiment_id(id);
  observations.set_page_size(1);
  v1::ListObservationsResponse first;
  ASSERT_TRUE(Call(&v1::ExperimentService::Stub::ListObservations, observations, &first).ok());
  std::string decoded;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(first.next_page_token(), &decoded));
  const std::string prefix = decoded.substr(0, decoded.rfind(':'));  // "v1:<kind>:<filters>"

  for (const std::string& token :
       {std::string("garbage"), std::string("!!!"), std::string(5000, 'A'),
        absl::WebSafeBase64Escape(prefix + ":x"), absl::WebSafeBase64Escape(prefix + ":-3"),
        absl::WebSafeBase64Escape("v2" + decoded.substr(2)),
        absl::WebSafeBase64Escape(decoded + ":1")}) {
    observations.set_page_token(token);
    s = Call(&v1::ExperimentService::Stub::ListObservations, observations);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << decoded;
    EXPECT_THAT(s.error_message(), HasSubstr("page_token"));
  }
  // A ListObservations token given to another List call.
  v1::ListSuggestionsRequest suggestions;
  suggestions.set_experiment_id(id);
  suggestions.set_page_token(first.next_page_token());
  s = Call(&v1::ExperimentService::Stub::ListSuggestions, suggestions);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_token"));
}

TEST_F(ExperimentServicePagingTest, TokenWithOtherFiltersIsRefused) {
  const int64_t a = Create("a");
  const int64_t b = Create("b");
  Create("c", "other");
  for (int64_t id : {a, b}) {
    Observe(id, 1);
    Observe(id, 2);
  }

  v1::ListExperimentsRequest active;
  active.add_states(v1::EXPERIMENT_STATE_ACTIVE);
  active.set_page_size(1);
  v1::ListExperimentsResponse first;
  ASSERT_TRUE(Call(&v1::ExperimentService::Stub::ListExperiments, active, &first).ok());
  ASSERT_NE(first.next_page_token(), "");
  v1::ListExperimentsRequest next = active;
  next.set_page_token(first.next_page_token());
  EXPECT_TRUE(Call(&v1::ExperimentService::Stub::ListExperiments, next).ok());
  v1::ListExperimentsRequest paused = next;
  paused.clear_states();
  paused.add_states(v1::EXPERIMENT_STATE_PAUSED);
  v1::ListExperimentsRequest other_project = next;
  other_project.set_project("other");
  for (const auto& request : {paused, other_project}) {
    grpc::Status s = Call(&v1::ExperimentService::Stub::ListExperiments, request);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("page_token"));
  }

  // A token of experiment a's observations, sent for experiment b.
  v1::ListObservationsRequest observations;
  observations.set_experiment_id(a);
  observations.set_page_size(1);
  v1::ListObservationsResponse page;
  ASSERT_TRUE(Call(&v1::ExperimentService::Stub::ListObservations, observations, &page).ok());
  observations.set_experiment_id(b);
  observations.set_page_token(page.next_page_token());
  grpc::Status s = Call(&v1::ExperimentService::Stub::ListObservations, observations);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_token"));
}

TEST_F(ExperimentServicePagingTest, ProjectScopeHoldsOnEveryPage) {
  std::vector<int64_t> mine;
  for (int i = 0; i < 3; ++i) {
    mine.push_back(Create(absl::StrCat("a", i), "a"));
    Create(absl::StrCat("b", i), "b");
  }
  std::reverse(mine.begin(), mine.end());
  guard_.set_scope("a");
  v1::ListExperimentsRequest request;
  request.set_page_size(1);
  std::vector<v1::ListExperimentsResponse> pages = ExperimentPages(request);
  EXPECT_EQ(pages.size(), 3u);
  EXPECT_THAT(Ids(pages), ElementsAreArray(mine));
}

}  // namespace
}  // namespace hpo::service
