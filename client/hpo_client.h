// File: client/hpo_client.h
//
// HpoClient: the C++ client of the hpo server. It wraps the generated ExperimentService and
// TrialService stubs (proto/hpo/v1/*_service.proto) so that callers see plain protos and
// absl::Status instead of grpc::Status, and so that every unary call carries a deadline.
//
//   HpoClientOptions options;
//   options.target = "127.0.0.1:50051";
//   HPO_ASSIGN_OR_RETURN(std::unique_ptr<HpoClient> client, HpoClient::Connect(options));
//   HPO_ASSIGN_OR_RETURN(hpo::v1::Experiment experiment, client->GetExperiment(42));
//
// It sits below the CLI (client/cli/) and the worker; it knows nothing of spec files or output
// formats. Errors keep the server's code (the gRPC and absl codes match numerically, see
// FromGrpcStatus) and the server's message, so `error: NOT_FOUND: experiment 42 not found`
// reaches the user unchanged.
#ifndef HPO_CLIENT_HPO_CLIENT_H_
#define HPO_CLIENT_HPO_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "hpo/v1/admin_service.grpc.pb.h"
#include "hpo/v1/experiment_service.grpc.pb.h"
#include "hpo/v1/trial_service.grpc.pb.h"

namespace hpo::client {

// Default address of hpo-server.
inline constexpr char kDefaultServerAddress[] = "127.0.0.1:50051";

// Converts a gRPC status into an absl::Status with the same code (the two enums agree
// numerically) and the same message. An unknown code becomes kUnknown. This is the only place
// where the client translates statuses.
absl::Status FromGrpcStatus(const grpc::Status& status);

struct HpoClientOptions {
  // Server address, "host:port" or any gRPC target URI.
  std::string target = kDefaultServerAddress;
  // Deadline of every unary call, measured from the moment the call starts.
  // Must be positive.
  absl::Duration timeout = absl::Seconds(30);
  // API token sent as "authorization: Bearer <token>" on every call (servers with --auth).
  std::string token;
  // TLS: the CA bundle that signed the server's certificate (PEM file); with it the channel is
  // encrypted. A client certificate and key for servers that require one (mutual TLS).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Thin wrapper over the two service stubs.
//
// Every unary method sets a deadline of `timeout()` from the start of the call, converts the
// grpc::Status with FromGrpcStatus and returns the interesting part of the response. The List
// methods return every item: they follow the server's pages (next_page_token), one call with its
// own deadline per page, and fail if any page does. Error codes
// are the server's (see experiment_service.proto): kInvalidArgument, kNotFound, kAlreadyExists,
// kFailedPrecondition; in addition kDeadlineExceeded when the deadline passes and kUnavailable
// when the server cannot be reached.
//
// Thread-safety: all methods are const-safe on the stubs and may be called concurrently;
// set_timeout() must not race with calls.
class HpoClient {
 public:
  // Creates a client on a channel to `options.target`, TLS when options.tls_ca_file is set.
  // Does not connect yet: the first call does, and fails with kUnavailable if nobody listens.
  // Returns kInvalidArgument for an empty target, a non-positive timeout or an unreadable TLS
  // file.
  static absl::StatusOr<std::unique_ptr<HpoClient>> Connect(const HpoClientOptions& options);

  // Creates a client on an existing channel (tests, custom credentials).
  // `channel` must not be null.
  HpoClient(std::shared_ptr<grpc::ChannelInterface> channel, absl::Duration timeout);

  HpoClient(const HpoClient&) = delete;
  HpoClient& operator=(const HpoClient&) = delete;

  absl::Duration timeout() const { return timeout_; }
  void set_token(std::string token) { token_ = std::move(token); }
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }

  // ---- ExperimentService -----------------------------------------------------------------

  // Creates `experiment` (id, state, times and progress are ignored by the server) and returns
  // it as stored. kInvalidArgument for a bad spec, kAlreadyExists for a duplicate name.
  absl::StatusOr<hpo::v1::Experiment> CreateExperiment(const hpo::v1::Experiment& experiment) const;

  // kNotFound for an unknown id.
  absl::StatusOr<hpo::v1::Experiment> GetExperiment(int64_t experiment_id) const;

  // Experiments of `project` (empty: all projects) in `states` (empty: every state but
  // ARCHIVED), newest first.
  absl::StatusOr<std::vector<hpo::v1::Experiment>> ListExperiments(
      const std::string& project = "",
      const std::vector<hpo::v1::ExperimentState>& states = {}) const;

  // Pauses, resumes (ACTIVE), completes or archives an experiment and returns it.
  // kFailedPrecondition when the transition is not allowed.
  absl::StatusOr<hpo::v1::Experiment> SetExperimentState(int64_t experiment_id,
                                                         hpo::v1::ExperimentState state) const;

  // Issues the next suggestion. kFailedPrecondition when the experiment is not active or the
  // parallel bandwidth or the budget is used up.
  absl::StatusOr<hpo::v1::Suggestion> CreateSuggestion(
      int64_t experiment_id,
      const absl::flat_hash_map<std::string, std::string>& metadata = {}) const;

  // Queues a user-given assignment; parameters left out take their default_value.
  absl::StatusOr<hpo::v1::Suggestion> QueueSuggestion(
      int64_t experiment_id, const hpo::v1::Assignment& assignment,
      const absl::flat_hash_map<std::string, std::string>& metadata = {}) const;

  // Suggestions in `states` (empty: all), oldest first.
  absl::StatusOr<std::vector<hpo::v1::Suggestion>> ListSuggestions(
      int64_t experiment_id, const std::vector<hpo::v1::SuggestionState>& states = {}) const;

  // Withdraws an open or queued suggestion and returns it.
  absl::StatusOr<hpo::v1::Suggestion> DeleteSuggestion(int64_t experiment_id,
                                                       int64_t suggestion_id) const;

  // Reports a result. The request is sent as given (suggestion_id or assignment, values or
  // failed). Idempotent on suggestion_id on the server side.
  absl::StatusOr<hpo::v1::Observation> CreateObservation(
      const hpo::v1::CreateObservationRequest& request) const;

  // Observations, oldest first.
  absl::StatusOr<std::vector<hpo::v1::Observation>> ListObservations(int64_t experiment_id) const;

  // The best feasible observation, or the Pareto set when two metrics are optimized. Empty when
  // there is no feasible observation yet.
  absl::StatusOr<std::vector<hpo::v1::Observation>> GetBestAssignments(int64_t experiment_id) const;

  // The learning curve of a suggestion, by step.
  absl::StatusOr<std::vector<hpo::v1::Checkpoint>> ListCheckpoints(int64_t experiment_id,
                                                                   int64_t suggestion_id) const;

  // ---- TrialService (workers) ------------------------------------------------------------

  absl::StatusOr<hpo::v1::RegisterWorkerResponse> RegisterWorker(
      const hpo::v1::RegisterWorkerRequest& request) const;

  // The response's suggestion is unset when there is no work now.
  absl::StatusOr<hpo::v1::LeaseTrialResponse> LeaseTrial(
      const hpo::v1::LeaseTrialRequest& request) const;

  absl::StatusOr<hpo::v1::HeartbeatResponse> Heartbeat(
      const hpo::v1::HeartbeatRequest& request) const;

  absl::StatusOr<hpo::v1::Observation> CompleteTrial(
      const hpo::v1::CompleteTrialRequest& request) const;

  absl::Status ReleaseTrial(const hpo::v1::ReleaseTrialRequest& request) const;

  // Opens the ReportProgress stream on `context`, which the caller owns and must keep alive for
  // the life of the stream. No deadline is set here: a trial's stream lives as long as the
  // trial; the caller may set one on `context` before calling. Finish() the stream and convert
  // its status with FromGrpcStatus.
  std::unique_ptr<
      grpc::ClientReaderWriterInterface<hpo::v1::ProgressReport, hpo::v1::ProgressDecision>>
  OpenProgressStream(grpc::ClientContext* context) const;

  // ---- AdminService (admin tokens only) ---------------------------------------------------

  absl::StatusOr<hpo::v1::CreateTokenResponse> CreateToken(const std::string& name,
                                                           hpo::v1::Role role,
                                                           const std::string& project) const;
  absl::StatusOr<std::vector<hpo::v1::ApiToken>> ListTokens() const;
  absl::StatusOr<hpo::v1::ApiToken> RevokeToken(int64_t token_id) const;
  // Backs the server's database up to `path` on the server's host.
  absl::StatusOr<hpo::v1::BackupDatabaseResponse> BackupDatabase(const std::string& path) const;

  // Adds the token to `context` (OpenProgressStream callers that build their own context).
  void Authorize(grpc::ClientContext* context) const;

  // The raw stubs, for calls this class does not wrap.
  hpo::v1::ExperimentService::StubInterface& experiment_stub() const { return *experiment_stub_; }
  hpo::v1::TrialService::StubInterface& trial_stub() const { return *trial_stub_; }

 private:
  // Prepares `context` for one unary call: the deadline (now + timeout_) and the token.
  void PrepareContext(grpc::ClientContext* context) const;

  absl::Duration timeout_;
  std::string token_;
  std::unique_ptr<hpo::v1::ExperimentService::StubInterface> experiment_stub_;
  std::unique_ptr<hpo::v1::TrialService::StubInterface> trial_stub_;
  std::unique_ptr<hpo::v1::AdminService::StubInterface> admin_stub_;
};

}  // namespace hpo::client

#endif  // HPO_CLIENT_HPO_CLIENT_H_
