// File: tests/client/fake_experiment_service.h
//
// An in-memory ExperimentService and TrialService for client and CLI tests, served on
// 127.0.0.1:0 in-process. It mimics the contract of experiment_service.proto loosely: enough to
// exercise HpoClient and hpo-cli, not the optimizer.
//
// Special ids of GetExperiment:
//   kSlowExperimentId          blocks until the call's deadline passes (or 10 s);
//   kStatusExperimentBase + c  fails with grpc::StatusCode c and message "code <c>".
//
// The List calls return everything in one reply unless set_page_size(n) makes them page, n items
// at a time (the token is the offset of the next item), as the real server does with more.
#ifndef HPO_TESTS_CLIENT_FAKE_EXPERIMENT_SERVICE_H_
#define HPO_TESTS_CLIENT_FAKE_EXPERIMENT_SERVICE_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "hpo/v1/experiment_service.grpc.pb.h"
#include "hpo/v1/trial_service.grpc.pb.h"

namespace hpo::testing {

inline constexpr int64_t kSlowExperimentId = 999;
inline constexpr int64_t kStatusExperimentBase = 1000;

class FakeExperimentService final : public hpo::v1::ExperimentService::Service {
 public:
  grpc::Status CreateExperiment(grpc::ServerContext* context,
                                const hpo::v1::CreateExperimentRequest* request,
                                hpo::v1::CreateExperimentResponse* response) override {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, experiment] : experiments_) {
      if (experiment.name() == request->experiment().name()) {
        return grpc::Status(
            grpc::StatusCode::ALREADY_EXISTS,
            absl::StrCat("experiment name \"", experiment.name(), "\" already exists"));
      }
    }
    hpo::v1::Experiment experiment = request->experiment();
    experiment.set_id(next_experiment_id_++);
    experiment.set_state(hpo::v1::EXPERIMENT_STATE_ACTIVE);
    if (experiment.project().empty()) experiment.set_project("default");
    experiment.mutable_create_time()->set_seconds(1700000000);
    experiments_[experiment.id()] = experiment;
    *response->mutable_experiment() = experiment;
    return grpc::Status::OK;
  }

  grpc::Status GetExperiment(grpc::ServerContext* context,
                             const hpo::v1::GetExperimentRequest* request,
                             hpo::v1::GetExperimentResponse* response) override {
    const int64_t id = request->experiment_id();
    {
      absl::MutexLock lock(&mu_);
      last_deadline_ = absl::FromChrono(context->deadline());
    }
    if (id == kSlowExperimentId) {
      const absl::Time give_up = absl::Now() + absl::Seconds(10);
      while (!context->IsCancelled() && absl::Now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      return grpc::Status(grpc::StatusCode::INTERNAL, "deadline was not enforced");
    }
    if (id > kStatusExperimentBase) {
      const int code = static_cast<int>(id - kStatusExperimentBase);
      return grpc::Status(static_cast<grpc::StatusCode>(code), absl::StrCat("code ", code));
    }
    absl::MutexLock lock(&mu_);
    auto it = experiments_.find(id);
    if (it == experiments_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("experiment ", id, " not found"));
    }
    *response->mutable_experiment() = it->second;
    return grpc::Status::OK;
  }

  grpc::Status ListExperiments(grpc::ServerContext* context,
                               const hpo::v1::ListExperimentsRequest* request,
                               hpo::v1::ListExperimentsResponse* response) override {
    absl::MutexLock lock(&mu_);
    last_list_request_ = *request;
    std::vector<hpo::v1::Experiment> listed;
    for (auto it = experiments_.rbegin(); it != experiments_.rend(); ++it) {
      if (!request->project().empty() && it->second.project() != request->project()) continue;
      listed.push_back(it->second);
    }
    return ServePage(listed, request->page_token(), response->mutable_experiments(), response);
  }

  grpc::Status SetExperimentState(grpc::ServerContext* context,
                                  const hpo::v1::SetExperimentStateRequest* request,
                                  hpo::v1::SetExperimentStateResponse* response) override {
    absl::MutexLock lock(&mu_);
    auto it = experiments_.find(request->experiment_id());
    if (it == experiments_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "experiment not found");
    }
    it->second.set_state(request->state());
    *response->mutable_experiment() = it->second;
    return grpc::Status::OK;
  }

  grpc::Status CreateSuggestion(grpc::ServerContext* context,
                                const hpo::v1::CreateSuggestionRequest* request,
                                hpo::v1::CreateSuggestionResponse* response) override {
    absl::MutexLock lock(&mu_);
    hpo::v1::Suggestion& suggestion = *response->mutable_suggestion();
    suggestion.set_id(next_suggestion_id_++);
    suggestion.set_experiment_id(request->experiment_id());
    suggestion.set_state(hpo::v1::SUGGESTION_STATE_OPEN);
    suggestion.set_source("random");
    (*suggestion.mutable_assignment()->mutable_values())["x"].set_number_value(0.5);
    *suggestion.mutable_metadata() = request->metadata();
    suggestions_.push_back(suggestion);
    return grpc::Status::OK;
  }

  grpc::Status QueueSuggestion(grpc::ServerContext* context,
                               const hpo::v1::QueueSuggestionRequest* request,
                               hpo::v1::QueueSuggestionResponse* response) override {
    absl::MutexLock lock(&mu_);
    last_queue_request_ = *request;
    hpo::v1::Suggestion& suggestion = *response->mutable_suggestion();
    suggestion.set_id(next_suggestion_id_++);
    suggestion.set_experiment_id(request->experiment_id());
    suggestion.set_state(hpo::v1::SUGGESTION_STATE_QUEUED);
    suggestion.set_source("queued");
    *suggestion.mutable_assignment() = request->assignment();
    suggestions_.push_back(suggestion);
    return grpc::Status::OK;
  }

  grpc::Status ListSuggestions(grpc::ServerContext* context,
                               const hpo::v1::ListSuggestionsRequest* request,
                               hpo::v1::ListSuggestionsResponse* response) override {
    absl::MutexLock lock(&mu_);
    std::vector<hpo::v1::Suggestion> listed;
    for (const auto& suggestion : suggestions_) {
      if (suggestion.experiment_id() == request->experiment_id()) listed.push_back(suggestion);
    }
    return ServePage(listed, request->page_token(), response->mutable_suggestions(), response);
  }

  grpc::Status CreateObservation(grpc::ServerContext* context,
                                 const hpo::v1::CreateObservationRequest* request,
                                 hpo::v1::CreateObservationResponse* response) override {
    absl::MutexLock lock(&mu_);
    last_observation_request_ = *request;
    hpo::v1::Observation& observation = *response->mutable_observation();
    observation.set_id(next_observation_id_++);
    observation.set_experiment_id(request->experiment_id());
    observation.set_suggestion_id(request->suggestion_id());
    *observation.mutable_assignment() = request->assignment();
    *observation.mutable_values() = request->values();
    observation.set_failed(request->failed());
    observation.set_failure_reason(request->failure_reason());
    observations_.push_back(observation);
    return grpc::Status::OK;
  }

  grpc::Status ListObservations(grpc::ServerContext* context,
                                const hpo::v1::ListObservationsRequest* request,
                                hpo::v1::ListObservationsResponse* response) override {
    absl::MutexLock lock(&mu_);
    std::vector<hpo::v1::Observation> listed;
    for (const auto& observation : observations_) {
      if (observation.experiment_id() == request->experiment_id()) listed.push_back(observation);
    }
    return ServePage(listed, request->page_token(), response->mutable_observations(), response);
  }

  grpc::Status GetBestAssignments(grpc::ServerContext* context,
                                  const hpo::v1::GetBestAssignmentsRequest* request,
                                  hpo::v1::GetBestAssignmentsResponse* response) override {
    absl::MutexLock lock(&mu_);
    // Not the real rule: the last non-failed observation stands in for the best.
    for (auto it = observations_.rbegin(); it != observations_.rend(); ++it) {
      if (it->experiment_id() == request->experiment_id() && !it->failed()) {
        *response->add_observations() = *it;
        break;
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status ListCheckpoints(grpc::ServerContext* context,
                               const hpo::v1::ListCheckpointsRequest* request,
                               hpo::v1::ListCheckpointsResponse* response) override {
    std::vector<hpo::v1::Checkpoint> curve(3);
    for (int step = 0; step < 3; ++step) {
      hpo::v1::Checkpoint& checkpoint = curve[step];
      checkpoint.set_step(step * 100);
      checkpoint.set_elapsed_seconds(step * 1.5);
      hpo::v1::MetricValue* value = checkpoint.add_metrics();
      value->set_name("auc");
      value->set_value(0.7 + 0.01 * step);
    }
    absl::MutexLock lock(&mu_);
    return ServePage(curve, request->page_token(), response->mutable_checkpoints(), response);
  }

  void set_page_size(int page_size) {
    absl::MutexLock lock(&mu_);
    page_size_ = page_size;
  }
  // List calls served so far.
  int list_calls() {
    absl::MutexLock lock(&mu_);
    return list_calls_;
  }

  absl::Time last_deadline() {
    absl::MutexLock lock(&mu_);
    return last_deadline_;
  }
  hpo::v1::ListExperimentsRequest last_list_request() {
    absl::MutexLock lock(&mu_);
    return last_list_request_;
  }
  hpo::v1::QueueSuggestionRequest last_queue_request() {
    absl::MutexLock lock(&mu_);
    return last_queue_request_;
  }
  hpo::v1::CreateObservationRequest last_observation_request() {
    absl::MutexLock lock(&mu_);
    return last_observation_request_;
  }

 private:
  // One page of `items` from the offset in `page_token`.
  template <typename T, typename Response>
  grpc::Status ServePage(const std::vector<T>& items, const std::string& page_token,
                         google::protobuf::RepeatedPtrField<T>* out, Response* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++list_calls_;
    size_t begin = 0;
    if (!page_token.empty() && (!absl::SimpleAtoi(page_token, &begin) || begin > items.size())) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token: not a page token");
    }
    const size_t end = page_size_ > 0 ? std::min(items.size(), begin + page_size_) : items.size();
    for (size_t i = begin; i < end; ++i) *out->Add() = items[i];
    if (end < items.size()) response->set_next_page_token(absl::StrCat(end));
    return grpc::Status::OK;
  }

  absl::Mutex mu_;
  int page_size_ ABSL_GUARDED_BY(mu_) = 0;
  int list_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_experiment_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_suggestion_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_observation_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, hpo::v1::Experiment> experiments_ ABSL_GUARDED_BY(mu_);
  std::vector<hpo::v1::Suggestion> suggestions_ ABSL_GUARDED_BY(mu_);
  std::vector<hpo::v1::Observation> observations_ ABSL_GUARDED_BY(mu_);
  absl::Time last_deadline_ ABSL_GUARDED_BY(mu_);
  hpo::v1::ListExperimentsRequest last_list_request_ ABSL_GUARDED_BY(mu_);
  hpo::v1::QueueSuggestionRequest last_queue_request_ ABSL_GUARDED_BY(mu_);
  hpo::v1::CreateObservationRequest last_observation_request_ ABSL_GUARDED_BY(mu_);
};

class FakeTrialService final : public hpo::v1::TrialService::Service {
 public:
  grpc::Status RegisterWorker(grpc::ServerContext* context,
                              const hpo::v1::RegisterWorkerRequest* request,
                              hpo::v1::RegisterWorkerResponse* response) override {
    response->set_worker_id(absl::StrCat("worker-", request->worker().name()));
    response->mutable_heartbeat_interval()->set_seconds(5);
    return grpc::Status::OK;
  }
  grpc::Status LeaseTrial(grpc::ServerContext* context, const hpo::v1::LeaseTrialRequest* request,
                          hpo::v1::LeaseTrialResponse* response) override {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no active experiment");
  }
};

// Both fakes served on 127.0.0.1 with a port picked by the kernel.
class FakeServer {
 public:
  FakeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&experiments_);
    builder.RegisterService(&trials_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() { server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1))); }

  bool ok() const { return server_ != nullptr && port_ > 0; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  FakeExperimentService& experiments() { return experiments_; }

 private:
  FakeExperimentService experiments_;
  FakeTrialService trials_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace hpo::testing

#endif  // HPO_TESTS_CLIENT_FAKE_EXPERIMENT_SERVICE_H_
