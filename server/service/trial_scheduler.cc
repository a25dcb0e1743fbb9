#include "server/service/trial_scheduler.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/pruning/pruner.h"
#include "server/space/validation.h"

namespace hpo::service {
namespace {

using ::hpo::v1::Experiment;
using ::hpo::v1::Suggestion;

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = absl::ToUnixMicros(t);
  ts.set_seconds(micros / 1'000'000);
  ts.set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
  return ts;
}

// Bounds of what a worker registers: the description is copied into the replies of the dashboard
// and, for gang ranks > 0, rank 0's rendezvous labels into their LeaseTrial replies.
constexpr size_t kMaxWorkerIdLength = 128;
constexpr size_t kMaxWorkerNameLength = 256;  // name and host
constexpr size_t kMaxWorkerLabels = 32;
constexpr size_t kMaxWorkerLabelKeyLength = 63;
constexpr size_t kMaxWorkerLabelValueLength = 253;  // a DNS name

absl::Status CheckWorkerIdLength(const std::string& worker_id) {
  if (worker_id.size() > kMaxWorkerIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("worker_id: at most ", kMaxWorkerIdLength,
                                                   " bytes (got ", worker_id.size(), ")"));
  }
  return absl::OkStatus();
}

absl::Status RequireWorker(const std::string& worker_id) {
  if (worker_id.empty()) return absl::InvalidArgumentError("worker_id: required");
  return CheckWorkerIdLength(worker_id);
}

// Whether a caller of project scope `caller_project` may use worker `w` (see the header). An
// unowned worker may be another project's from before owners were recorded: only unscoped
// callers use it, and only a registration claims it (MayRegister).
bool MayUse(const store::WorkerRecord& w, const std::string& caller_project) {
  return caller_project.empty() || w.owner == caller_project;
}

bool MayRegister(const store::WorkerRecord& w, const std::string& caller_project) {
  return !w.owner.has_value() || MayUse(w, caller_project);
}

// NOT_FOUND unless `worker_id` is registered and the caller may use it. Another project's worker
// gets the answer of an unknown one, so that its existence does not show.
absl::Status CheckWorker(store::Store* store, const std::string& worker_id,
                         const std::string& caller_project) {
  absl::StatusOr<store::WorkerRecord> w = store->GetWorker(worker_id);
  if (absl::IsNotFound(w.status()) || (w.ok() && !MayUse(*w, caller_project))) {
    return absl::NotFoundError(absl::StrCat(
        "worker_id: worker \"", worker_id,
        "\" is not registered for this caller (unknown, or another project's: not told apart)"));
  }
  return w.status();
}

absl::Status NotHeldBy(const Suggestion& s, const std::string& worker_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "suggestion_id: suggestion ", s.id(), " is not leased by worker \"", worker_id,
      "\" (its lease expired or was given to another worker)"));
}

pruning::TrialState ToTrialState(v1::SuggestionState s) {
  switch (s) {
    case v1::SUGGESTION_STATE_COMPLETED: return pruning::TrialState::kCompleted;
    case v1::SUGGESTION_STATE_PRUNED: return pruning::TrialState::kPruned;
    case v1::SUGGESTION_STATE_FAILED: return pruning::TrialState::kFailed;
    default: return pruning::TrialState::kRunning;
  }
}

v1::ProgressDecision Stop(int64_t step, const std::string& reason) {
  v1::ProgressDecision d;
  d.set_step(step);
  d.set_decision(v1::DECISION_STOP);
  d.set_reason(reason);
  return d;
}

int RanksPerTrial(const Experiment& e) { return std::max(1, e.training().ranks_per_trial()); }

const store::GangMember* FindMember(const std::vector<store::GangMember>& members,
                                    const std::string& worker_id) {
  for (const store::GangMember& m : members) {
    if (m.worker_id == worker_id && !m.released) return &m;
  }
  return nullptr;
}

// Removes `worker_id`'s place in the gang of suggestion `suggestion_id`, from the store and from
// `members`.
absl::Status DropMember(store::Store* store, int64_t suggestion_id, const std::string& worker_id,
                        std::vector<store::GangMember>* members) {
  HPO_RETURN_IF_ERROR(store->DeleteGangMembers(suggestion_id, worker_id));
  members->erase(std::remove_if(members->begin(), members->end(),
                                [&](const store::GangMember& m) { return m.worker_id == worker_id; }),
                 members->end());
  return absl::OkStatus();
}

// Rewrites the ranks of a gathering gang to 0..n-1 in join order (after a member left); the new
// rank 0 takes the suggestion's lease.
absl::Status Renumber(store::Store* store, Suggestion& s, std::vector<store::GangMember> members) {
  std::sort(members.begin(), members.end(),
            [](const store::GangMember& a, const store::GangMember& b) { return a.rank < b.rank; });
  for (size_t i = 0; i < members.size(); ++i) {
    members[i].rank = static_cast<int>(i);
    HPO_RETURN_IF_ERROR(store->UpsertGangMember(members[i]));
  }
  if (!members.empty() && s.worker_id() != members[0].worker_id) {
    s.set_worker_id(members[0].worker_id);
    *s.mutable_lease_expire_time() = ToProto(members[0].lease_expire_time);
    HPO_RETURN_IF_ERROR(store->UpdateSuggestion(s));
  }
  return absl::OkStatus();
}

// FAILED_PRECONDITION if `worker_id` is a rank > 0 of the suggestion's gang.
absl::Status OnlyRankZero(store::Store* store, const Suggestion& s, const std::string& worker_id,
                          const std::string& what) {
  HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> members, store->ListGangMembers(s.id()));
  const store::GangMember* place = FindMember(members, worker_id);
  if (place == nullptr || place->rank == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "suggestion_id: suggestion ", s.id(), " is a gang trial and worker \"", worker_id,
      "\" is its rank ", place->rank, ": only rank 0 (worker \"", s.worker_id(), "\") ", what));
}

// Fills a formed gang's lease answer for the member at `rank`.
absl::Status FillGang(store::Store* store, Suggestion s, const Experiment& e, int rank,
                      v1::LeaseTrialResponse* response) {
  HPO_ASSIGN_OR_RETURN(store::WorkerRecord master, store->GetWorker(s.worker_id()));
  int port = 29500 + static_cast<int>(s.id() % 1000);
  if (auto it = master.info.labels().find("rendezvous_port"); it != master.info.labels().end()) {
    int advertised = 0;
    if (absl::SimpleAtoi(it->second, &advertised) && advertised > 0 && advertised < 65536) {
      port = advertised;
    }
  }
  v1::LeaseTrialResponse::Gang* gang = response->mutable_gang();
  gang->set_rank(rank);
  gang->set_world_size(RanksPerTrial(e));
  std::string host = master.info.host().empty() ? "localhost" : master.info.host();
  if (auto it = master.info.labels().find("rendezvous_host");
      it != master.info.labels().end() && !it->second.empty()) {
    host = it->second;
  }
  gang->set_master_addr(host);
  gang->set_master_port(port);
  *response->mutable_experiment() = e;
  *response->mutable_lease_expire_time() = s.lease_expire_time();
  *response->mutable_suggestion() = std::move(s);
  return absl::OkStatus();
}

}  // namespace

class TrialScheduler::WorkerLock {
 public:
  WorkerLock(TrialScheduler* scheduler, const std::string& worker_id)
      : scheduler_(scheduler), worker_id_(worker_id) {
    {
      absl::MutexLock lock(&scheduler_->worker_locks_mu_);
      std::unique_ptr<WorkerMutex>& entry = scheduler_->worker_locks_[worker_id_];
      if (entry == nullptr) entry = std::make_unique<WorkerMutex>();
      ++entry->users;
      mutex_ = entry.get();
    }
    mutex_->mu.Lock();
  }
  ~WorkerLock() {
    mutex_->mu.Unlock();
    absl::MutexLock lock(&scheduler_->worker_locks_mu_);
    if (--mutex_->users == 0) scheduler_->worker_locks_.erase(worker_id_);
  }
  WorkerLock(const WorkerLock&) = delete;
  WorkerLock& operator=(const WorkerLock&) = delete;

 private:
  TrialScheduler* scheduler_;
  const std::string worker_id_;
  WorkerMutex* mutex_ = nullptr;
};

TrialScheduler::TrialScheduler(ExperimentManager* manager, Clock* clock,
                               TrialSchedulerOptions options)
    : manager_(manager), clock_(clock), options_(options) {
  {
    absl::MutexLock lock(&manager_->mu_);
    manager_->closed_listeners_[this] = [this](int64_t experiment_id) {
      ForgetCurves(experiment_id);
    };
  }
  if (options_.background_reaper) reaper_ = std::thread([this] { ReaperLoop(); });
}

TrialScheduler::~TrialScheduler() {
  {
    absl::MutexLock lock(&reaper_mu_);
    stopping_ = true;
  }
  if (reaper_.joinable()) reaper_.join();
  absl::MutexLock lock(&manager_->mu_);
  manager_->closed_listeners_.erase(this);
}

CurveCacheStats TrialScheduler::curve_cache_stats() {
  absl::MutexLock lock(&manager_->mu_);
  CurveCacheStats stats;
  stats.experiments = static_cast<int64_t>(curves_.size());
  for (const auto& [id, cached] : curves_) {
    stats.trials += static_cast<int64_t>(cached.curves.size());
  }
  stats.points = cached_points_;
  stats.loads = curve_loads_;
  return stats;
}

absl::StatusOr<TrialScheduler::CachedCurves*> TrialScheduler::Curves(int64_t experiment_id) {
  auto it = curves_.find(experiment_id);
  if (it == curves_.end()) {
    HPO_ASSIGN_OR_RETURN(auto loaded, manager_->store_->ListExperimentCheckpoints(experiment_id));
    CachedCurves cached;
    for (auto& [id, points] : loaded) {
      if (points.empty()) continue;
      cached.points += static_cast<int64_t>(points.size());
      pruning::TrialCurve& curve = cached.curves.emplace_back();
      curve.trial_id = id;
      curve.checkpoints = std::move(points);
    }
    cached_points_ += cached.points;
    ++curve_loads_;
    it = curves_.emplace(experiment_id, std::move(cached)).first;
  }
  it->second.last_use = ++curve_uses_;
  return &it->second;
}

void TrialScheduler::ForgetCurves(int64_t experiment_id) {
  auto it = curves_.find(experiment_id);
  if (it == curves_.end()) return;
  cached_points_ -= it->second.points;
  curves_.erase(it);
}

void TrialScheduler::BoundCurves(int64_t keep) {
  while (cached_points_ > options_.curve_cache_max_points && !curves_.empty()) {
    auto victim = curves_.end();
    for (auto it = curves_.begin(); it != curves_.end(); ++it) {
      if (it->first == keep) continue;
      if (victim == curves_.end() || it->second.last_use < victim->second.last_use) victim = it;
    }
    // `keep` alone over the bound leaves too: its reports then read its curves from the store.
    ForgetCurves(victim == curves_.end() ? keep : victim->first);
  }
}

google::protobuf::Timestamp TrialScheduler::LeaseExpiry() {
  return ToProto(clock_->Now() + options_.lease_timeout);
}

absl::StatusOr<v1::RegisterWorkerResponse> TrialScheduler::RegisterWorker(
    const v1::RegisterWorkerRequest& request, const std::string& caller_project) {
  const v1::WorkerInfo& info = request.worker();
  for (const auto& [field, value] :
       {std::pair{"worker.name", &info.name()}, std::pair{"worker.host", &info.host()}}) {
    if (value->size() > kMaxWorkerNameLength) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": at most ", kMaxWorkerNameLength,
                                                     " bytes (got ", value->size(), ")"));
    }
  }
  HPO_RETURN_IF_ERROR(space::ValidateStringMap(info.labels(), "worker.labels", kMaxWorkerLabels,
                                               kMaxWorkerLabelKeyLength,
                                               kMaxWorkerLabelValueLength));
  if (info.threads() < 0) return absl::InvalidArgumentError("worker.threads: must be >= 0");
  std::string worker_id = request.worker_id();
  HPO_RETURN_IF_ERROR(CheckWorkerIdLength(worker_id));
  if (worker_id.empty()) {
    absl::BitGen gen;
    worker_id = absl::StrFormat("w-%012x", absl::Uniform<uint64_t>(gen, 0, uint64_t{1} << 48));
  }
  {
    absl::MutexLock lock(&manager_->mu_);
    store::Store* store = manager_->store_;
    HPO_RETURN_IF_ERROR(store->Transact([&]() -> absl::Status {
      absl::StatusOr<store::WorkerRecord> existing = store->GetWorker(worker_id);
      if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
      if (existing.ok() && !MayRegister(*existing, caller_project)) {
        // Ids are one namespace: this refusal necessarily tells that the id is taken.
        return absl::PermissionDeniedError(absl::StrCat(
            "worker_id: \"", worker_id,
            "\" is taken by another project; register without a worker_id to get a new one"));
      }
      return store->UpsertWorker(worker_id, info, caller_project);
    }));
  }
  HPO_LOG(INFO) << "worker " << worker_id << " registered (" << info.name() << "@" << info.host()
                << ", " << info.threads() << " threads"
                << (caller_project.empty() ? "" : ", project " + caller_project) << ")";
  v1::RegisterWorkerResponse response;
  response.set_worker_id(worker_id);
  const absl::Duration interval = options_.lease_timeout / 4;
  response.mutable_heartbeat_interval()->set_seconds(absl::ToInt64Seconds(interval));
  response.mutable_heartbeat_interval()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(interval) % 1'000'000'000));
  return response;
}

absl::StatusOr<v1::LeaseTrialResponse> TrialScheduler::LeaseTrial(
    const v1::LeaseTrialRequest& request, const std::string& caller_project) {
  HPO_RETURN_IF_ERROR(RequireWorker(request.worker_id()));
  if (request.experiment_id() < 0) {
    return absl::InvalidArgumentError("experiment_id: must be 0 (any) or a positive id");
  }
  {  // Another project's caller gets no work done and no wait on the worker's behalf.
    absl::MutexLock lock(&manager_->mu_);
    HPO_RETURN_IF_ERROR(CheckWorker(manager_->store_, request.worker_id(), caller_project));
  }
  // The check for the worker's own suggestion and the issue of a new one are separate
  // transactions: the same worker asking meanwhile must wait for this answer.
  WorkerLock worker_lock(this, request.worker_id());
  HPO_RETURN_IF_ERROR(ReapExpiredLeases().status());
  v1::LeaseTrialResponse response;
  std::vector<int64_t> candidates;
  std::map<int64_t, int> ranks;  // ranks per trial by candidate experiment
  {
    absl::MutexLock lock(&manager_->mu_);
    store::Store* store = manager_->store_;
    HPO_RETURN_IF_ERROR(store->Transact([&]() -> absl::Status {
      HPO_RETURN_IF_ERROR(CheckWorker(store, request.worker_id(), caller_project));
      HPO_RETURN_IF_ERROR(store->TouchWorker(request.worker_id()));
      // A member of a gang asking again keeps its place (and rank); asking renews it.
      HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> places,
                           store->ListGangPlaces(request.worker_id(), absl::InfiniteFuture()));
      std::set<int64_t> gang_suggestions;
      for (store::GangMember& m : places) {
        gang_suggestions.insert(m.suggestion_id);
        HPO_ASSIGN_OR_RETURN(Suggestion s, store->GetSuggestion(m.suggestion_id));
        if (s.state() != v1::SUGGESTION_STATE_ACTIVE) {  // the trial is over: a stale place
          HPO_RETURN_IF_ERROR(store->DeleteGangMembers(s.id(), ""));
          continue;
        }
        if (request.experiment_id() != 0 && s.experiment_id() != request.experiment_id()) continue;
        HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(s.experiment_id()));
        if (!request.project().empty() && e.project() != request.project()) continue;
        m.lease_expire_time = clock_->Now() + options_.lease_timeout;
        HPO_RETURN_IF_ERROR(store->UpsertGangMember(m));
        if (m.rank == 0) {
          *s.mutable_lease_expire_time() = LeaseExpiry();
          HPO_RETURN_IF_ERROR(store->UpdateSuggestion(s));
        }
        HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> members, store->ListGangMembers(s.id()));
        if (static_cast<int>(members.size()) >= RanksPerTrial(e)) {
          return FillGang(store, std::move(s), e, m.rank, &response);
        }
        response.set_gang_forming(true);
        return absl::OkStatus();
      }
      // The same worker asking again gets its own unfinished suggestion back.
      HPO_ASSIGN_OR_RETURN(std::vector<Suggestion> held,
                           store->ListLeasedSuggestions(request.worker_id(), absl::InfiniteFuture()));
      for (Suggestion& s : held) {
        if (gang_suggestions.count(s.id()) > 0) continue;
        if (request.experiment_id() != 0 && s.experiment_id() != request.experiment_id()) continue;
        if (!request.project().empty()) {
          HPO_ASSIGN_OR_RETURN(Experiment held_experiment, store->GetExperiment(s.experiment_id()));
          if (held_experiment.project() != request.project()) continue;
        }
        *s.mutable_lease_expire_time() = LeaseExpiry();
        HPO_RETURN_IF_ERROR(store->UpdateSuggestion(s));
        HPO_ASSIGN_OR_RETURN(*response.mutable_experiment(), store->GetExperiment(s.experiment_id()));
        *response.mutable_lease_expire_time() = s.lease_expire_time();
        *response.mutable_suggestion() = std::move(s);
        return absl::OkStatus();
      }
      if (request.experiment_id() != 0) {
        HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(request.experiment_id()));
        candidates.push_back(request.experiment_id());
        ranks[e.id()] = RanksPerTrial(e);
      } else {
        HPO_ASSIGN_OR_RETURN(std::vector<Experiment> active,
                             store->ListExperiments(request.project(), {v1::EXPERIMENT_STATE_ACTIVE}));
        for (auto it = active.rbegin(); it != active.rend(); ++it) {
          candidates.push_back(it->id());
          ranks[it->id()] = RanksPerTrial(*it);
        }
      }
      return absl::OkStatus();
    }));
  }
  if (response.has_suggestion() || response.gang_forming()) return response;
  // Oldest experiment first; one that cannot issue now (paused, bandwidth, budget) is skipped.
  for (int64_t experiment_id : candidates) {
    if (ranks[experiment_id] > 1) {
      // A gang trial: join the gang that is gathering, if any.
      bool joined = false;
      absl::MutexLock lock(&manager_->mu_);
      store::Store* store = manager_->store_;
      HPO_RETURN_IF_ERROR(store->Transact([&]() -> absl::Status {
        HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(experiment_id));
        if (e.state() != v1::EXPERIMENT_STATE_ACTIVE) return absl::OkStatus();
        const int world_size = RanksPerTrial(e);
        HPO_ASSIGN_OR_RETURN(std::vector<Suggestion> active,
                             store->ListSuggestions(experiment_id, {v1::SUGGESTION_STATE_ACTIVE}));
        for (Suggestion& s : active) {
          HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> members,
                               store->ListGangMembers(s.id()));
          if (members.empty()) {  // being issued by another worker right now: ask again soon
            response.set_gang_forming(true);
            joined = true;
            return absl::OkStatus();
          }
          if (static_cast<int>(members.size()) >= world_size) continue;
          store::GangMember m;
          m.suggestion_id = s.id();
          m.worker_id = request.worker_id();
          m.rank = static_cast<int>(members.size());
          m.lease_expire_time = clock_->Now() + options_.lease_timeout;
          HPO_RETURN_IF_ERROR(store->UpsertGangMember(m));
          joined = true;
          HPO_LOG(INFO) << "worker " << request.worker_id() << " joined the gang of suggestion "
                        << s.id() << " as rank " << m.rank << " of " << world_size;
          if (m.rank + 1 >= world_size) {
            HPO_LOG(INFO) << "gang of suggestion " << s.id() << " formed (" << world_size
                          << " ranks); attempt " << s.attempts();
            return FillGang(store, std::move(s), e, m.rank, &response);
          }
          response.set_gang_forming(true);
          return absl::OkStatus();
        }
        return absl::OkStatus();
      }));
      if (joined) return response;
    }
    ExperimentManager::Lease lease{request.worker_id(), LeaseExpiry()};
    absl::StatusOr<Suggestion> s = manager_->IssueSuggestion(experiment_id, {}, &lease);
    if (absl::IsFailedPrecondition(s.status())) continue;
    HPO_RETURN_IF_ERROR(s.status());
    if (ranks[experiment_id] > 1) {  // the first member of a new gang: rank 0
      absl::MutexLock lock(&manager_->mu_);
      store::Store* store = manager_->store_;
      store::GangMember m;
      m.suggestion_id = s->id();
      m.worker_id = request.worker_id();
      m.rank = 0;
      m.lease_expire_time = clock_->Now() + options_.lease_timeout;
      HPO_RETURN_IF_ERROR(store->Transact([&]() { return store->UpsertGangMember(m); }));
      HPO_LOG(INFO) << "worker " << request.worker_id() << " started the gang of suggestion "
                    << s->id() << " of experiment " << experiment_id << " as rank 0 of "
                    << ranks[experiment_id] << " (attempt " << s->attempts() << ")";
      response.set_gang_forming(true);
      return response;
    }
    HPO_ASSIGN_OR_RETURN(*response.mutable_experiment(), manager_->GetExperiment(experiment_id));
    *response.mutable_lease_expire_time() = s->lease_expire_time();
    *response.mutable_suggestion() = *std::move(s);
    HPO_LOG(INFO) << "worker " << request.worker_id() << " leased suggestion "
                  << response.suggestion().id() << " of experiment " << experiment_id
                  << " (attempt " << response.suggestion().attempts() << ")";
    return response;
  }
  // No work now: tell the worker whether more may come (an experiment asked about is active).
  for (int64_t experiment_id : candidates) {
    absl::StatusOr<Experiment> e = manager_->GetExperiment(experiment_id);
    if (e.ok() && e->state() == v1::EXPERIMENT_STATE_ACTIVE) {
      response.set_work_pending(true);
      break;
    }
  }
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> TrialScheduler::Heartbeat(
    const v1::HeartbeatRequest& request, const std::string& caller_project) {
  HPO_RETURN_IF_ERROR(RequireWorker(request.worker_id()));
  v1::HeartbeatResponse response;
  absl::MutexLock lock(&manager_->mu_);
  store::Store* store = manager_->store_;
  HPO_RETURN_IF_ERROR(store->Transact([&]() -> absl::Status {
    HPO_RETURN_IF_ERROR(CheckWorker(store, request.worker_id(), caller_project));
    HPO_RETURN_IF_ERROR(store->TouchWorker(request.worker_id()));
    if (request.suggestion_id() == 0) return absl::OkStatus();
    HPO_ASSIGN_OR_RETURN(Suggestion s, store->GetSuggestion(request.suggestion_id()));
    if (s.state() == v1::SUGGESTION_STATE_DELETED) {
      response.set_stop(true);
      return absl::OkStatus();
    }
    HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> members, store->ListGangMembers(s.id()));
    const store::GangMember* place = FindMember(members, request.worker_id());
    if (place != nullptr && place->rank > 0) {
      if (s.state() != v1::SUGGESTION_STATE_ACTIVE) {  // the trial ended or its gang dissolved
        response.set_stop(true);
        return absl::OkStatus();
      }
      store::GangMember renewed = *place;
      renewed.lease_expire_time = clock_->Now() + options_.lease_timeout;
      HPO_RETURN_IF_ERROR(store->UpsertGangMember(renewed));
      *response.mutable_lease_expire_time() = ToProto(renewed.lease_expire_time);
      HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(s.experiment_id()));
      response.set_stop(!s.stop_reason().empty() || e.state() == v1::EXPERIMENT_STATE_PAUSED ||
                        e.state() == v1::EXPERIMENT_STATE_ARCHIVED);
      return absl::OkStatus();
    }
    if (s.state() != v1::SUGGESTION_STATE_ACTIVE || s.worker_id() != request.worker_id()) {
      HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(s.experiment_id()));
      if (RanksPerTrial(e) > 1) {  // a gang member whose gang dissolved (a rank was lost)
        response.set_stop(true);
        return absl::OkStatus();
      }
      return NotHeldBy(s, request.worker_id());
    }
    *s.mutable_lease_expire_time() = LeaseExpiry();
    HPO_RETURN_IF_ERROR(store->UpdateSuggestion(s));
    *response.mutable_lease_expire_time() = s.lease_expire_time();
    HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(s.experiment_id()));
    response.set_stop(!s.stop_reason().empty() || e.state() == v1::EXPERIMENT_STATE_PAUSED ||
                      e.state() == v1::EXPERIMENT_STATE_ARCHIVED);
    return absl::OkStatus();
  }, store::Store::Durability::kRelaxed));  // a lost renewal is repeated by the next beat
  return response;
}

absl::StatusOr<v1::ProgressDecision> TrialScheduler::ReportProgress(
    const v1::ProgressReport& report, const std::string& caller_project) {
  absl::StatusOr<v1::ProgressDecision> decision = StoreProgress(report, caller_project);
  // Group commit: the checkpoint is durable before it is acknowledged, and reports arriving
  // together share one fsync (outside the lock, so the next reports commit meanwhile).
  // (store_ is set once at construction; SyncCommitted is the store's thread-safe method.)
  if (decision.ok()) HPO_RETURN_IF_ERROR(ABSL_TS_UNCHECKED_READ(manager_->store_)->SyncCommitted());
  return decision;
}

absl::StatusOr<v1::ProgressDecision> TrialScheduler::StoreProgress(
    const v1::ProgressReport& report, const std::string& caller_project) {
  HPO_RETURN_IF_ERROR(RequireWorker(report.worker_id()));
  if (report.suggestion_id() <= 0) {
    return absl::InvalidArgumentError("suggestion_id: must be a positive id");
  }
  const v1::Checkpoint& checkpoint = report.checkpoint();
  v1::ProgressDecision decision;
  absl::MutexLock lock(&manager_->mu_);
  store::Store* store = manager_->store_;
  bool stored_new = false;
  int64_t experiment_id = 0, suggestion_id = 0;
  v1::Checkpoint finite;
  const absl::Status status = store->Transact([&]() -> absl::Status {
    HPO_RETURN_IF_ERROR(CheckWorker(store, report.worker_id(), caller_project));
    HPO_ASSIGN_OR_RETURN(Suggestion s, store->GetSuggestion(report.suggestion_id()));
    if (s.state() != v1::SUGGESTION_STATE_ACTIVE || s.worker_id() != report.worker_id()) {
      HPO_RETURN_IF_ERROR(OnlyRankZero(store, s, report.worker_id(), "reports progress"));
      return NotHeldBy(s, report.worker_id());
    }
    HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(s.experiment_id()));
    experiment_id = e.id();
    // Non-finite values are the regulator's business (divergence), so they pass validation here
    // and are kept out of the store.
    finite = checkpoint;
    v1::Checkpoint checked = checkpoint;
    finite.clear_metrics();
    for (auto& m : *checked.mutable_metrics()) {
      if (std::isfinite(m.value())) {
        *finite.add_metrics() = m;
      } else {
        m.set_value(0);  // names and step are still checked
      }
    }
    HPO_RETURN_IF_ERROR(space::ValidateCheckpoint(e, checked, "checkpoint"));
    // Steps increase within a lease. A step already stored may come again (a client resending
    // after a lost answer): answered again, stored once. A new lease starts over (the store
    // forgets the step when the lease is issued).
    HPO_ASSIGN_OR_RETURN(std::optional<int64_t> last,
                         store->GetReportedStep(s.id(), s.attempts()));
    if (last.has_value() && checkpoint.step() < *last) {
      HPO_ASSIGN_OR_RETURN(bool stored, store->HasCheckpoint(s.id(), checkpoint.step()));
      if (!stored) {
        return absl::InvalidArgumentError(absl::StrCat(
            "checkpoint.step: ", checkpoint.step(), " is lower than step ", *last,
            " already reported for suggestion ", s.id(),
            " (steps must increase; only a stored step may be sent again)"));
      }
    }
    const bool resent = last.has_value() && checkpoint.step() <= *last;
    if (!resent) {
      HPO_RETURN_IF_ERROR(store->SetReportedStep(s.id(), s.attempts(), checkpoint.step()));
    }
    *s.mutable_lease_expire_time() = LeaseExpiry();
    if (!s.stop_reason().empty()) {  // already decided: repeat it
      HPO_RETURN_IF_ERROR(store->UpdateSuggestion(s));
      decision = Stop(s.stop_step(), s.stop_reason());
      return absl::OkStatus();
    }
    // Every learning curve of the experiment (cached, see curves_; read before this report's
    // point is stored, so the cache holds committed points only), with current states.
    HPO_ASSIGN_OR_RETURN(std::unique_ptr<pruning::Pruner> pruner, pruning::CreatePruner(e));
    HPO_ASSIGN_OR_RETURN(auto states, store->ListSuggestionStates(e.id()));
    HPO_ASSIGN_OR_RETURN(CachedCurves* cached, Curves(e.id()));
    if (!resent && finite.metrics_size() > 0) {
      absl::Status inserted = store->InsertCheckpoint(s.id(), finite);
      // ALREADY_EXISTS: an earlier attempt stored this step; its point stays.
      if (!inserted.ok() && !absl::IsAlreadyExists(inserted)) return inserted;
      stored_new = inserted.ok();
    }
    suggestion_id = s.id();
    std::vector<pruning::TrialCurve>& curves = cached->curves;
    {  // states by a merge walk (both sorted by id); deleted suggestions leave the cache
      size_t k = 0;
      auto kept = curves.begin();
      for (auto it = curves.begin(); it != curves.end(); ++it) {
        while (k < states.size() && states[k].first < it->trial_id) ++k;
        if (k < states.size() && states[k].first == it->trial_id) {
          if (states[k].second == v1::SUGGESTION_STATE_DELETED ||
              states[k].second == v1::SUGGESTION_STATE_QUEUED) {
            cached->points -= static_cast<int64_t>(it->checkpoints.size());
            cached_points_ -= static_cast<int64_t>(it->checkpoints.size());
            continue;
          }
          it->state = ToTrialState(states[k].second);
        }
        if (kept != it) *kept = std::move(*it);
        ++kept;
      }
      curves.erase(kept, curves.end());
    }
    // This trial: its stored points before this step and the report as sent (raw). Built in
    // place: the later points set aside, the report appended and the curve moved behind the
    // others (their order kept) for the pruner, then all put back. Nothing is copied.
    auto at = std::lower_bound(curves.begin(), curves.end(), s.id(),
                               [](const pruning::TrialCurve& c, int64_t id) {
                                 return c.trial_id < id;
                               });
    pruning::Decision d;
    if (at != curves.end() && at->trial_id == s.id()) {
      const std::ptrdiff_t position = at - curves.begin();
      std::vector<v1::Checkpoint>& points = at->checkpoints;
      std::vector<v1::Checkpoint> later;
      while (!points.empty() && points.back().step() >= checkpoint.step()) {
        later.push_back(std::move(points.back()));
        points.pop_back();
      }
      points.push_back(checkpoint);
      at->state = ToTrialState(s.state());
      std::rotate(at, at + 1, curves.end());
      d = pruner->ShouldPrune(curves.back(), absl::MakeConstSpan(curves.data(), curves.size() - 1));
      std::rotate(curves.begin() + position, curves.end() - 1, curves.end());
      std::vector<v1::Checkpoint>& restored = curves[static_cast<size_t>(position)].checkpoints;
      restored.pop_back();
      for (auto it = later.rbegin(); it != later.rend(); ++it) restored.push_back(std::move(*it));
    } else {
      pruning::TrialCurve trial;
      trial.trial_id = s.id();
      trial.state = ToTrialState(s.state());
      trial.checkpoints.push_back(checkpoint);
      d = pruner->ShouldPrune(trial, curves);
    }
    // At the last step of a full-length run there is nothing left to save: the trial completes.
    // (The regulator's anomaly verdicts still stand: a NaN at the end is still a divergence.)
    const int64_t max_steps = e.training().max_steps();
    if (d.stop && max_steps > 0 && checkpoint.step() >= max_steps && d.rule != "anomaly") {
      d.stop = false;
    }
    if (d.stop) {
      s.set_stop_reason(d.reason);
      s.set_stop_step(checkpoint.step());
      decision = Stop(checkpoint.step(), d.reason);
      HPO_LOG(INFO) << "suggestion " << s.id() << " stopped at step " << checkpoint.step() << ": "
                    << d.reason;
    } else {
      decision.set_step(checkpoint.step());
      decision.set_decision(v1::DECISION_CONTINUE);
    }
    return store->UpdateSuggestion(s);
  }, options_.group_commit ? store::Store::Durability::kGroup : store::Store::Durability::kFull);
  if (status.ok() && stored_new) {  // the committed point joins the cache, in step order
    auto cached = curves_.find(experiment_id);
    if (cached != curves_.end()) {
      std::vector<pruning::TrialCurve>& curves = cached->second.curves;
      auto at = std::lower_bound(curves.begin(), curves.end(), suggestion_id,
                                 [](const pruning::TrialCurve& c, int64_t id) {
                                   return c.trial_id < id;
                                 });
      if (at == curves.end() || at->trial_id != suggestion_id) {
        pruning::TrialCurve curve;
        curve.trial_id = suggestion_id;
        at = curves.insert(at, std::move(curve));
      }
      std::vector<v1::Checkpoint>& points = at->checkpoints;
      auto where = points.end();
      if (!points.empty() && points.back().step() > finite.step()) {  // a later attempt's step
        where = std::lower_bound(points.begin(), points.end(), finite.step(),
                                 [](const v1::Checkpoint& c, int64_t step) {
                                   return c.step() < step;
                                 });
      }
      points.insert(where, std::move(finite));
      ++cached->second.points;
      ++cached_points_;
    }
  }
  if (experiment_id != 0) BoundCurves(experiment_id);
  HPO_RETURN_IF_ERROR(status);
  return decision;
}

absl::StatusOr<v1::Observation> TrialScheduler::CompleteTrial(
    const v1::CompleteTrialRequest& request, const std::string& caller_project) {
  HPO_RETURN_IF_ERROR(RequireWorker(request.worker_id()));
  HPO_RETURN_IF_ERROR(space::ValidateMetadata(request.metadata(), "metadata"));
  if (request.suggestion_id() <= 0) {
    return absl::InvalidArgumentError("suggestion_id: must be a positive id");
  }
  int64_t experiment_id = 0;
  {
    absl::MutexLock lock(&manager_->mu_);
    store::Store* store = manager_->store_;
    HPO_RETURN_IF_ERROR(CheckWorker(store, request.worker_id(), caller_project));
    HPO_ASSIGN_OR_RETURN(Suggestion s, store->GetSuggestion(request.suggestion_id()));
    experiment_id = s.experiment_id();
    HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> members, store->ListGangMembers(s.id()));
    const store::GangMember* place = FindMember(members, request.worker_id());
    if (place != nullptr && place->rank > 0) {
      // A rank > 0 finished its part: it releases its place; the result is rank 0's to report.
      if (request.values_size() > 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "suggestion_id: suggestion ", s.id(), " is a gang trial and worker \"",
            request.worker_id(), "\" is its rank ", place->rank,
            ": only rank 0 reports values; complete with no values to release the place"));
      }
      store::GangMember released = *place;
      released.released = true;
      HPO_RETURN_IF_ERROR(store->Transact([&]() { return store->UpsertGangMember(released); }));
      HPO_LOG(INFO) << "worker " << request.worker_id() << " (rank " << place->rank
                    << ") finished its part of suggestion " << s.id()
                    << (request.failed()
                            ? ": failed: " + space::BoundFailureReason(request.failure_reason())
                            : "");
      v1::Observation none;
      none.set_experiment_id(experiment_id);
      none.set_suggestion_id(s.id());
      return none;
    }
  }
  v1::CreateObservationRequest observation;
  observation.set_experiment_id(experiment_id);
  observation.set_suggestion_id(request.suggestion_id());
  *observation.mutable_values() = request.values();
  observation.set_failed(request.failed());
  observation.set_failure_reason(request.failure_reason());
  *observation.mutable_metadata() = request.metadata();
  (*observation.mutable_metadata())["worker_id"] = request.worker_id();
  return manager_->RecordObservation(observation, &request.worker_id());
}

absl::Status TrialScheduler::ReleaseTrial(const v1::ReleaseTrialRequest& request,
                                          const std::string& caller_project) {
  HPO_RETURN_IF_ERROR(RequireWorker(request.worker_id()));
  int64_t experiment_id = 0;
  {
    absl::MutexLock lock(&manager_->mu_);
    store::Store* store = manager_->store_;
    HPO_RETURN_IF_ERROR(store->Transact([&]() -> absl::Status {
      HPO_RETURN_IF_ERROR(CheckWorker(store, request.worker_id(), caller_project));
      HPO_ASSIGN_OR_RETURN(Suggestion s, store->GetSuggestion(request.suggestion_id()));
      HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> members, store->ListGangMembers(s.id()));
      const store::GangMember* place = FindMember(members, request.worker_id());
      if (s.state() != v1::SUGGESTION_STATE_ACTIVE ||
          (s.worker_id() != request.worker_id() && place == nullptr)) {
        return NotHeldBy(s, request.worker_id());
      }
      if (!members.empty()) {
        HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(s.experiment_id()));
        if (static_cast<int>(members.size()) < RanksPerTrial(e) && members.size() > 1) {
          // Leaving a gathering gang: the others keep gathering.
          HPO_RETURN_IF_ERROR(DropMember(store, s.id(), request.worker_id(), &members));
          experiment_id = s.experiment_id();
          return Renumber(store, s, std::move(members));
        }
        // Leaving a started gang loses the trial for every rank: it returns to the pool.
        HPO_RETURN_IF_ERROR(store->DeleteGangMembers(s.id(), ""));
      }
      s.set_state(v1::SUGGESTION_STATE_OPEN);
      s.set_worker_id("");
      s.clear_lease_expire_time();
      // The attempt is given back, but a pooled suggestion keeps attempts >= 1 (that marks it
      // as leasable, unlike a client's open suggestion).
      s.set_attempts(std::max(1, s.attempts() - 1));
      experiment_id = s.experiment_id();
      return store->UpdateSuggestion(s);
    }));
  }
  HPO_LOG(INFO) << "worker " << request.worker_id() << " released suggestion "
                << request.suggestion_id() << ": " << space::BoundFailureReason(request.reason());
  manager_->proposals_.Refresh(experiment_id);
  return absl::OkStatus();
}

absl::StatusOr<int> TrialScheduler::ReapExpiredLeases() {
  std::vector<int64_t> touched;
  std::vector<int64_t> completed;
  {
    absl::MutexLock lock(&manager_->mu_);
    store::Store* store = manager_->store_;
    HPO_RETURN_IF_ERROR(store->Transact([&]() -> absl::Status {
      const absl::Time now = clock_->Now();
      // Gang places of ranks > 0 (rank 0's place is the suggestion's own lease, below).
      HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> lost_places,
                           store->ListGangPlaces("", now));
      std::vector<std::pair<Suggestion, std::string>> expired;  // and why
      for (const store::GangMember& lost : lost_places) {
        HPO_ASSIGN_OR_RETURN(Suggestion s, store->GetSuggestion(lost.suggestion_id));
        HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> members,
                             store->ListGangMembers(s.id()));
        if (FindMember(members, lost.worker_id) == nullptr) continue;  // already handled
        if (s.state() != v1::SUGGESTION_STATE_ACTIVE) {  // the trial is over: stale places
          HPO_RETURN_IF_ERROR(store->DeleteGangMembers(s.id(), ""));
          continue;
        }
        if (lost.rank == 0) continue;  // rank 0's lease is the suggestion's (below)
        HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(s.experiment_id()));
        if (static_cast<int>(members.size()) < RanksPerTrial(e)) {  // gathering: drop the member
          HPO_RETURN_IF_ERROR(DropMember(store, s.id(), lost.worker_id, &members));
          HPO_RETURN_IF_ERROR(Renumber(store, s, std::move(members)));
          HPO_LOG(WARNING) << "suggestion " << s.id() << ": worker " << lost.worker_id
                           << " left the gathering gang (lease expired)";
          continue;
        }
        // A started gang lost a rank: the trial is lost for every rank.
        HPO_RETURN_IF_ERROR(store->DeleteGangMembers(s.id(), ""));
        HPO_LOG(WARNING) << "suggestion " << s.id() << ": gang rank " << lost.rank << " (worker "
                         << lost.worker_id << ") lost; the gang is dissolved";
        expired.emplace_back(std::move(s), absl::StrCat("gang rank ", lost.rank, " (worker ",
                                                        lost.worker_id, ") stopped sending heartbeats"));
      }
      HPO_ASSIGN_OR_RETURN(std::vector<Suggestion> leases, store->ListLeasedSuggestions("", now));
      for (Suggestion& s : leases) {
        if (std::any_of(expired.begin(), expired.end(),
                        [&](const auto& e) { return e.first.id() == s.id(); })) {
          continue;
        }
        HPO_ASSIGN_OR_RETURN(std::vector<store::GangMember> members,
                             store->ListGangMembers(s.id()));
        if (!members.empty()) {
          HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(s.experiment_id()));
          const std::string rank0 = s.worker_id();
          HPO_RETURN_IF_ERROR(DropMember(store, s.id(), rank0, &members));
          if (static_cast<int>(members.size()) + 1 < RanksPerTrial(e)) {  // gathering
            if (!members.empty()) {  // the next member becomes rank 0
              HPO_RETURN_IF_ERROR(Renumber(store, s, std::move(members)));
            } else {  // nobody left: back to the pool, the attempt given back
              s.set_state(v1::SUGGESTION_STATE_OPEN);
              s.set_worker_id("");
              s.clear_lease_expire_time();
              s.set_attempts(std::max(1, s.attempts() - 1));
              HPO_RETURN_IF_ERROR(store->UpdateSuggestion(s));
              touched.push_back(s.experiment_id());
            }
            HPO_LOG(WARNING) << "suggestion " << s.id() << ": worker " << rank0
                             << " left the gathering gang (lease expired)";
            continue;
          }
          HPO_RETURN_IF_ERROR(store->DeleteGangMembers(s.id(), ""));
          expired.emplace_back(std::move(s), absl::StrCat("gang rank 0 (worker ", rank0,
                                                          ") stopped sending heartbeats"));
          continue;
        }
        const std::string worker = s.worker_id();
        expired.emplace_back(std::move(s), absl::StrCat("last worker ", worker,
                                                        " stopped sending heartbeats"));
      }
      for (auto& [s, why] : expired) {
        const std::string worker = s.worker_id();
        s.set_worker_id("");
        s.clear_lease_expire_time();
        if (s.attempts() >= options_.max_attempts) {
          s.set_state(v1::SUGGESTION_STATE_FAILED);
          HPO_RETURN_IF_ERROR(store->UpdateSuggestion(s));
          v1::Observation failed;
          failed.set_experiment_id(s.experiment_id());
          failed.set_suggestion_id(s.id());
          *failed.mutable_assignment() = s.assignment();
          failed.set_failed(true);
          failed.set_failure_reason(absl::StrCat("lease expired ", s.attempts(), " times; ", why));
          HPO_RETURN_IF_ERROR(store->InsertObservation(failed).status());
          HPO_ASSIGN_OR_RETURN(Experiment e, store->GetExperiment(s.experiment_id()));
          if (e.state() == v1::EXPERIMENT_STATE_ACTIVE &&
              e.progress().observation_count() >= e.observation_budget()) {
            HPO_RETURN_IF_ERROR(
                store->UpdateExperimentState(e.id(), v1::EXPERIMENT_STATE_COMPLETED));
            completed.push_back(e.id());
          }
          HPO_LOG(WARNING) << "suggestion " << s.id() << " failed: " << failed.failure_reason();
        } else {
          s.set_state(v1::SUGGESTION_STATE_OPEN);  // back to the pool
          HPO_RETURN_IF_ERROR(store->UpdateSuggestion(s));
          HPO_LOG(WARNING) << "suggestion " << s.id() << ": lease of worker " << worker
                           << " expired; returned to the pool";
        }
        touched.push_back(s.experiment_id());
      }
      return absl::OkStatus();
    }));
    for (int64_t id : completed) ForgetCurves(id);
  }
  for (int64_t id : touched) manager_->proposals_.Refresh(id);
  return static_cast<int>(touched.size());
}

void TrialScheduler::ReaperLoop() {
  const absl::Duration period = std::max(options_.lease_timeout / 4, absl::Milliseconds(100));
  while (true) {
    {
      absl::MutexLock lock(&reaper_mu_);
      if (reaper_mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) return;
    }
    absl::StatusOr<int> reaped = ReapExpiredLeases();
    if (!reaped.ok()) HPO_LOG(WARNING) << "reaping expired leases: " << reaped.status();
  }
}

}  // namespace hpo::service
