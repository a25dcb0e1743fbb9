#include "server/service/experiment_manager.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/auth/token.h"
#include "server/optimizer/optimizer.h"
#include "server/pruning/stopping_advice.h"
#include "server/service/best_assignments.h"
#include "server/space/validation.h"

namespace hpo::service {
namespace {

using ::hpo::v1::Experiment;
using ::hpo::v1::ExperimentState;
using ::hpo::v1::Observation;
using ::hpo::v1::Suggestion;
using ::hpo::v1::SuggestionState;

constexpr char kDefaultProject[] = "default";
constexpr char kDefaultOptimizer[] = "bayesian";

std::string StateName(ExperimentState state) {
  switch (state) {
    case hpo::v1::EXPERIMENT_STATE_ACTIVE: return "active";
    case hpo::v1::EXPERIMENT_STATE_PAUSED: return "paused";
    case hpo::v1::EXPERIMENT_STATE_COMPLETED: return "completed";
    case hpo::v1::EXPERIMENT_STATE_ARCHIVED: return "archived";
    default: return "unspecified";
  }
}

std::string SuggestionStateName(SuggestionState state) {
  switch (state) {
    case hpo::v1::SUGGESTION_STATE_QUEUED: return "queued";
    case hpo::v1::SUGGESTION_STATE_OPEN: return "open";
    case hpo::v1::SUGGESTION_STATE_ACTIVE: return "active";
    case hpo::v1::SUGGESTION_STATE_COMPLETED: return "completed";
    case hpo::v1::SUGGESTION_STATE_FAILED: return "failed";
    case hpo::v1::SUGGESTION_STATE_PRUNED: return "pruned";
    case hpo::v1::SUGGESTION_STATE_DELETED: return "deleted";
    default: return "unspecified";
  }
}

bool IsOpen(SuggestionState s) {
  return s == hpo::v1::SUGGESTION_STATE_OPEN || s == hpo::v1::SUGGESTION_STATE_ACTIVE;
}

// Fills the defaults documented in experiment.proto so that stored specs are explicit.
Experiment WithDefaults(const Experiment& spec) {
  Experiment e = spec;
  e.clear_id();
  e.clear_create_time();
  e.clear_update_time();
  e.clear_progress();
  e.set_state(hpo::v1::EXPERIMENT_STATE_ACTIVE);
  if (e.project().empty()) e.set_project(kDefaultProject);
  if (e.parallel_bandwidth() == 0) e.set_parallel_bandwidth(1);
  for (hpo::v1::Metric& m : *e.mutable_metrics()) {
    if (m.objective() == hpo::v1::OBJECTIVE_UNSPECIFIED) m.set_objective(hpo::v1::OBJECTIVE_MAXIMIZE);
    if (m.strategy() == hpo::v1::METRIC_STRATEGY_UNSPECIFIED) {
      m.set_strategy(hpo::v1::METRIC_STRATEGY_OPTIMIZE);
    }
    if (m.reduction() == hpo::v1::CURVE_REDUCTION_UNSPECIFIED) {
      m.set_reduction(hpo::v1::CURVE_REDUCTION_LATEST);
    }
  }
  if (e.optimizer().algorithm().empty()) e.mutable_optimizer()->set_algorithm(kDefaultOptimizer);
  if (e.optimizer().seed() == 0) {
    absl::BitGen gen;
    e.mutable_optimizer()->set_seed(absl::Uniform<uint64_t>(gen, 1, UINT64_MAX));
  }
  return e;
}

// Same result reported twice? Values are compared as a set by metric name.
bool SameResult(const Observation& stored, const Observation& request) {
  if (stored.failed() != request.failed()) return false;
  if (stored.failed()) return stored.failure_reason() == request.failure_reason();
  if (stored.values_size() != request.values_size()) return false;
  for (const auto& v : request.values()) {
    auto it = std::find_if(stored.values().begin(), stored.values().end(),
                           [&](const auto& s) { return s.name() == v.name(); });
    if (it == stored.values().end() || it->value() != v.value() ||
        it->has_stddev() != v.has_stddev() || (v.has_stddev() && it->stddev() != v.stddev())) {
      return false;
    }
  }
  return true;
}

absl::Status RequireId(int64_t id, absl::string_view field) {
  if (id <= 0) return absl::InvalidArgumentError(absl::StrCat(field, ": must be a positive id"));
  return absl::OkStatus();
}

// A pruned trial reports its value at the stop step, which says little about its final value
// and is usually optimistic for a fast starter. Like Optuna's TPE, which ranks pruned trials below
// completed ones, the optimizer sees each optimized value of a pruned trial as no better than the
// worst completed value.
void PessimizePrunedObservations(const Experiment& e, const std::vector<Suggestion>& pruned,
                                 std::vector<Observation>& observations) {
  if (pruned.empty()) return;
  absl::flat_hash_set<int64_t> pruned_ids;
  for (const Suggestion& s : pruned) pruned_ids.insert(s.id());
  for (const hpo::v1::Metric& m : e.metrics()) {
    if (m.strategy() != hpo::v1::METRIC_STRATEGY_OPTIMIZE) continue;
    const bool maximize = m.objective() != hpo::v1::OBJECTIVE_MINIMIZE;
    std::optional<double> worst;
    for (const Observation& o : observations) {
      if (o.failed() || pruned_ids.contains(o.suggestion_id())) continue;
      for (const auto& v : o.values()) {
        if (v.name() != m.name()) continue;
        if (!worst || (maximize ? v.value() < *worst : v.value() > *worst)) worst = v.value();
      }
    }
    if (!worst) continue;  // nothing completed yet: keep the early values
    for (Observation& o : observations) {
      if (o.failed() || !pruned_ids.contains(o.suggestion_id())) continue;
      for (auto& v : *o.mutable_values()) {
        if (v.name() == m.name()) {
          v.set_value(maximize ? std::min(v.value(), *worst) : std::max(v.value(), *worst));
        }
      }
    }
  }
}

}  // namespace

ExperimentManager::ExperimentManager(store::Store* store, Clock* clock,
                                     ExperimentManagerOptions options)
    : store_(store),
      clock_(clock),
      proposals_([this](int64_t id) { return Snapshot(id); },
                 [&] {
                   ProposalCache::Options o;
                   o.background = options.background_proposals;
                   return o;
                 }()) {}

absl::StatusOr<ProposalCache::Snapshot> ExperimentManager::Snapshot(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  ProposalCache::Snapshot snapshot;
  HPO_ASSIGN_OR_RETURN(snapshot.experiment, store_->GetExperiment(experiment_id));
  const Experiment& e = snapshot.experiment;
  const auto& p = e.progress();
  const int free_slots = e.parallel_bandwidth() - p.open_suggestion_count();
  const int budget_left =
      e.observation_budget() - p.observation_count() - p.open_suggestion_count();
  if (e.state() != hpo::v1::EXPERIMENT_STATE_ACTIVE || free_slots <= 0 || budget_left <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", experiment_id, " issues no suggestions now"));
  }
  snapshot.batch_size = std::min(free_slots, budget_left);
  HPO_ASSIGN_OR_RETURN(snapshot.history.observations, store_->ListObservations(experiment_id));
  HPO_ASSIGN_OR_RETURN(std::vector<Suggestion> pruned,
                       store_->ListSuggestions(experiment_id, {hpo::v1::SUGGESTION_STATE_PRUNED}));
  PessimizePrunedObservations(e, pruned, snapshot.history.observations);
  HPO_ASSIGN_OR_RETURN(std::vector<Suggestion> pending,
                       store_->ListSuggestions(experiment_id, {hpo::v1::SUGGESTION_STATE_QUEUED,
                                                               hpo::v1::SUGGESTION_STATE_OPEN,
                                                               hpo::v1::SUGGESTION_STATE_ACTIVE}));
  for (Suggestion& s : pending) snapshot.history.pending.push_back(std::move(*s.mutable_assignment()));
  HPO_ASSIGN_OR_RETURN(snapshot.history.suggestion_count,
                       store_->CountIssuedSuggestions(experiment_id));
  return snapshot;
}

absl::StatusOr<Experiment> ExperimentManager::CreateExperiment(const Experiment& spec,
                                                               const space::WorkLimits& limits) {
  HPO_RETURN_IF_ERROR(space::ValidateExperiment(spec, space::DefaultAlgorithmNames(), limits));
  Experiment experiment = WithDefaults(spec);
  absl::MutexLock lock(&mu_);
  Experiment created;
  HPO_RETURN_IF_ERROR(store_->Transact([&]() -> absl::Status {
    HPO_ASSIGN_OR_RETURN(created, store_->InsertExperiment(experiment));
    return absl::OkStatus();
  }));
  proposals_.Refresh(created.id());
  return created;
}

absl::StatusOr<Experiment> ExperimentManager::GetExperiment(int64_t experiment_id) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  absl::MutexLock lock(&mu_);
  HPO_ASSIGN_OR_RETURN(Experiment e, store_->GetExperiment(experiment_id));
  HPO_ASSIGN_OR_RETURN(std::vector<Observation> observations,
                       store_->ListObservations(experiment_id));
  const pruning::StoppingAdvice advice = pruning::Advise(e, observations, /*lookback=*/0);
  if (advice.should_stop) e.mutable_progress()->set_stopping_advice(advice.reason);
  return e;
}

absl::StatusOr<std::vector<Experiment>> ExperimentManager::ListExperiments(
    const std::string& project, std::vector<ExperimentState> states) {
  if (states.empty()) {
    states = {hpo::v1::EXPERIMENT_STATE_ACTIVE, hpo::v1::EXPERIMENT_STATE_PAUSED,
              hpo::v1::EXPERIMENT_STATE_COMPLETED};
  }
  for (size_t i = 0; i < states.size(); ++i) {
    if (!hpo::v1::ExperimentState_IsValid(states[i]) ||
        states[i] == hpo::v1::EXPERIMENT_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("states[", i, "]: unknown state ", states[i]));
    }
  }
  absl::MutexLock lock(&mu_);
  return store_->ListExperiments(project, states);
}

absl::StatusOr<Experiment> ExperimentManager::SetExperimentState(int64_t experiment_id,
                                                                 ExperimentState state) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  if (state == hpo::v1::EXPERIMENT_STATE_UNSPECIFIED || !hpo::v1::ExperimentState_IsValid(state)) {
    return absl::InvalidArgumentError("state: must be active, paused, completed or archived");
  }
  absl::MutexLock lock(&mu_);
  Experiment result;
  HPO_RETURN_IF_ERROR(store_->Transact([&]() -> absl::Status {
    HPO_ASSIGN_OR_RETURN(Experiment e, store_->GetExperiment(experiment_id));
    const ExperimentState from = e.state();
    if (from != state) {
      if (from == hpo::v1::EXPERIMENT_STATE_ARCHIVED) {
        return absl::FailedPreconditionError(
            absl::StrCat("experiment ", experiment_id, " is archived and read-only"));
      }
      if (state == hpo::v1::EXPERIMENT_STATE_ACTIVE &&
          from == hpo::v1::EXPERIMENT_STATE_COMPLETED &&
          e.progress().observation_count() >= e.observation_budget()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "experiment ", experiment_id, " has spent its observation budget (",
            e.observation_budget(), "); it cannot be resumed"));
      }
      if (state == hpo::v1::EXPERIMENT_STATE_PAUSED && from != hpo::v1::EXPERIMENT_STATE_ACTIVE) {
        return absl::FailedPreconditionError(absl::StrCat(
            "experiment ", experiment_id, " is ", StateName(from), "; only active ones pause"));
      }
      HPO_RETURN_IF_ERROR(store_->UpdateExperimentState(experiment_id, state));
    }
    HPO_ASSIGN_OR_RETURN(result, store_->GetExperiment(experiment_id));
    return absl::OkStatus();
  }));
  if (result.state() == hpo::v1::EXPERIMENT_STATE_ACTIVE) {
    proposals_.Refresh(experiment_id);
  } else if (result.state() != hpo::v1::EXPERIMENT_STATE_PAUSED) {
    proposals_.Forget(experiment_id);
    ExperimentClosed(experiment_id);
  }
  return result;
}

absl::StatusOr<Suggestion> ExperimentManager::CreateSuggestion(
    int64_t experiment_id, const google::protobuf::Map<std::string, std::string>& metadata) {
  HPO_RETURN_IF_ERROR(space::ValidateMetadata(metadata, "metadata"));
  return IssueSuggestion(experiment_id, metadata, nullptr);
}

absl::StatusOr<Suggestion> ExperimentManager::IssueSuggestion(
    int64_t experiment_id, const google::protobuf::Map<std::string, std::string>& metadata,
    const Lease* lease) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  // A leased suggestion is ACTIVE, held by the worker until its lease expires.
  auto apply_lease = [lease](Suggestion& s) {
    if (lease == nullptr) return;
    s.set_state(hpo::v1::SUGGESTION_STATE_ACTIVE);
    s.set_worker_id(lease->worker_id);
    *s.mutable_lease_expire_time() = lease->expire_time;
    s.set_attempts(s.attempts() + 1);
  };
  // Each round either issues a suggestion or learns that fresh proposals are needed; those are
  // computed without holding mu_, so other calls proceed meanwhile. A new observation arriving
  // during the computation makes the proposals stale and costs another round; after two rounds
  // a proposal from slightly fewer observations is taken (a shared experiment under many
  // concurrent observers would otherwise never catch up).
  constexpr int kRounds = 6;
  constexpr int kExactRounds = 2;
  for (int round = 0; round < kRounds; ++round) {
    Suggestion result;
    int64_t observation_count = -1;
    {
      absl::MutexLock lock(&mu_);
      HPO_RETURN_IF_ERROR(store_->Transact([&]() -> absl::Status {
        HPO_ASSIGN_OR_RETURN(Experiment e, store_->GetExperiment(experiment_id));
        if (e.state() != hpo::v1::EXPERIMENT_STATE_ACTIVE) {
          return absl::FailedPreconditionError(absl::StrCat(
              "experiment ", experiment_id, " is ", StateName(e.state()),
              e.state() == hpo::v1::EXPERIMENT_STATE_COMPLETED
                  ? absl::StrCat(" (observation budget ", e.observation_budget(), ")")
                  : "",
              "; suggestions are issued only while it is active"));
        }
        if (lease != nullptr) {
          // Suggestions whose lease expired return to this pool before anything new is issued.
          HPO_ASSIGN_OR_RETURN(
              std::vector<Suggestion> open,
              store_->ListSuggestions(experiment_id, {hpo::v1::SUGGESTION_STATE_OPEN}));
          for (Suggestion& candidate : open) {
            if (candidate.worker_id().empty() && candidate.attempts() > 0) {
              result = std::move(candidate);
              apply_lease(result);
              HPO_RETURN_IF_ERROR(store_->UpdateSuggestion(result));
              // A release gives its attempt number back, so the number may repeat: the new
              // lease's steps start over whatever the last one reported.
              HPO_RETURN_IF_ERROR(store_->ClearReportedStep(result.id()));
              HPO_ASSIGN_OR_RETURN(result, store_->GetSuggestion(result.id()));
              return absl::OkStatus();
            }
          }
        }
        const auto& p = e.progress();
        if (p.open_suggestion_count() >= e.parallel_bandwidth()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "experiment ", experiment_id, " has ", p.open_suggestion_count(),
              " open suggestions, its parallel_bandwidth; observe or delete one first"));
        }
        if (p.observation_count() + p.open_suggestion_count() >= e.observation_budget()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "experiment ", experiment_id, " observation_budget ", e.observation_budget(),
              " is taken by ", p.observation_count(), " observations and ",
              p.open_suggestion_count(), " open suggestions"));
        }
        HPO_ASSIGN_OR_RETURN(
            std::vector<Suggestion> queued,
            store_->ListSuggestions(experiment_id, {hpo::v1::SUGGESTION_STATE_QUEUED}));
        if (!queued.empty()) {
          result = std::move(queued.front());
          result.set_state(hpo::v1::SUGGESTION_STATE_OPEN);
          apply_lease(result);
          for (const auto& [k, v] : metadata) (*result.mutable_metadata())[k] = v;
          HPO_RETURN_IF_ERROR(space::ValidateMetadata(result.metadata(), "metadata"));
          HPO_RETURN_IF_ERROR(store_->UpdateSuggestion(result));
          HPO_ASSIGN_OR_RETURN(result, store_->GetSuggestion(result.id()));
          return absl::OkStatus();
        }
        std::optional<optimizer::Proposal> proposal = proposals_.Take(
            experiment_id, p.observation_count(),
            round < kExactRounds ? 0 : std::max<int64_t>(e.parallel_bandwidth(), 8));
        if (!proposal.has_value()) {
          observation_count = p.observation_count();
          return absl::OkStatus();  // nothing written: compute proposals below
        }
        Suggestion s;
        s.set_experiment_id(experiment_id);
        s.set_state(hpo::v1::SUGGESTION_STATE_OPEN);
        s.set_source(std::move(proposal->source));
        *s.mutable_assignment() = std::move(proposal->assignment);
        *s.mutable_metadata() = metadata;
        apply_lease(s);
        HPO_ASSIGN_OR_RETURN(result, store_->InsertSuggestion(s));
        return absl::OkStatus();
      }));
    }
    if (observation_count < 0) return result;
    HPO_RETURN_IF_ERROR(proposals_.EnsureFresh(experiment_id, observation_count));
  }
  return absl::UnavailableError(absl::StrCat("experiment ", experiment_id,
                                             " changed while its suggestion was computed; retry"));
}

absl::StatusOr<Suggestion> ExperimentManager::QueueSuggestion(
    int64_t experiment_id, const hpo::v1::Assignment& assignment,
    const google::protobuf::Map<std::string, std::string>& metadata) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  HPO_RETURN_IF_ERROR(space::ValidateMetadata(metadata, "metadata"));
  absl::MutexLock lock(&mu_);
  Suggestion result;
  HPO_RETURN_IF_ERROR(store_->Transact([&]() -> absl::Status {
    HPO_ASSIGN_OR_RETURN(Experiment e, store_->GetExperiment(experiment_id));
    if (e.state() == hpo::v1::EXPERIMENT_STATE_ARCHIVED ||
        e.state() == hpo::v1::EXPERIMENT_STATE_COMPLETED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "experiment ", experiment_id, " is ", StateName(e.state()), "; nothing can be queued"));
    }
    HPO_ASSIGN_OR_RETURN(hpo::v1::Assignment complete,
                         space::CompleteAssignment(e.search_space(), assignment, "assignment"));
    Suggestion s;
    s.set_experiment_id(experiment_id);
    s.set_state(hpo::v1::SUGGESTION_STATE_QUEUED);
    s.set_source("queued");
    *s.mutable_assignment() = std::move(complete);
    *s.mutable_metadata() = metadata;
    HPO_ASSIGN_OR_RETURN(result, store_->InsertSuggestion(s));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<std::vector<Suggestion>> ExperimentManager::ListSuggestions(
    int64_t experiment_id, const std::vector<SuggestionState>& states) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  absl::MutexLock lock(&mu_);
  HPO_RETURN_IF_ERROR(store_->GetExperiment(experiment_id).status());
  return store_->ListSuggestions(experiment_id, states);
}

absl::StatusOr<Suggestion> ExperimentManager::GetOwnedSuggestion(int64_t experiment_id,
                                                                 int64_t suggestion_id) {
  absl::StatusOr<Suggestion> s = store_->GetSuggestion(suggestion_id);
  if (s.ok() && s->experiment_id() != experiment_id) {
    return absl::NotFoundError(absl::StrCat("suggestion ", suggestion_id,
                                            " not found in experiment ", experiment_id));
  }
  return s;
}

absl::StatusOr<Suggestion> ExperimentManager::DeleteSuggestion(int64_t experiment_id,
                                                               int64_t suggestion_id) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  HPO_RETURN_IF_ERROR(RequireId(suggestion_id, "suggestion_id"));
  absl::MutexLock lock(&mu_);
  Suggestion result;
  HPO_RETURN_IF_ERROR(store_->Transact([&]() -> absl::Status {
    HPO_ASSIGN_OR_RETURN(Experiment e, store_->GetExperiment(experiment_id));
    if (e.state() == hpo::v1::EXPERIMENT_STATE_ARCHIVED) {
      return absl::FailedPreconditionError(
          absl::StrCat("experiment ", experiment_id, " is archived and read-only"));
    }
    HPO_ASSIGN_OR_RETURN(result, GetOwnedSuggestion(experiment_id, suggestion_id));
    if (!IsOpen(result.state()) && result.state() != hpo::v1::SUGGESTION_STATE_QUEUED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "suggestion ", suggestion_id, " is ", SuggestionStateName(result.state()),
          "; only queued, open or active suggestions can be deleted"));
    }
    result.set_state(hpo::v1::SUGGESTION_STATE_DELETED);
    HPO_RETURN_IF_ERROR(store_->UpdateSuggestion(result));
    HPO_ASSIGN_OR_RETURN(result, store_->GetSuggestion(suggestion_id));
    return absl::OkStatus();
  }));
  proposals_.Refresh(experiment_id);
  return result;
}

absl::StatusOr<Observation> ExperimentManager::CreateObservation(
    const hpo::v1::CreateObservationRequest& request) {
  HPO_RETURN_IF_ERROR(space::ValidateMetadata(request.metadata(), "metadata"));
  return RecordObservation(request, nullptr);
}

absl::StatusOr<Observation> ExperimentManager::RecordObservation(
    const hpo::v1::CreateObservationRequest& request, const std::string* worker_id) {
  HPO_RETURN_IF_ERROR(RequireId(request.experiment_id(), "experiment_id"));
  if (request.suggestion_id() < 0) {
    return absl::InvalidArgumentError("suggestion_id: must be a positive id");
  }
  if (request.suggestion_id() != 0 && request.has_assignment()) {
    return absl::InvalidArgumentError(
        "assignment: give either suggestion_id or assignment, not both");
  }
  if (request.suggestion_id() == 0 && !request.has_assignment()) {
    return absl::InvalidArgumentError(
        "suggestion_id: required (or an assignment evaluated outside the service)");
  }
  if (!request.failed() && !request.failure_reason().empty()) {
    return absl::InvalidArgumentError("failure_reason: only allowed with failed: true");
  }
  absl::MutexLock lock(&mu_);
  Observation result;
  bool completed = false;
  HPO_RETURN_IF_ERROR(store_->Transact([&]() -> absl::Status {
    const int64_t experiment_id = request.experiment_id();
    HPO_ASSIGN_OR_RETURN(Experiment e, store_->GetExperiment(experiment_id));
    if (e.state() == hpo::v1::EXPERIMENT_STATE_ARCHIVED) {
      return absl::FailedPreconditionError(
          absl::StrCat("experiment ", experiment_id, " is archived and read-only"));
    }
    HPO_RETURN_IF_ERROR(
        space::ValidateObservationValues(e, request.values(), request.failed(), "values"));
    Observation o;
    o.set_experiment_id(experiment_id);
    *o.mutable_values() = request.values();
    o.set_failed(request.failed());
    o.set_failure_reason(space::BoundFailureReason(request.failure_reason()));
    *o.mutable_metadata() = request.metadata();
    if (request.suggestion_id() != 0) {
      HPO_ASSIGN_OR_RETURN(Suggestion s, GetOwnedSuggestion(experiment_id, request.suggestion_id()));
      HPO_ASSIGN_OR_RETURN(std::optional<Observation> existing,
                           store_->FindObservationBySuggestion(s.id()));
      if (existing.has_value()) {
        if (SameResult(*existing, o)) {
          result = *std::move(existing);
          return absl::OkStatus();
        }
        return absl::AlreadyExistsError(absl::StrCat(
            "suggestion_id: suggestion ", s.id(), " is already observed (observation ",
            existing->id(), ") with other values"));
      }
      if (worker_id != nullptr && (s.state() != hpo::v1::SUGGESTION_STATE_ACTIVE ||
                                   s.worker_id() != *worker_id)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "suggestion_id: suggestion ", s.id(), " is not leased by worker \"", *worker_id,
            "\" (its lease expired or was given to another worker)"));
      }
      if (!IsOpen(s.state())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "suggestion_id: suggestion ", s.id(), " is ", SuggestionStateName(s.state()),
            "; only open or active suggestions can be observed"));
      }
      o.set_suggestion_id(s.id());
      *o.mutable_assignment() = s.assignment();
      s.set_state(request.failed()             ? hpo::v1::SUGGESTION_STATE_FAILED
                  : !s.stop_reason().empty() ? hpo::v1::SUGGESTION_STATE_PRUNED
                                             : hpo::v1::SUGGESTION_STATE_COMPLETED);
      s.clear_lease_expire_time();
      HPO_RETURN_IF_ERROR(store_->UpdateSuggestion(s));
    } else {
      if (e.state() == hpo::v1::EXPERIMENT_STATE_COMPLETED) {
        return absl::FailedPreconditionError(absl::StrCat(
            "experiment ", experiment_id, " is completed; only its open suggestions are observed"));
      }
      HPO_RETURN_IF_ERROR(
          space::ValidateAssignment(e.search_space(), request.assignment(), "assignment"));
      *o.mutable_assignment() = request.assignment();
    }
    HPO_ASSIGN_OR_RETURN(result, store_->InsertObservation(o));
    if (e.state() == hpo::v1::EXPERIMENT_STATE_ACTIVE &&
        e.progress().observation_count() + 1 >= e.observation_budget()) {
      HPO_RETURN_IF_ERROR(
          store_->UpdateExperimentState(experiment_id, hpo::v1::EXPERIMENT_STATE_COMPLETED));
      completed = true;
    }
    return absl::OkStatus();
  }));
  if (completed) ExperimentClosed(request.experiment_id());
  proposals_.Refresh(request.experiment_id());
  return result;
}

absl::StatusOr<std::vector<Observation>> ExperimentManager::ListObservations(
    int64_t experiment_id) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  absl::MutexLock lock(&mu_);
  HPO_RETURN_IF_ERROR(store_->GetExperiment(experiment_id).status());
  return store_->ListObservations(experiment_id);
}

absl::StatusOr<std::vector<Observation>> ExperimentManager::GetBestAssignments(
    int64_t experiment_id) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  absl::MutexLock lock(&mu_);
  HPO_ASSIGN_OR_RETURN(Experiment e, store_->GetExperiment(experiment_id));
  HPO_ASSIGN_OR_RETURN(std::vector<Observation> all, store_->ListObservations(experiment_id));
  return BestAssignments(e, all);
}

absl::StatusOr<std::vector<hpo::v1::Checkpoint>> ExperimentManager::ListCheckpoints(
    int64_t experiment_id, int64_t suggestion_id) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  HPO_RETURN_IF_ERROR(RequireId(suggestion_id, "suggestion_id"));
  absl::MutexLock lock(&mu_);
  HPO_RETURN_IF_ERROR(GetOwnedSuggestion(experiment_id, suggestion_id).status());
  return store_->ListCheckpoints(suggestion_id);
}

absl::Status ExperimentManager::Ping() {
  absl::MutexLock lock(&mu_);
  return store_->Ping();
}

int64_t ExperimentManager::Revision() {
  absl::MutexLock lock(&mu_);
  return store_->ChangeCount();
}

absl::StatusOr<std::map<int64_t, std::vector<hpo::v1::Checkpoint>>> ExperimentManager::ListCurves(
    int64_t experiment_id) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  absl::MutexLock lock(&mu_);
  HPO_RETURN_IF_ERROR(store_->GetExperiment(experiment_id).status());
  return store_->ListExperimentCheckpoints(experiment_id);
}

absl::StatusOr<std::vector<ExperimentManager::WorkerView>> ExperimentManager::ListWorkers() {
  absl::MutexLock lock(&mu_);
  HPO_ASSIGN_OR_RETURN(std::vector<store::WorkerRecord> records, store_->ListWorkers());
  HPO_ASSIGN_OR_RETURN(std::vector<hpo::v1::Suggestion> leased,
                       store_->ListLeasedSuggestions("", absl::InfiniteFuture()));
  std::vector<WorkerView> workers;
  workers.reserve(records.size());
  for (store::WorkerRecord& record : records) {
    WorkerView view;
    for (const hpo::v1::Suggestion& suggestion : leased) {
      if (suggestion.worker_id() == record.id) view.leased.push_back(suggestion);
    }
    view.record = std::move(record);
    workers.push_back(std::move(view));
  }
  std::sort(workers.begin(), workers.end(), [](const WorkerView& a, const WorkerView& b) {
    return a.record.last_heartbeat > b.record.last_heartbeat;
  });
  return workers;
}

absl::StatusOr<hpo::v1::CreateTokenResponse> ExperimentManager::CreateToken(
    const hpo::v1::CreateTokenRequest& request, const std::string& secret) {
  const std::string& name = request.name();
  if (name.empty() || name.size() > 64 ||
      !std::all_of(name.begin(), name.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
      })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name: \"", request.name(), "\" must be 1 to 64 of A-Z a-z 0-9 _ . -"));
  }
  if (request.role() == hpo::v1::ROLE_UNSPECIFIED || !hpo::v1::Role_IsValid(request.role())) {
    return absl::InvalidArgumentError("role: must be admin, user, worker or read_only");
  }
  if (request.role() == hpo::v1::ROLE_ADMIN && !request.project().empty()) {
    return absl::InvalidArgumentError("project: admin tokens cover every project; leave it empty");
  }
  if (request.project().size() > 128) {
    return absl::InvalidArgumentError("project: longer than 128 characters");
  }
  hpo::v1::CreateTokenResponse response;
  if (secret.empty()) {
    HPO_ASSIGN_OR_RETURN(*response.mutable_secret(), auth::NewTokenSecret());
  } else if (!auth::LooksLikeTokenSecret(secret)) {
    return absl::InvalidArgumentError("secret: a token is \"hpo_\" followed by 48 hex digits");
  } else {
    response.set_secret(secret);
  }
  hpo::v1::ApiToken token;
  token.set_name(request.name());
  token.set_role(request.role());
  token.set_project(request.project());
  absl::MutexLock lock(&mu_);
  HPO_ASSIGN_OR_RETURN(*response.mutable_token(),
                       store_->InsertToken(token, auth::Sha256Hex(response.secret())));
  return response;
}

absl::StatusOr<std::vector<hpo::v1::ApiToken>> ExperimentManager::ListTokens() {
  absl::MutexLock lock(&mu_);
  return store_->ListTokens();
}

absl::StatusOr<hpo::v1::ApiToken> ExperimentManager::RevokeToken(int64_t token_id) {
  HPO_RETURN_IF_ERROR(RequireId(token_id, "token_id"));
  absl::MutexLock lock(&mu_);
  return store_->RevokeToken(token_id);
}

absl::StatusOr<std::optional<hpo::v1::ApiToken>> ExperimentManager::FindToken(
    const std::string& secret_sha256) {
  absl::MutexLock lock(&mu_);
  return store_->FindTokenBySecretHash(secret_sha256);
}

absl::StatusOr<hpo::v1::BackupDatabaseResponse> ExperimentManager::Backup(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("path: \"", path, "\" must be an absolute path on the server's host"));
  }
  absl::MutexLock lock(&mu_);
  HPO_ASSIGN_OR_RETURN(int64_t bytes, store_->Backup(path));
  hpo::v1::BackupDatabaseResponse response;
  response.set_path(path);
  response.set_bytes(bytes);
  return response;
}

absl::StatusOr<std::string> ExperimentManager::ProjectOfExperiment(int64_t experiment_id) {
  HPO_RETURN_IF_ERROR(RequireId(experiment_id, "experiment_id"));
  absl::MutexLock lock(&mu_);
  HPO_ASSIGN_OR_RETURN(Experiment e, store_->GetExperiment(experiment_id));
  return e.project();
}

absl::StatusOr<int64_t> ExperimentManager::ExperimentOfSuggestion(int64_t suggestion_id) {
  HPO_RETURN_IF_ERROR(RequireId(suggestion_id, "suggestion_id"));
  absl::MutexLock lock(&mu_);
  HPO_ASSIGN_OR_RETURN(Suggestion s, store_->GetSuggestion(suggestion_id));
  return s.experiment_id();
}

}  // namespace hpo::service
