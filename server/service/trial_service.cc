#include "server/service/trial_service.h"

#include <utility>

#include "server/service/grpc_status.h"

namespace hpo::service {
namespace {

using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;

// Reads a report, answers it, reads the next: one decision per checkpoint, in order.
class ProgressReactor final
    : public grpc::ServerBidiReactor<v1::ProgressReport, v1::ProgressDecision> {
 public:
  ProgressReactor(TrialScheduler* scheduler, CallGuard* guard, CallbackServerContext* context)
      : scheduler_(scheduler), guard_(guard), context_(context) {
    StartRead(&report_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the worker closed its side
      Finish(grpc::Status::OK);
      return;
    }
    std::string scope;
    if (guard_ != nullptr) {
      absl::StatusOr<std::string> allowed = guard_->Check(*context_, report_);
      if (!allowed.ok()) {
        Finish(ToGrpcStatus(allowed.status()));
        return;
      }
      scope = *std::move(allowed);
    }
    absl::StatusOr<v1::ProgressDecision> decision = scheduler_->ReportProgress(report_, scope);
    if (!decision.ok()) {
      Finish(ToGrpcStatus(decision.status()));
      return;
    }
    decision_ = *std::move(decision);
    StartWrite(&decision_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the worker went away"));
      return;
    }
    StartRead(&report_);
  }

  void OnDone() override { delete this; }

 private:
  TrialScheduler* scheduler_;
  CallGuard* guard_;
  CallbackServerContext* context_;
  v1::ProgressReport report_;
  v1::ProgressDecision decision_;
};

}  // namespace

ServerUnaryReactor* TrialService::RegisterWorker(CallbackServerContext* context,
                                                 const v1::RegisterWorkerRequest* request,
                                                 v1::RegisterWorkerResponse* response) {
  std::string scope;  // worker ids belong to the caller's project
  if (auto* refused = Refuse(context, guard_, *request, &scope)) return refused;
  return FinishUnary(context, scheduler_->RegisterWorker(*request, scope),
                     [&](v1::RegisterWorkerResponse r) { *response = std::move(r); });
}

ServerUnaryReactor* TrialService::LeaseTrial(CallbackServerContext* context,
                                             const v1::LeaseTrialRequest* request,
                                             v1::LeaseTrialResponse* response) {
  std::string scope;  // a project-scoped token leases from its project only
  if (auto* refused = Refuse(context, guard_, *request, &scope)) return refused;
  v1::LeaseTrialRequest scoped = *request;
  if (!scope.empty()) scoped.set_project(scope);
  return FinishUnary(context, scheduler_->LeaseTrial(scoped, scope),
                     [&](v1::LeaseTrialResponse r) { *response = std::move(r); });
}

ServerUnaryReactor* TrialService::Heartbeat(CallbackServerContext* context,
                                            const v1::HeartbeatRequest* request,
                                            v1::HeartbeatResponse* response) {
  std::string scope;
  if (auto* refused = Refuse(context, guard_, *request, &scope)) return refused;
  return FinishUnary(context, scheduler_->Heartbeat(*request, scope),
                     [&](v1::HeartbeatResponse r) { *response = std::move(r); });
}

grpc::ServerBidiReactor<v1::ProgressReport, v1::ProgressDecision>* TrialService::ReportProgress(
    CallbackServerContext* context) {
  return new ProgressReactor(scheduler_, guard_, context);
}

ServerUnaryReactor* TrialService::CompleteTrial(CallbackServerContext* context,
                                                const v1::CompleteTrialRequest* request,
                                                v1::CompleteTrialResponse* response) {
  std::string scope;
  if (auto* refused = Refuse(context, guard_, *request, &scope)) return refused;
  return FinishUnary(context, scheduler_->CompleteTrial(*request, scope),
                     [&](v1::Observation o) { *response->mutable_observation() = std::move(o); });
}

ServerUnaryReactor* TrialService::ReleaseTrial(CallbackServerContext* context,
                                               const v1::ReleaseTrialRequest* request,
                                               v1::ReleaseTrialResponse* response) {
  std::string scope;
  if (auto* refused = Refuse(context, guard_, *request, &scope)) return refused;
  ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(scheduler_->ReleaseTrial(*request, scope)));
  return reactor;
}

}  // namespace hpo::service
