#include "server/auth/access_control.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/dynamic_message.h"
#include "gtest/gtest.h"
#include "hpo/v1/admin_service.pb.h"
#include "hpo/v1/experiment_service.pb.h"
#include "hpo/v1/trial_service.pb.h"
#include "server/auth/token.h"
#include "server/store/sqlite_store.h"
#include "tests/testing/status_matchers.h"

namespace hpo::auth {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

v1::Experiment Spec(const std::string& name, const std::string& project) {
  v1::Experiment e;
  e.set_name(name);
  e.set_project(project);
  e.set_observation_budget(10);
  auto* x = e.mutable_search_space()->add_parameters();
  x->set_name("x");
  x->set_type(v1::PARAMETER_TYPE_DOUBLE);
  x->mutable_bounds()->set_min(0);
  x->mutable_bounds()->set_max(1);
  e.add_metrics()->set_name("y");
  return e;
}

class AccessControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteStore::Open(":memory:", &clock_);
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    service::ExperimentManagerOptions options;
    options.background_proposals = false;
    manager_ = std::make_unique<service::ExperimentManager>(store_.get(), &clock_, options);
    AccessControlOptions access;
    access.enabled = true;
    access_ = std::make_unique<AccessControl>(manager_.get(), &clock_, access);
    auto a = manager_->CreateExperiment(Spec("a", "alpha"));
    auto b = manager_->CreateExperiment(Spec("b", "beta"));
    ASSERT_TRUE(a.ok() && b.ok());
    experiment_a_ = a->id();
    experiment_b_ = b->id();
    auto sb = manager_->CreateSuggestion(experiment_b_, {});
    ASSERT_TRUE(sb.ok());
    suggestion_b_ = sb->id();
  }

  // Creates a token and authenticates with it.
  Principal Login(const std::string& name, v1::Role role, const std::string& project) {
    v1::CreateTokenRequest request;
    request.set_name(name);
    request.set_role(role);
    request.set_project(project);
    auto created = manager_->CreateToken(request);
    EXPECT_TRUE(created.ok()) << created.status();
    auto principal = access_->Authenticate("Bearer " + created->secret(), "ipv4:127.0.0.1:1");
    EXPECT_TRUE(principal.ok()) << principal.status();
    return *principal;
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<service::ExperimentManager> manager_;
  std::unique_ptr<AccessControl> access_;
  int64_t experiment_a_ = 0, experiment_b_ = 0, suggestion_b_ = 0;
};

TEST_F(AccessControlTest, RejectsMissingMalformedUnknownAndRevokedTokens) {
  EXPECT_THAT(access_->Authenticate("", "p").status(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("Bearer")));
  EXPECT_THAT(access_->Authenticate("Bearer nope", "p").status(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("malformed")));
  auto secret = NewTokenSecret();
  ASSERT_TRUE(secret.ok());
  EXPECT_THAT(access_->Authenticate("Bearer " + *secret, "p").status(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("unknown")));
  const Principal alice = Login("alice", v1::ROLE_USER, "alpha");
  ASSERT_TRUE(manager_->RevokeToken(alice.token_id).ok());
  access_->InvalidateTokens();
  auto tokens = manager_->ListTokens();
  ASSERT_TRUE(tokens.ok());
  EXPECT_TRUE((*tokens)[0].has_revoke_time());
}

TEST_F(AccessControlTest, TokensAreStoredHashed) {
  v1::CreateTokenRequest request;
  request.set_name("bob");
  request.set_role(v1::ROLE_USER);
  auto created = manager_->CreateToken(request);
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(LooksLikeTokenSecret(created->secret()));
  auto found = manager_->FindToken(Sha256Hex(created->secret()));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->name(), "bob");
  EXPECT_NE(Sha256Hex(created->secret()), created->secret());
}

TEST_F(AccessControlTest, TokenRequestsAreValidated) {
  v1::CreateTokenRequest request;
  request.set_name("bad name");
  request.set_role(v1::ROLE_USER);
  EXPECT_THAT(manager_->CreateToken(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  request.set_name("ok");
  request.set_role(v1::ROLE_UNSPECIFIED);
  EXPECT_THAT(manager_->CreateToken(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("role")));
  request.set_role(v1::ROLE_ADMIN);
  request.set_project("alpha");
  EXPECT_THAT(manager_->CreateToken(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("project")));
  request.set_project("");
  ASSERT_TRUE(manager_->CreateToken(request).ok());
  EXPECT_THAT(manager_->CreateToken(request).status(),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("ok")));
}

// Every RPC of every service, with a project-alpha token aimed at project beta: refused.
TEST_F(AccessControlTest, EveryRpcOfAnotherProjectIsDenied) {
  const Principal alpha_admin_like = Login("alpha-user", v1::ROLE_USER, "alpha");
  const Principal alpha_worker = Login("alpha-worker", v1::ROLE_WORKER, "alpha");
  google::protobuf::DynamicMessageFactory factory;
  int checked = 0;
  for (const google::protobuf::ServiceDescriptor* service :
       {v1::CreateExperimentRequest::descriptor()->file()->service(0),
        v1::LeaseTrialRequest::descriptor()->file()->service(0),
        v1::CreateTokenRequest::descriptor()->file()->service(0)}) {
    for (int m = 0; m < service->method_count(); ++m) {
      const google::protobuf::MethodDescriptor* method = service->method(m);
      std::unique_ptr<google::protobuf::Message> request(
          factory.GetPrototype(method->input_type())->New());
      const auto* d = request->GetDescriptor();
      const auto* r = request->GetReflection();
      bool names_beta = false;
      if (const auto* f = d->FindFieldByName("experiment_id")) {
        r->SetInt64(request.get(), f, experiment_b_);
        names_beta = true;
      }
      if (const auto* f = d->FindFieldByName("suggestion_id")) {
        r->SetInt64(request.get(), f, suggestion_b_);
        // DeleteSuggestion / ListCheckpoints name both; others only the suggestion.
        names_beta = true;
      }
      if (const auto* f = d->FindFieldByName("project")) {
        r->SetString(request.get(), f, "beta");
        names_beta = true;
      }
      if (method->name() == "CreateExperiment") {
        v1::Experiment spec = Spec("new", "beta");
        r->MutableMessage(request.get(), d->FindFieldByName("experiment"))
            ->ParseFromString(spec.SerializeAsString());
        names_beta = true;
      }
      // The message types are generated ones in the real server; the access check only reads
      // fields through reflection, so a dynamic message of the same type is equivalent.
      std::unique_ptr<google::protobuf::Message> typed(
          google::protobuf::MessageFactory::generated_factory()
              ->GetPrototype(method->input_type())
              ->New());
      typed->ParseFromString(request->SerializeAsString());
      for (const Principal* p : {&alpha_admin_like, &alpha_worker}) {
        const absl::Status status = access_->Authorize(*p, *typed);
        if (names_beta || service->name() == "AdminService") {
          EXPECT_THAT(status, StatusIs(absl::StatusCode::kPermissionDenied))
              << method->full_name() << " as " << p->name;
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 2 * (12 + 6 + 4));
}

TEST_F(AccessControlTest, RolesDecideTheMethods) {
  const Principal worker = Login("w", v1::ROLE_WORKER, "alpha");
  const Principal reader = Login("r", v1::ROLE_READ_ONLY, "alpha");
  const Principal user = Login("u", v1::ROLE_USER, "alpha");
  const Principal admin = Login("root", v1::ROLE_ADMIN, "");
  v1::GetExperimentRequest get;
  get.set_experiment_id(experiment_a_);
  v1::CreateSuggestionRequest suggest;
  suggest.set_experiment_id(experiment_a_);
  v1::LeaseTrialRequest lease;
  lease.set_experiment_id(experiment_a_);
  v1::ListTokensRequest tokens;

  EXPECT_THAT(access_->Authorize(worker, get), StatusIs(absl::StatusCode::kPermissionDenied,
                                                        HasSubstr("role worker")));
  EXPECT_THAT(access_->Authorize(worker, suggest), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(access_->Authorize(worker, lease).ok());
  EXPECT_TRUE(access_->Authorize(reader, get).ok());
  EXPECT_THAT(access_->Authorize(reader, suggest), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(access_->Authorize(reader, lease), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(access_->Authorize(user, get).ok());
  EXPECT_TRUE(access_->Authorize(user, suggest).ok());
  EXPECT_TRUE(access_->Authorize(user, lease).ok());
  EXPECT_THAT(access_->Authorize(user, tokens), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(access_->Authorize(admin, tokens).ok());
  get.set_experiment_id(experiment_b_);
  EXPECT_TRUE(access_->Authorize(admin, get).ok());  // unscoped
}

TEST_F(AccessControlTest, OnlyAdminTokensReachEveryProject) {
  // A user token stored without a project (as older servers made them) has the default one.
  const Principal user = Login("legacy", v1::ROLE_USER, "");
  EXPECT_EQ(user.project, kDefaultProject);
  EXPECT_THAT(access_->AuthorizeExperimentRead(user, experiment_a_),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(ScopedProject(user, ""), kDefaultProject);
  const Principal admin = Login("root", v1::ROLE_ADMIN, "");
  EXPECT_EQ(admin.project, "");
  HPO_EXPECT_OK(access_->AuthorizeExperimentRead(admin, experiment_a_));
}

TEST(CheckProjectNameTest, AcceptsExperimentProjectNamesOnly) {
  HPO_EXPECT_OK(CheckProjectName("alpha"));
  HPO_EXPECT_OK(CheckProjectName("team-1.dlrm_v2"));
  HPO_EXPECT_OK(CheckProjectName(std::string(128, 'a')));
  const std::vector<std::string> bad_names = {
      "", "1abc", "a b", "=HYPERLINK(x)", "a/b", std::string(129, 'a'), std::string("a\0b", 3)};
  for (const std::string& bad : bad_names) {
    EXPECT_THAT(CheckProjectName(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("project")))
        << bad;
  }
}

TEST_F(AccessControlTest, RateLimitRefillsOverTime) {
  AccessControlOptions options;
  options.rate_per_second = 2;
  options.burst = 3;
  AccessControl limited(manager_.get(), &clock_, options);
  const Principal anyone = *limited.Authenticate("", "ipv4:10.0.0.1:5");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limited.Admit(anyone).ok());
  EXPECT_THAT(limited.Admit(anyone),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("rate limit")));
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(limited.Admit(anyone).ok());
  EXPECT_TRUE(limited.Admit(anyone).ok());
  EXPECT_FALSE(limited.Admit(anyone).ok());
}

}  // namespace
}  // namespace hpo::auth
