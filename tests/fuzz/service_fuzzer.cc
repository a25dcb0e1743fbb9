// Fuzz target: the gRPC request handlers, called the way any client calls them.
//
// Input: an hpo.fuzz.ServiceInput (hpo_fuzz/service_input.proto) in protobuf text format (the
// seeds in corpus/service are text) or binary: a sequence of calls, each made with the token of
// one of six callers, against a fresh server per input: a real SQLite store in memory, the
// experiment manager and trial scheduler, access control with tokens on, and the experiment,
// trial and admin services behind an in-process gRPC channel. Every answer must keep the
// contract an outside client relies on:
//   * the status is OK or one of the documented refusals (never INTERNAL, UNKNOWN, DATA_LOSS,
//     UNIMPLEMENTED), with a non-empty message that fits gRPC's default 8 KiB metadata limit;
//   * an OK reply fits the default 4 MiB receive limit;
//   * no token: UNAUTHENTICATED; the read-only token changes nothing;
//   * a token scoped to a project never gets another project's experiment back.
// Errors are expected outputs; crashes, sanitizer reports, timeouts and violations are bugs.
#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "google/protobuf/text_format.h"
#include "hpo/v1/admin_service.grpc.pb.h"
#include "hpo/v1/experiment_service.grpc.pb.h"
#include "hpo/v1/trial_service.grpc.pb.h"
#include "hpo_fuzz/service_input.pb.h"
#include "server/auth/access_control.h"
#include "server/auth/guards.h"
#include "server/service/admin_service.h"
#include "server/service/experiment_manager.h"
#include "server/service/experiment_service.h"
#include "server/service/trial_scheduler.h"
#include "server/service/trial_service.h"
#include "server/store/sqlite_store.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using ::hpo::fuzz::ToText;

bool verbose = false;
constexpr int kMaxCalls = 24;
constexpr size_t kMaxErrorMessage = 4096;      // well inside gRPC's 8 KiB metadata limit
constexpr size_t kMaxReply = 4 * 1024 * 1024;  // gRPC's default receive limit

enum Caller { kAdmin, kUserA, kWorkerA, kReaderA, kUserB, kAnonymous, kCallers };

struct CallerToken {
  hpo::v1::Role role;
  const char* project;
  const char* secret;
};
constexpr CallerToken kTokens[kAnonymous] = {
    {hpo::v1::ROLE_ADMIN, "", "hpo_000000000000000000000000000000000000000000000001"},
    {hpo::v1::ROLE_USER, "a", "hpo_000000000000000000000000000000000000000000000002"},
    {hpo::v1::ROLE_WORKER, "a", "hpo_000000000000000000000000000000000000000000000003"},
    {hpo::v1::ROLE_READ_ONLY, "a", "hpo_000000000000000000000000000000000000000000000004"},
    {hpo::v1::ROLE_USER, "b", "hpo_000000000000000000000000000000000000000000000005"},
};

// One server as hpo-server builds it with --auth, in memory.
class Server {
 public:
  Server() {
    auto store = hpo::store::SqliteStore::Open(":memory:");
    HPO_FUZZ_CHECK(store.ok(), store.status().ToString());
    store_ = std::move(*store);
    manager_ = std::make_unique<hpo::service::ExperimentManager>(store_.get(), hpo::RealClock());
    hpo::service::TrialSchedulerOptions scheduler_options;
    scheduler_options.background_reaper = false;
    scheduler_ = std::make_unique<hpo::service::TrialScheduler>(manager_.get(), hpo::RealClock(),
                                                                scheduler_options);
    for (int i = 0; i < kAnonymous; ++i) {
      hpo::v1::CreateTokenRequest request;
      request.set_name(absl::StrCat("caller", i));
      request.set_role(kTokens[i].role);
      request.set_project(kTokens[i].project);
      auto created = manager_->CreateToken(request, kTokens[i].secret);
      HPO_FUZZ_CHECK(created.ok(), created.status().ToString());
    }
    hpo::auth::AccessControlOptions access_options;
    access_options.enabled = true;
    access_ = std::make_unique<hpo::auth::AccessControl>(manager_.get(), hpo::RealClock(),
                                                         access_options);
    guard_ = std::make_unique<hpo::auth::GrpcGuard>(access_.get());
    experiments_ = std::make_unique<hpo::service::ExperimentService>(manager_.get(), guard_.get());
    trials_ = std::make_unique<hpo::service::TrialService>(scheduler_.get(), guard_.get());
    hpo::service::AdminServiceOptions admin_options;
    admin_options.backup_dir = "/nonexistent-hpo-fuzz";  // backups are not fuzzed: no files
    admin_ = std::make_unique<hpo::service::AdminService>(
        manager_.get(), guard_.get(), [this] { access_->InvalidateTokens(); }, admin_options);
    grpc::ServerBuilder builder;
    builder.RegisterService(experiments_.get());
    builder.RegisterService(trials_.get());
    builder.RegisterService(admin_.get());
    server_ = builder.BuildAndStart();
    HPO_FUZZ_CHECK(server_ != nullptr, "the in-process server did not start");
    std::shared_ptr<grpc::Channel> channel = server_->InProcessChannel(grpc::ChannelArguments());
    experiment_stub_ = hpo::v1::ExperimentService::NewStub(channel);
    trial_stub_ = hpo::v1::TrialService::NewStub(channel);
    admin_stub_ = hpo::v1::AdminService::NewStub(channel);
  }
  ~Server() { server_->Shutdown(); }

  hpo::v1::ExperimentService::Stub* experiments() { return experiment_stub_.get(); }
  hpo::v1::TrialService::Stub* trials() { return trial_stub_.get(); }
  hpo::v1::AdminService::Stub* admin() { return admin_stub_.get(); }

 private:
  std::unique_ptr<hpo::store::SqliteStore> store_;
  std::unique_ptr<hpo::service::ExperimentManager> manager_;
  std::unique_ptr<hpo::service::TrialScheduler> scheduler_;
  std::unique_ptr<hpo::auth::AccessControl> access_;
  std::unique_ptr<hpo::auth::GrpcGuard> guard_;
  std::unique_ptr<hpo::service::ExperimentService> experiments_;
  std::unique_ptr<hpo::service::TrialService> trials_;
  std::unique_ptr<hpo::service::AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<hpo::v1::ExperimentService::Stub> experiment_stub_;
  std::unique_ptr<hpo::v1::TrialService::Stub> trial_stub_;
  std::unique_ptr<hpo::v1::AdminService::Stub> admin_stub_;
};

void Prepare(grpc::ClientContext* context, int caller) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (caller != kAnonymous) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", kTokens[caller].secret));
  }
}

bool Mutates(const hpo::fuzz::ServiceCall& call) {
  switch (call.call_case()) {
    case hpo::fuzz::ServiceCall::kGetExperiment:
    case hpo::fuzz::ServiceCall::kListExperiments:
    case hpo::fuzz::ServiceCall::kListSuggestions:
    case hpo::fuzz::ServiceCall::kListObservations:
    case hpo::fuzz::ServiceCall::kGetBestAssignments:
    case hpo::fuzz::ServiceCall::kListCheckpoints:
    case hpo::fuzz::ServiceCall::kListTokens:
    case hpo::fuzz::ServiceCall::CALL_NOT_SET:
      return false;
    default:
      return true;
  }
}

// The contract every answer keeps, whatever was asked.
void CheckAnswer(const grpc::Status& status, const google::protobuf::Message* reply, int caller,
                 const hpo::fuzz::ServiceCall& call) {
  const std::string context =
      absl::StrCat("caller ", caller, " call:\n", ToText(call), "\n", status.error_code(), ": ",
                   status.error_message().substr(0, 2000));
  if (verbose) std::fprintf(stderr, "%s\n", context.c_str());
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::OUT_OF_RANGE:
      break;
    default:
      HPO_FUZZ_CHECK(false, "an answer outside the contract: " + context);
  }
  if (!status.ok()) {
    HPO_FUZZ_CHECK(!status.error_message().empty(), "a refusal without a message: " + context);
    HPO_FUZZ_CHECK(status.error_message().size() <= kMaxErrorMessage,
                   absl::StrCat("a ", status.error_message().size(), "-byte message: ", context));
  } else if (reply != nullptr) {
    HPO_FUZZ_CHECK(reply->ByteSizeLong() <= kMaxReply,
                   absl::StrCat("a ", reply->ByteSizeLong(), "-byte reply: ", context));
  }
  if (caller == kAnonymous) {
    HPO_FUZZ_CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED,
                   "a call without a token was not UNAUTHENTICATED: " + context);
  }
  if (caller == kReaderA && Mutates(call)) {
    HPO_FUZZ_CHECK(!status.ok(), "the read-only token changed something: " + context);
  }
}

// A project-scoped caller sees only its project's experiments.
void CheckScope(const hpo::v1::Experiment& experiment, int caller,
                const hpo::fuzz::ServiceCall& call) {
  if (caller == kAdmin || caller == kAnonymous) return;
  HPO_FUZZ_CHECK(
      experiment.project() == kTokens[caller].project,
      absl::StrCat("caller ", caller, " of project ", kTokens[caller].project, " got experiment ",
                   experiment.id(), " of project \"", experiment.project(), "\":\n", ToText(call)));
}

// Whether `request` is one a client can send: proto3 strings must be UTF-8, and most languages'
// protobuf refuses to serialize anything else. C++ sends it anyway; the server cannot parse it
// and gRPC answers before any handler runs, so no contract of ours applies to it.
bool Sendable(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  return copy->ParseFromString(request.SerializeAsString());
}

template <typename Stub, typename Request, typename Reply>
Reply Unary(Stub* stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Reply*),
            const Request& request, int caller, const hpo::fuzz::ServiceCall& call) {
  if (!Sendable(request)) return Reply();
  grpc::ClientContext context;
  Prepare(&context, caller);
  Reply reply;
  const grpc::Status status = (stub->*method)(&context, request, &reply);
  CheckAnswer(status, status.ok() ? &reply : nullptr, caller, call);
  if (!status.ok()) reply.Clear();
  return reply;
}

void Run(Server& server, const hpo::fuzz::ServiceCall& call) {
  using hpo::fuzz::ServiceCall;
  using EStub = hpo::v1::ExperimentService::Stub;
  using TStub = hpo::v1::TrialService::Stub;
  using AStub = hpo::v1::AdminService::Stub;
  const int caller = static_cast<int>(call.caller() % kCallers);
  EStub* e = server.experiments();
  TStub* t = server.trials();
  AStub* a = server.admin();
  switch (call.call_case()) {
    case ServiceCall::kCreateExperiment: {
      auto r = Unary(e, &EStub::CreateExperiment, call.create_experiment(), caller, call);
      if (r.has_experiment()) CheckScope(r.experiment(), caller, call);
      break;
    }
    case ServiceCall::kGetExperiment: {
      auto r = Unary(e, &EStub::GetExperiment, call.get_experiment(), caller, call);
      if (r.has_experiment()) CheckScope(r.experiment(), caller, call);
      break;
    }
    case ServiceCall::kListExperiments: {
      auto r = Unary(e, &EStub::ListExperiments, call.list_experiments(), caller, call);
      for (const auto& experiment : r.experiments()) CheckScope(experiment, caller, call);
      break;
    }
    case ServiceCall::kSetExperimentState:
      Unary(e, &EStub::SetExperimentState, call.set_experiment_state(), caller, call);
      break;
    case ServiceCall::kCreateSuggestion:
      Unary(e, &EStub::CreateSuggestion, call.create_suggestion(), caller, call);
      break;
    case ServiceCall::kQueueSuggestion:
      Unary(e, &EStub::QueueSuggestion, call.queue_suggestion(), caller, call);
      break;
    case ServiceCall::kListSuggestions:
      Unary(e, &EStub::ListSuggestions, call.list_suggestions(), caller, call);
      break;
    case ServiceCall::kDeleteSuggestion:
      Unary(e, &EStub::DeleteSuggestion, call.delete_suggestion(), caller, call);
      break;
    case ServiceCall::kCreateObservation:
      Unary(e, &EStub::CreateObservation, call.create_observation(), caller, call);
      break;
    case ServiceCall::kListObservations:
      Unary(e, &EStub::ListObservations, call.list_observations(), caller, call);
      break;
    case ServiceCall::kGetBestAssignments:
      Unary(e, &EStub::GetBestAssignments, call.get_best_assignments(), caller, call);
      break;
    case ServiceCall::kListCheckpoints:
      Unary(e, &EStub::ListCheckpoints, call.list_checkpoints(), caller, call);
      break;
    case ServiceCall::kRegisterWorker:
      Unary(t, &TStub::RegisterWorker, call.register_worker(), caller, call);
      break;
    case ServiceCall::kLeaseTrial: {
      auto r = Unary(t, &TStub::LeaseTrial, call.lease_trial(), caller, call);
      if (r.has_experiment()) CheckScope(r.experiment(), caller, call);
      break;
    }
    case ServiceCall::kHeartbeat:
      Unary(t, &TStub::Heartbeat, call.heartbeat(), caller, call);
      break;
    case ServiceCall::kReportProgress: {
      grpc::ClientContext context;
      Prepare(&context, caller);
      auto stream = t->ReportProgress(&context);
      for (const hpo::v1::ProgressReport& report : call.report_progress().reports()) {
        if (!Sendable(report)) break;
        hpo::v1::ProgressDecision decision;
        if (!stream->Write(report) || !stream->Read(&decision)) break;
      }
      stream->WritesDone();
      CheckAnswer(stream->Finish(), nullptr, caller, call);
      break;
    }
    case ServiceCall::kCompleteTrial:
      Unary(t, &TStub::CompleteTrial, call.complete_trial(), caller, call);
      break;
    case ServiceCall::kReleaseTrial:
      Unary(t, &TStub::ReleaseTrial, call.release_trial(), caller, call);
      break;
    case ServiceCall::kCreateToken:
      Unary(a, &AStub::CreateToken, call.create_token(), caller, call);
      break;
    case ServiceCall::kListTokens:
      Unary(a, &AStub::ListTokens, call.list_tokens(), caller, call);
      break;
    case ServiceCall::kRevokeToken: {
      // Revoking the fuzzer's own callers would only make every later call UNAUTHENTICATED.
      hpo::v1::RevokeTokenRequest request = call.revoke_token();
      if (request.token_id() >= 1 && request.token_id() <= kAnonymous) request.set_token_id(0);
      Unary(a, &AStub::RevokeToken, request, caller, call);
      break;
    }
    case ServiceCall::CALL_NOT_SET:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  hpo::fuzz::SilenceProtobufLogs();
  verbose = std::getenv("HPO_FUZZ_VERBOSE") != nullptr;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hpo::fuzz::ServiceInput input;
  if (!hpo::fuzz::ParseTextOrBinary(data, size, &input)) return 0;
  Server server;
  for (int i = 0; i < input.calls_size() && i < kMaxCalls; ++i) Run(server, input.calls(i));
  return 0;
}
