#include "client/hpo_client.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hpo::client {
namespace {

using ::hpo::v1::Assignment;
using ::hpo::v1::Checkpoint;
using ::hpo::v1::Experiment;
using ::hpo::v1::ExperimentState;
using ::hpo::v1::Observation;
using ::hpo::v1::Suggestion;
using ::hpo::v1::SuggestionState;

template <typename T>
std::vector<T> ToVector(const google::protobuf::RepeatedPtrField<T>& field) {
  return std::vector<T>(field.begin(), field.end());
}

// Calls `call(request, &response)` page after page, following next_page_token, and returns the
// items (`items(&response)`) of every page in order.
template <typename T, typename Response, typename Request, typename CallFn, typename ItemsFn>
absl::StatusOr<std::vector<T>> CollectPages(Request request, CallFn call, ItemsFn items) {
  std::vector<T> out;
  while (true) {
    Response response;
    if (absl::Status status = call(request, &response); !status.ok()) return status;
    google::protobuf::RepeatedPtrField<T>* page = items(&response);
    out.reserve(out.size() + page->size());
    for (T& item : *page) out.push_back(std::move(item));
    if (response.next_page_token().empty()) return out;
    // A server that hands back the token it was given would keep us here forever.
    if (response.next_page_token() == request.page_token()) {
      return absl::InternalError("server returned the same page_token again");
    }
    request.set_page_token(response.next_page_token());
  }
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  // grpc::StatusCode and absl::StatusCode share the numbering 0..16 (both follow
  // google.rpc.Code); anything outside it is not a code we know.
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(status.error_message());
  }
  return absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
}

absl::StatusOr<std::unique_ptr<HpoClient>> HpoClient::Connect(const HpoClientOptions& options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("server address is empty");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout must be positive, got ", absl::FormatDuration(options.timeout)));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca_file.empty() || !options.tls_cert_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    auto read = [](const std::string& path, const char* what,
                   std::string* out) -> absl::Status {
      if (path.empty()) return absl::OkStatus();
      std::ifstream in(path);
      if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
      std::stringstream buffer;
      buffer << in.rdbuf();
      *out = buffer.str();
      return absl::OkStatus();
    };
    if (absl::Status s = read(options.tls_ca_file, "tls_ca", &ssl.pem_root_certs); !s.ok()) {
      return s;
    }
    if (absl::Status s = read(options.tls_cert_file, "tls_cert", &ssl.pem_cert_chain); !s.ok()) {
      return s;
    }
    if (absl::Status s = read(options.tls_key_file, "tls_key", &ssl.pem_private_key); !s.ok()) {
      return s;
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(options.target, credentials);
  auto client = std::make_unique<HpoClient>(std::move(channel), options.timeout);
  client->set_token(options.token);
  return client;
}

HpoClient::HpoClient(std::shared_ptr<grpc::ChannelInterface> channel, absl::Duration timeout)
    : timeout_(timeout),
      experiment_stub_(hpo::v1::ExperimentService::NewStub(channel)),
      trial_stub_(hpo::v1::TrialService::NewStub(channel)),
      admin_stub_(hpo::v1::AdminService::NewStub(channel)) {}

void HpoClient::Authorize(grpc::ClientContext* context) const {
  if (!token_.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
}

void HpoClient::PrepareContext(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  Authorize(context);
}

// Each wrapper below: build the request, call with a deadline, convert the status, unwrap.
#define HPO_CLIENT_CALL_(stub, method, request, response)                                  \
  do {                                                                                     \
    grpc::ClientContext context;                                                           \
    PrepareContext(&context);                                                              \
    absl::Status status = FromGrpcStatus((stub).method(&context, (request), &(response))); \
    if (!status.ok()) return status;                                                       \
  } while (false)

absl::StatusOr<Experiment> HpoClient::CreateExperiment(const Experiment& experiment) const {
  hpo::v1::CreateExperimentRequest request;
  *request.mutable_experiment() = experiment;
  hpo::v1::CreateExperimentResponse response;
  HPO_CLIENT_CALL_(*experiment_stub_, CreateExperiment, request, response);
  return std::move(*response.mutable_experiment());
}

absl::StatusOr<Experiment> HpoClient::GetExperiment(int64_t experiment_id) const {
  hpo::v1::GetExperimentRequest request;
  request.set_experiment_id(experiment_id);
  hpo::v1::GetExperimentResponse response;
  HPO_CLIENT_CALL_(*experiment_stub_, GetExperiment, request, response);
  return std::move(*response.mutable_experiment());
}

absl::StatusOr<std::vector<Experiment>> HpoClient::ListExperiments(
    const std::string& project, const std::vector<ExperimentState>& states) const {
  hpo::v1::ListExperimentsRequest request;
  request.set_project(project);
  for (ExperimentState state : states) request.add_states(state);
  return CollectPages<Experiment, hpo::v1::ListExperimentsResponse>(
      request,
      [this](const hpo::v1::ListExperimentsRequest& page, hpo::v1::ListExperimentsResponse* out) {
        HPO_CLIENT_CALL_(*experiment_stub_, ListExperiments, page, *out);
        return absl::OkStatus();
      },
      [](hpo::v1::ListExperimentsResponse* r) { return r->mutable_experiments(); });
}

absl::StatusOr<Experiment> HpoClient::SetExperimentState(int64_t experiment_id,
                                                         ExperimentState state) const {
  hpo::v1::SetExperimentStateRequest request;
  request.set_experiment_id(experiment_id);
  request.set_state(state);
  hpo::v1::SetExperimentStateResponse response;
  HPO_CLIENT_CALL_(*experiment_stub_, SetExperimentState, request, response);
  return std::move(*response.mutable_experiment());
}

absl::StatusOr<Suggestion> HpoClient::CreateSuggestion(
    int64_t experiment_id, const absl::flat_hash_map<std::string, std::string>& metadata) const {
  hpo::v1::CreateSuggestionRequest request;
  request.set_experiment_id(experiment_id);
  for (const auto& [key, value] : metadata) (*request.mutable_metadata())[key] = value;
  hpo::v1::CreateSuggestionResponse response;
  HPO_CLIENT_CALL_(*experiment_stub_, CreateSuggestion, request, response);
  return std::move(*response.mutable_suggestion());
}

absl::StatusOr<Suggestion> HpoClient::QueueSuggestion(
    int64_t experiment_id, const Assignment& assignment,
    const absl::flat_hash_map<std::string, std::string>& metadata) const {
  hpo::v1::QueueSuggestionRequest request;
  request.set_experiment_id(experiment_id);
  *request.mutable_assignment() = assignment;
  for (const auto& [key, value] : metadata) (*request.mutable_metadata())[key] = value;
  hpo::v1::QueueSuggestionResponse response;
  HPO_CLIENT_CALL_(*experiment_stub_, QueueSuggestion, request, response);
  return std::move(*response.mutable_suggestion());
}

absl::StatusOr<std::vector<Suggestion>> HpoClient::ListSuggestions(
    int64_t experiment_id, const std::vector<SuggestionState>& states) const {
  hpo::v1::ListSuggestionsRequest request;
  request.set_experiment_id(experiment_id);
  for (SuggestionState state : states) request.add_states(state);
  return CollectPages<Suggestion, hpo::v1::ListSuggestionsResponse>(
      request,
      [this](const hpo::v1::ListSuggestionsRequest& page, hpo::v1::ListSuggestionsResponse* out) {
        HPO_CLIENT_CALL_(*experiment_stub_, ListSuggestions, page, *out);
        return absl::OkStatus();
      },
      [](hpo::v1::ListSuggestionsResponse* r) { return r->mutable_suggestions(); });
}

absl::StatusOr<Suggestion> HpoClient::DeleteSuggestion(int64_t experiment_id,
                                                       int64_t suggestion_id) const {
  hpo::v1::DeleteSuggestionRequest request;
  request.set_experiment_id(experiment_id);
  request.set_suggestion_id(suggestion_id);
  hpo::v1::DeleteSuggestionResponse response;
  HPO_CLIENT_CALL_(*experiment_stub_, DeleteSuggestion, request, response);
  return std::move(*response.mutable_suggestion());
}

absl::StatusOr<Observation> HpoClient::CreateObservation(
    const hpo::v1::CreateObservationRequest& request) const {
  hpo::v1::CreateObservationResponse response;
  HPO_CLIENT_CALL_(*experiment_stub_, CreateObservation, request, response);
  return std::move(*response.mutable_observation());
}

absl::StatusOr<std::vector<Observation>> HpoClient::ListObservations(int64_t experiment_id) const {
  hpo::v1::ListObservationsRequest request;
  request.set_experiment_id(experiment_id);
  return CollectPages<Observation, hpo::v1::ListObservationsResponse>(
      request,
      [this](const hpo::v1::ListObservationsRequest& page, hpo::v1::ListObservationsResponse* out) {
        HPO_CLIENT_CALL_(*experiment_stub_, ListObservations, page, *out);
        return absl::OkStatus();
      },
      [](hpo::v1::ListObservationsResponse* r) { return r->mutable_observations(); });
}

absl::StatusOr<std::vector<Observation>> HpoClient::GetBestAssignments(
    int64_t experiment_id) const {
  hpo::v1::GetBestAssignmentsRequest request;
  request.set_experiment_id(experiment_id);
  hpo::v1::GetBestAssignmentsResponse response;
  HPO_CLIENT_CALL_(*experiment_stub_, GetBestAssignments, request, response);
  return ToVector(response.observations());
}

absl::StatusOr<std::vector<Checkpoint>> HpoClient::ListCheckpoints(int64_t experiment_id,
                                                                   int64_t suggestion_id) const {
  hpo::v1::ListCheckpointsRequest request;
  request.set_experiment_id(experiment_id);
  request.set_suggestion_id(suggestion_id);
  return CollectPages<Checkpoint, hpo::v1::ListCheckpointsResponse>(
      request,
      [this](const hpo::v1::ListCheckpointsRequest& page, hpo::v1::ListCheckpointsResponse* out) {
        HPO_CLIENT_CALL_(*experiment_stub_, ListCheckpoints, page, *out);
        return absl::OkStatus();
      },
      [](hpo::v1::ListCheckpointsResponse* r) { return r->mutable_checkpoints(); });
}

absl::StatusOr<hpo::v1::RegisterWorkerResponse> HpoClient::RegisterWorker(
    const hpo::v1::RegisterWorkerRequest& request) const {
  hpo::v1::RegisterWorkerResponse response;
  HPO_CLIENT_CALL_(*trial_stub_, RegisterWorker, request, response);
  return response;
}

absl::StatusOr<hpo::v1::LeaseTrialResponse> HpoClient::LeaseTrial(
    const hpo::v1::LeaseTrialRequest& request) const {
  hpo::v1::LeaseTrialResponse response;
  HPO_CLIENT_CALL_(*trial_stub_, LeaseTrial, request, response);
  return response;
}

absl::StatusOr<hpo::v1::HeartbeatResponse> HpoClient::Heartbeat(
    const hpo::v1::HeartbeatRequest& request) const {
  hpo::v1::HeartbeatResponse response;
  HPO_CLIENT_CALL_(*trial_stub_, Heartbeat, request, response);
  return response;
}

absl::StatusOr<Observation> HpoClient::CompleteTrial(
    const hpo::v1::CompleteTrialRequest& request) const {
  hpo::v1::CompleteTrialResponse response;
  HPO_CLIENT_CALL_(*trial_stub_, CompleteTrial, request, response);
  return std::move(*response.mutable_observation());
}

absl::Status HpoClient::ReleaseTrial(const hpo::v1::ReleaseTrialRequest& request) const {
  hpo::v1::ReleaseTrialResponse response;
  HPO_CLIENT_CALL_(*trial_stub_, ReleaseTrial, request, response);
  return absl::OkStatus();
}


std::unique_ptr<
    grpc::ClientReaderWriterInterface<hpo::v1::ProgressReport, hpo::v1::ProgressDecision>>
HpoClient::OpenProgressStream(grpc::ClientContext* context) const {
  Authorize(context);
  return trial_stub_->ReportProgress(context);
}

absl::StatusOr<hpo::v1::CreateTokenResponse> HpoClient::CreateToken(const std::string& name,
                                                                   hpo::v1::Role role,
                                                                   const std::string& project) const {
  hpo::v1::CreateTokenRequest request;
  request.set_name(name);
  request.set_role(role);
  request.set_project(project);
  hpo::v1::CreateTokenResponse response;
  HPO_CLIENT_CALL_(*admin_stub_, CreateToken, request, response);
  return response;
}

absl::StatusOr<std::vector<hpo::v1::ApiToken>> HpoClient::ListTokens() const {
  hpo::v1::ListTokensRequest request;
  hpo::v1::ListTokensResponse response;
  HPO_CLIENT_CALL_(*admin_stub_, ListTokens, request, response);
  return std::vector<hpo::v1::ApiToken>(response.tokens().begin(), response.tokens().end());
}

absl::StatusOr<hpo::v1::ApiToken> HpoClient::RevokeToken(int64_t token_id) const {
  hpo::v1::RevokeTokenRequest request;
  request.set_token_id(token_id);
  hpo::v1::RevokeTokenResponse response;
  HPO_CLIENT_CALL_(*admin_stub_, RevokeToken, request, response);
  return response.token();
}

absl::StatusOr<hpo::v1::BackupDatabaseResponse> HpoClient::BackupDatabase(
    const std::string& path) const {
  hpo::v1::BackupDatabaseRequest request;
  request.set_path(path);
  hpo::v1::BackupDatabaseResponse response;
  HPO_CLIENT_CALL_(*admin_stub_, BackupDatabase, request, response);
  return response;
}

#undef HPO_CLIENT_CALL_

}  // namespace hpo::client
