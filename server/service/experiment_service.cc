#include "server/service/experiment_service.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "server/service/grpc_status.h"
#include "server/space/validation.h"

namespace hpo::service {
namespace {

using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;

template <typename T, typename Repeated>
void MoveAll(std::vector<T>&& items, Repeated* out) {
  out->Reserve(static_cast<int>(items.size()));
  for (T& item : items) *out->Add() = std::move(item);
}

template <typename Enum, typename Repeated>
std::vector<Enum> ToEnums(const Repeated& values) {
  std::vector<Enum> out;
  for (int v : values) out.push_back(static_cast<Enum>(v));
  return out;
}

}  // namespace

ServerUnaryReactor* ExperimentService::CreateExperiment(
    CallbackServerContext* context, const hpo::v1::CreateExperimentRequest* request,
    hpo::v1::CreateExperimentResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  // Validation can be costly (the feasibility search of linear constraints): here it runs within
  // the caller's deadline and stops when the call is cancelled, so a client that gives up stops
  // the work. The manager validates again; a spec that passed here passes there within the
  // same deterministic work limit.
  space::WorkLimits limits;
  limits.cancelled = [context] { return context->IsCancelled(); };
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    limits.deadline = absl::FromChrono(context->deadline());
  }
  absl::Status valid =
      space::ValidateExperiment(request->experiment(), space::DefaultAlgorithmNames(), limits);
  if (!valid.ok()) {
    return FinishUnary(context, absl::StatusOr<hpo::v1::Experiment>(valid),
                       [](hpo::v1::Experiment) {});
  }
  return FinishUnary(
      context, manager_->CreateExperiment(request->experiment()),
      [&](hpo::v1::Experiment e) { *response->mutable_experiment() = std::move(e); });
}

ServerUnaryReactor* ExperimentService::GetExperiment(CallbackServerContext* context,
                                                     const hpo::v1::GetExperimentRequest* request,
                                                     hpo::v1::GetExperimentResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context, manager_->GetExperiment(request->experiment_id()),
      [&](hpo::v1::Experiment e) { *response->mutable_experiment() = std::move(e); });
}

ServerUnaryReactor* ExperimentService::ListExperiments(
    CallbackServerContext* context, const hpo::v1::ListExperimentsRequest* request,
    hpo::v1::ListExperimentsResponse* response) {
  std::string scope;  // a project-scoped token lists its project only
  if (auto* refused = Refuse(context, guard_, *request, &scope)) return refused;
  return FinishUnary(context,
                     manager_->ListExperiments(scope.empty() ? request->project() : scope,
                                               ToEnums<hpo::v1::ExperimentState>(request->states())),
                     [&](std::vector<hpo::v1::Experiment> v) {
                       MoveAll(std::move(v), response->mutable_experiments());
                     });
}

ServerUnaryReactor* ExperimentService::SetExperimentState(
    CallbackServerContext* context, const hpo::v1::SetExperimentStateRequest* request,
    hpo::v1::SetExperimentStateResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context, manager_->SetExperimentState(request->experiment_id(), request->state()),
      [&](hpo::v1::Experiment e) { *response->mutable_experiment() = std::move(e); });
}

ServerUnaryReactor* ExperimentService::CreateSuggestion(
    CallbackServerContext* context, const hpo::v1::CreateSuggestionRequest* request,
    hpo::v1::CreateSuggestionResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context, manager_->CreateSuggestion(request->experiment_id(), request->metadata()),
      [&](hpo::v1::Suggestion s) { *response->mutable_suggestion() = std::move(s); });
}

ServerUnaryReactor* ExperimentService::QueueSuggestion(
    CallbackServerContext* context, const hpo::v1::QueueSuggestionRequest* request,
    hpo::v1::QueueSuggestionResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context,
      manager_->QueueSuggestion(request->experiment_id(), request->assignment(),
                                request->metadata()),
      [&](hpo::v1::Suggestion s) { *response->mutable_suggestion() = std::move(s); });
}

ServerUnaryReactor* ExperimentService::ListSuggestions(
    CallbackServerContext* context, const hpo::v1::ListSuggestionsRequest* request,
    hpo::v1::ListSuggestionsResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context,
      manager_->ListSuggestions(request->experiment_id(),
                                ToEnums<hpo::v1::SuggestionState>(request->states())),
      [&](std::vector<hpo::v1::Suggestion> v) {
        MoveAll(std::move(v), response->mutable_suggestions());
      });
}

ServerUnaryReactor* ExperimentService::DeleteSuggestion(
    CallbackServerContext* context, const hpo::v1::DeleteSuggestionRequest* request,
    hpo::v1::DeleteSuggestionResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(
      context, manager_->DeleteSuggestion(request->experiment_id(), request->suggestion_id()),
      [&](hpo::v1::Suggestion s) { *response->mutable_suggestion() = std::move(s); });
}

ServerUnaryReactor* ExperimentService::CreateObservation(
    CallbackServerContext* context, const hpo::v1::CreateObservationRequest* request,
    hpo::v1::CreateObservationResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(context, manager_->CreateObservation(*request), [&](hpo::v1::Observation o) {
    *response->mutable_observation() = std::move(o);
  });
}

ServerUnaryReactor* ExperimentService::ListObservations(
    CallbackServerContext* context, const hpo::v1::ListObservationsRequest* request,
    hpo::v1::ListObservationsResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(context, manager_->ListObservations(request->experiment_id()),
                     [&](std::vector<hpo::v1::Observation> v) {
                       MoveAll(std::move(v), response->mutable_observations());
                     });
}

ServerUnaryReactor* ExperimentService::GetBestAssignments(
    CallbackServerContext* context, const hpo::v1::GetBestAssignmentsRequest* request,
    hpo::v1::GetBestAssignmentsResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(context, manager_->GetBestAssignments(request->experiment_id()),
                     [&](std::vector<hpo::v1::Observation> v) {
                       MoveAll(std::move(v), response->mutable_observations());
                     });
}

ServerUnaryReactor* ExperimentService::ListCheckpoints(
    CallbackServerContext* context, const hpo::v1::ListCheckpointsRequest* request,
    hpo::v1::ListCheckpointsResponse* response) {
  if (auto* refused = Refuse(context, guard_, *request)) return refused;
  return FinishUnary(context,
                     manager_->ListCheckpoints(request->experiment_id(), request->suggestion_id()),
                     [&](std::vector<hpo::v1::Checkpoint> v) {
                       MoveAll(std::move(v), response->mutable_checkpoints());
                     });
}

}  // namespace hpo::service
