// File: server/service/trial_service.h
//
// gRPC adapter of hpo.v1.TrialService over TrialScheduler (callback API). ReportProgress is a
// bidirectional stream answered report by report: each checkpoint gets its decision before the
// next one is read. An error ends the stream with its status; the worker reconnects.
#ifndef HPO_SERVER_SERVICE_TRIAL_SERVICE_H_
#define HPO_SERVER_SERVICE_TRIAL_SERVICE_H_

#include "hpo/v1/trial_service.grpc.pb.h"
#include "server/service/grpc_status.h"
#include "server/service/trial_scheduler.h"

namespace hpo::service {

class TrialService final : public hpo::v1::TrialService::CallbackService {
 public:
  // `scheduler` is not owned and must outlive the service.
  // `guard` (not owned; nullptr allows everything) checks every request, stream messages too.
  explicit TrialService(TrialScheduler* scheduler, CallGuard* guard = nullptr)
      : scheduler_(scheduler), guard_(guard) {}

  grpc::ServerUnaryReactor* RegisterWorker(grpc::CallbackServerContext* context,
                                           const hpo::v1::RegisterWorkerRequest* request,
                                           hpo::v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* LeaseTrial(grpc::CallbackServerContext* context,
                                       const hpo::v1::LeaseTrialRequest* request,
                                       hpo::v1::LeaseTrialResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const hpo::v1::HeartbeatRequest* request,
                                      hpo::v1::HeartbeatResponse* response) override;
  grpc::ServerBidiReactor<hpo::v1::ProgressReport, hpo::v1::ProgressDecision>* ReportProgress(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* CompleteTrial(grpc::CallbackServerContext* context,
                                          const hpo::v1::CompleteTrialRequest* request,
                                          hpo::v1::CompleteTrialResponse* response) override;
  grpc::ServerUnaryReactor* ReleaseTrial(grpc::CallbackServerContext* context,
                                         const hpo::v1::ReleaseTrialRequest* request,
                                         hpo::v1::ReleaseTrialResponse* response) override;

 private:
  TrialScheduler* scheduler_;
  CallGuard* guard_;
};

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_TRIAL_SERVICE_H_
