// File: server/service/experiment_service.h
//
// gRPC adapter of hpo.v1.ExperimentService over ExperimentManager (callback API). Each handler
// converts the request, calls the manager and finishes; all rules live in the manager, except the
// paging of the List calls (page size, page token, reply byte budget), which is done here over
// the manager's whole lists.
#ifndef HPO_SERVER_SERVICE_EXPERIMENT_SERVICE_H_
#define HPO_SERVER_SERVICE_EXPERIMENT_SERVICE_H_

#include "hpo/v1/experiment_service.grpc.pb.h"
#include "server/service/experiment_manager.h"
#include "server/service/grpc_status.h"

namespace hpo::service {

class ExperimentService final : public hpo::v1::ExperimentService::CallbackService {
 public:
  // `manager` is not owned and must outlive the service.
  // `guard` (not owned; nullptr allows everything) checks every request.
  explicit ExperimentService(ExperimentManager* manager, CallGuard* guard = nullptr)
      : manager_(manager), guard_(guard) {}

  grpc::ServerUnaryReactor* CreateExperiment(grpc::CallbackServerContext* context,
                                             const hpo::v1::CreateExperimentRequest* request,
                                             hpo::v1::CreateExperimentResponse* response) override;
  grpc::ServerUnaryReactor* GetExperiment(grpc::CallbackServerContext* context,
                                          const hpo::v1::GetExperimentRequest* request,
                                          hpo::v1::GetExperimentResponse* response) override;
  grpc::ServerUnaryReactor* ListExperiments(grpc::CallbackServerContext* context,
                                            const hpo::v1::ListExperimentsRequest* request,
                                            hpo::v1::ListExperimentsResponse* response) override;
  grpc::ServerUnaryReactor* SetExperimentState(
      grpc::CallbackServerContext* context, const hpo::v1::SetExperimentStateRequest* request,
      hpo::v1::SetExperimentStateResponse* response) override;
  grpc::ServerUnaryReactor* CreateSuggestion(grpc::CallbackServerContext* context,
                                             const hpo::v1::CreateSuggestionRequest* request,
                                             hpo::v1::CreateSuggestionResponse* response) override;
  grpc::ServerUnaryReactor* QueueSuggestion(grpc::CallbackServerContext* context,
                                            const hpo::v1::QueueSuggestionRequest* request,
                                            hpo::v1::QueueSuggestionResponse* response) override;
  grpc::ServerUnaryReactor* ListSuggestions(grpc::CallbackServerContext* context,
                                            const hpo::v1::ListSuggestionsRequest* request,
                                            hpo::v1::ListSuggestionsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSuggestion(grpc::CallbackServerContext* context,
                                             const hpo::v1::DeleteSuggestionRequest* request,
                                             hpo::v1::DeleteSuggestionResponse* response) override;
  grpc::ServerUnaryReactor* CreateObservation(
      grpc::CallbackServerContext* context, const hpo::v1::CreateObservationRequest* request,
      hpo::v1::CreateObservationResponse* response) override;
  grpc::ServerUnaryReactor* ListObservations(grpc::CallbackServerContext* context,
                                             const hpo::v1::ListObservationsRequest* request,
                                             hpo::v1::ListObservationsResponse* response) override;
  grpc::ServerUnaryReactor* GetBestAssignments(
      grpc::CallbackServerContext* context, const hpo::v1::GetBestAssignmentsRequest* request,
      hpo::v1::GetBestAssignmentsResponse* response) override;
  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* context,
                                            const hpo::v1::ListCheckpointsRequest* request,
                                            hpo::v1::ListCheckpointsResponse* response) override;

 private:
  ExperimentManager* manager_;
  CallGuard* guard_;
};

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_EXPERIMENT_SERVICE_H_
