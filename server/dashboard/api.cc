#include "server/dashboard/api.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/cli/format.h"
#include "google/protobuf/util/time_util.h"
#include "server/dashboard/insights.h"
#include "server/pruning/curve.h"
#include "server/service/best_assignments.h"

namespace hpo::dashboard {
namespace {

using hpo::v1::Experiment;
using hpo::v1::Metric;
using hpo::v1::Observation;
using hpo::v1::Suggestion;
using json = nlohmann::json;

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "";
  return google::protobuf::util::TimeUtil::ToString(t);
}

std::string Time(absl::Time t) { return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()); }

template <typename Enum>
std::string EnumName(Enum value) {
  return cli::ShortEnumName(google::protobuf::GetEnumDescriptor<Enum>(), static_cast<int>(value));
}

// Finite numbers as JSON numbers; NaN and infinities as null (JSON has no such numbers).
json Number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

json ParameterValueJson(const hpo::v1::ParameterValue& value) {
  if (value.has_number_value()) return Number(value.number_value());
  if (value.has_int_value()) return value.int_value();
  if (value.has_string_value()) return value.string_value();
  return nullptr;
}

ApiResponse Json(const json& body) {
  ApiResponse response;
  response.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return response;
}

std::string PrunerName(const hpo::v1::PrunerConfig& pruner) {
  const auto* field = pruner.GetDescriptor()->FindOneofByName("kind");
  const auto* set = pruner.GetReflection()->GetOneofFieldDescriptor(pruner, field);
  return set == nullptr ? "" : set->name();
}

// The best value of the primary metric among feasible observations, if any.
std::optional<double> BestValue(const Experiment& experiment,
                                const std::vector<Observation>& best) {
  const Metric* primary = PrimaryMetric(experiment);
  if (primary == nullptr) return std::nullopt;
  std::optional<double> result;
  for (const Observation& observation : best) {
    const std::optional<double> value = MetricOf(observation, primary->name());
    if (!value) continue;
    if (!result || (Maximizes(*primary) ? *value > *result : *value < *result)) result = value;
  }
  return result;
}

json ExperimentRow(const Experiment& e, std::optional<double> best) {
  const Metric* primary = PrimaryMetric(e);
  const auto& p = e.progress();
  return json{{"id", e.id()},
              {"name", e.name()},
              {"project", e.project()},
              {"state", EnumName(e.state())},
              {"created", Time(e.create_time())},
              {"budget", e.observation_budget()},
              {"observations", p.observation_count()},
              {"failed", p.failed_observation_count()},
              {"running", p.open_suggestion_count()},
              {"primary_metric", primary ? primary->name() : ""},
              {"objective", primary ? (Maximizes(*primary) ? "maximize" : "minimize") : ""},
              {"best", best ? Number(*best) : json(nullptr)}};
}

absl::StatusOr<int64_t> ParseId(absl::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("experiment id: \"", text, "\" is not a positive integer"));
  }
  return id;
}

const std::string* Param(const DashboardApi::Params& params, const std::string& name) {
  const auto it = params.find(name);
  return it == params.end() ? nullptr : &it->second;
}

// The two metrics of the Pareto view: two optimized ones, else the primary and the first other.
std::vector<const Metric*> ParetoMetrics(const Experiment& experiment) {
  std::vector<const Metric*> metrics = cli::OptimizedMetrics(experiment);
  if (metrics.size() >= 2) return {metrics[0], metrics[1]};
  if (metrics.empty()) return {};
  for (const Metric& metric : experiment.metrics()) {
    if (&metric != metrics[0]) return {metrics[0], &metric};
  }
  return {};
}

}  // namespace

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    default: return 500;
  }
}

ApiResponse ErrorResponse(const absl::Status& status) {
  ApiResponse response = Json(
      json{{"error",
            {{"code", absl::StatusCodeToString(status.code())}, {"message", status.message()}}}});
  response.http_status = HttpStatusFor(status);
  return response;
}

DashboardApi::DashboardApi(service::ExperimentManager* manager, Clock* clock,
                           absl::Duration worker_live_window)
    : manager_(manager), clock_(clock), worker_live_window_(worker_live_window) {}

absl::Status DashboardApi::CheckScope(int64_t experiment_id, const std::string& scope) {
  if (scope.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> project = manager_->ProjectOfExperiment(experiment_id);
  if (!project.ok()) return project.status();
  if (*project == scope) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("experiment ", experiment_id, " is outside project \"", scope, "\""));
}

ApiResponse DashboardApi::Handle(const std::string& path, const Params& params,
                                 const std::string& scope) {
  constexpr absl::string_view kPrefix = "/api/v1/";
  if (!absl::StartsWith(path, kPrefix)) {
    return ErrorResponse(absl::NotFoundError(absl::StrCat("no endpoint ", path)));
  }
  const std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(path).substr(kPrefix.size()), '/');
  if (parts.size() == 1 && parts[0] == "revision") {
    return Json(json{{"revision", manager_->Revision()}});
  }
  if (parts.size() == 1 && parts[0] == "experiments") {
    if (scope.empty()) return Experiments(params);
    const std::string* project = Param(params, "project");
    if (project != nullptr && !project->empty() && *project != scope) {
      return ErrorResponse(absl::PermissionDeniedError(
          absl::StrCat("project \"", *project, "\" is outside project \"", scope, "\"")));
    }
    Params scoped = params;
    scoped.erase("project");
    scoped.emplace("project", scope);
    return Experiments(scoped);
  }
  if (parts.size() == 1 && parts[0] == "workers") return Workers(params, scope);
  if ((parts.size() == 2 || parts.size() == 3) && parts[0] == "experiments") {
    const absl::StatusOr<int64_t> id = ParseId(parts[1]);
    if (!id.ok()) return ErrorResponse(id.status());
    if (absl::Status allowed = CheckScope(*id, scope); !allowed.ok()) {
      return ErrorResponse(allowed);
    }
    if (parts.size() == 2) return ExperimentDetail(*id);
    const absl::string_view view = parts[2];
    if (view == "observations") return Observations(*id);
    if (view == "observations.csv") return ObservationsCsv(*id);
    if (view == "improvement") return Improvement(*id);
    if (view == "importance") return Importance(*id);
    if (view == "curves") return Curves(*id, params);
    if (view == "pareto") return Pareto(*id);
    if (view == "constraints") return Constraints(*id);
    if (view == "sources") return Sources(*id);
  }
  return ErrorResponse(absl::NotFoundError(absl::StrCat("no endpoint ", path)));
}

ApiResponse DashboardApi::Experiments(const Params& params) {
  std::vector<hpo::v1::ExperimentState> states;
  if (const std::string* state = Param(params, "state"); state != nullptr && !state->empty()) {
    hpo::v1::ExperimentState value;
    if (!hpo::v1::ExperimentState_Parse("EXPERIMENT_STATE_" + absl::AsciiStrToUpper(*state),
                                        &value) ||
        value == hpo::v1::EXPERIMENT_STATE_UNSPECIFIED) {
      return ErrorResponse(absl::InvalidArgumentError(
          absl::StrCat("state: unknown experiment state \"", *state, "\"")));
    }
    states.push_back(value);
  }
  const std::string* project = Param(params, "project");
  auto experiments = manager_->ListExperiments(project ? *project : "", states);
  if (!experiments.ok()) return ErrorResponse(experiments.status());
  json rows = json::array();
  for (const Experiment& e : *experiments) {
    auto best = manager_->GetBestAssignments(e.id());
    rows.push_back(ExperimentRow(e, best.ok() ? BestValue(e, *best) : std::nullopt));
  }
  return Json(json{{"experiments", rows}});
}

ApiResponse DashboardApi::ExperimentDetail(int64_t id) {
  auto e = manager_->GetExperiment(id);
  if (!e.ok()) return ErrorResponse(e.status());
  auto best = manager_->GetBestAssignments(id);
  if (!best.ok()) return ErrorResponse(best.status());
  auto suggestions = manager_->ListSuggestions(id, {hpo::v1::SUGGESTION_STATE_PRUNED});
  if (!suggestions.ok()) return ErrorResponse(suggestions.status());

  json detail = ExperimentRow(*e, BestValue(*e, *best));
  detail["parallel_bandwidth"] = e->parallel_bandwidth();
  detail["optimizer"] = e->optimizer().algorithm();
  detail["pruner"] = PrunerName(e->pruner());
  detail["pruned"] = suggestions->size();
  detail["open"] = e->progress().open_suggestion_count();
  detail["queued"] = e->progress().queued_suggestion_count();
  detail["stopping_advice"] = e->progress().stopping_advice();
  json parameters = json::array();
  for (const auto& conditional : e->search_space().conditionals()) {
    parameters.push_back({{"name", conditional.name()},
                          {"type", "categorical"},
                          {"min", nullptr},
                          {"max", nullptr},
                          {"log", false},
                          {"categories", conditional.values()}});
  }
  for (const auto& parameter : e->search_space().parameters()) {
    json row = {{"name", parameter.name()},
                {"type", EnumName(parameter.type())},
                {"log", parameter.transformation() == hpo::v1::TRANSFORMATION_LOG},
                {"categories", parameter.categorical_values()}};
    double lo = parameter.bounds().min(), hi = parameter.bounds().max();
    if (parameter.grid_size() > 0) {
      lo = *std::min_element(parameter.grid().begin(), parameter.grid().end());
      hi = *std::max_element(parameter.grid().begin(), parameter.grid().end());
    }
    const bool categorical = parameter.type() == hpo::v1::PARAMETER_TYPE_CATEGORICAL;
    row["min"] = categorical ? json(nullptr) : Number(lo);
    row["max"] = categorical ? json(nullptr) : Number(hi);
    parameters.push_back(row);
  }
  detail["parameters"] = parameters;
  json metrics = json::array();
  for (const Metric& metric : e->metrics()) {
    metrics.push_back({{"name", metric.name()},
                       {"objective", Maximizes(metric) ? "maximize" : "minimize"},
                       {"strategy", metric.strategy() == hpo::v1::METRIC_STRATEGY_UNSPECIFIED
                                        ? "optimize"
                                        : EnumName(metric.strategy())},
                       {"threshold", metric.has_threshold() ? Number(metric.threshold())
                                                            : json(nullptr)}});
  }
  detail["metrics"] = metrics;
  return Json(json{{"experiment", detail}});
}

ApiResponse DashboardApi::Observations(int64_t id) {
  auto observations = manager_->ListObservations(id);
  if (!observations.ok()) return ErrorResponse(observations.status());
  auto suggestions = manager_->ListSuggestions(id, {});
  if (!suggestions.ok()) return ErrorResponse(suggestions.status());
  std::map<int64_t, const Suggestion*> by_id;
  for (const Suggestion& s : *suggestions) by_id[s.id()] = &s;

  json rows = json::array();
  int trial = 0;
  for (const Observation& o : *observations) {
    const auto it = by_id.find(o.suggestion_id());
    const Suggestion* s = it == by_id.end() ? nullptr : it->second;
    json assignment = json::object();
    for (const auto& [name, value] : o.assignment().values()) {
      assignment[name] = ParameterValueJson(value);
    }
    json values = json::object();
    for (const auto& value : o.values()) values[value.name()] = Number(value.value());
    rows.push_back({{"id", o.id()},
                    {"trial", ++trial},
                    {"suggestion_id", o.suggestion_id()},
                    {"created", Time(o.create_time())},
                    {"failed", o.failed()},
                    {"failure_reason", o.failure_reason()},
                    {"pruned", s != nullptr && s->state() == hpo::v1::SUGGESTION_STATE_PRUNED},
                    {"stop_reason", s != nullptr ? s->stop_reason() : ""},
                    {"source", s != nullptr ? s->source() : "external"},
                    {"assignment", assignment},
                    {"values", values}});
  }
  return Json(json{{"observations", rows}});
}

ApiResponse DashboardApi::ObservationsCsv(int64_t id) {
  auto e = manager_->GetExperiment(id);
  if (!e.ok()) return ErrorResponse(e.status());
  auto observations = manager_->ListObservations(id);
  if (!observations.ok()) return ErrorResponse(observations.status());
  ApiResponse response;
  response.content_type = "text/csv; charset=utf-8";
  response.body = cli::RenderCsv(cli::ObservationTable(*e, *observations, /*for_csv=*/true));
  response.headers.emplace_back(
      "Content-Disposition",
      absl::StrCat("attachment; filename=\"experiment-", id, "-observations.csv\""));
  return response;
}

ApiResponse DashboardApi::Improvement(int64_t id) {
  auto e = manager_->GetExperiment(id);
  if (!e.ok()) return ErrorResponse(e.status());
  auto observations = manager_->ListObservations(id);
  if (!observations.ok()) return ErrorResponse(observations.status());
  const Metric* primary = PrimaryMetric(*e);
  json points = json::array();
  if (primary != nullptr) {
    std::vector<bool> feasible;
    for (const Observation& o : *observations) feasible.push_back(service::IsFeasible(*e, o));
    for (const ImprovementPoint& p : dashboard::Improvement(*observations, primary->name(),
                                                            Maximizes(*primary), feasible)) {
      points.push_back({{"trial", p.trial},
                        {"value", p.value},
                        {"feasible", p.feasible},
                        {"best", p.best ? json(*p.best) : json(nullptr)}});
    }
  }
  return Json(json{{"metric", primary ? primary->name() : ""},
                   {"objective", primary && !Maximizes(*primary) ? "minimize" : "maximize"},
                   {"points", points}});
}

ApiResponse DashboardApi::Importance(int64_t id) {
  auto e = manager_->GetExperiment(id);
  if (!e.ok()) return ErrorResponse(e.status());
  auto observations = manager_->ListObservations(id);
  if (!observations.ok()) return ErrorResponse(observations.status());
  const Metric* primary = PrimaryMetric(*e);
  json rows = json::array();
  if (primary != nullptr) {
    for (const ParameterImportance& p :
         dashboard::Importance(*e, *observations, primary->name())) {
      rows.push_back({{"parameter", p.parameter}, {"importance", p.importance}});
    }
  }
  return Json(json{{"metric", primary ? primary->name() : ""}, {"importance", rows}});
}

ApiResponse DashboardApi::Curves(int64_t id, const Params& params) {
  int max_points = 200;
  if (const std::string* text = Param(params, "max_points"); text != nullptr) {
    if (!absl::SimpleAtoi(*text, &max_points) || max_points < 2 || max_points > 100000) {
      return ErrorResponse(absl::InvalidArgumentError(
          absl::StrCat("max_points: \"", *text, "\" is not an integer in [2, 100000]")));
    }
  }
  auto e = manager_->GetExperiment(id);
  if (!e.ok()) return ErrorResponse(e.status());
  auto curves = manager_->ListCurves(id);
  if (!curves.ok()) return ErrorResponse(curves.status());
  auto suggestions = manager_->ListSuggestions(id, {});
  if (!suggestions.ok()) return ErrorResponse(suggestions.status());
  auto observations = manager_->ListObservations(id);
  if (!observations.ok()) return ErrorResponse(observations.status());
  std::map<int64_t, int> trial_of;
  for (size_t i = 0; i < observations->size(); ++i) {
    trial_of[(*observations)[i].suggestion_id()] = static_cast<int>(i) + 1;
  }
  std::map<int64_t, const Suggestion*> by_id;
  for (const Suggestion& s : *suggestions) by_id[s.id()] = &s;

  const Metric* primary = PrimaryMetric(*e);
  const std::string metric = primary ? primary->name() : "";
  json rows = json::array();
  for (const auto& [suggestion_id, checkpoints] : *curves) {
    std::vector<std::pair<int64_t, double>> curve;
    for (const hpo::v1::Checkpoint& checkpoint : checkpoints) {
      for (const auto& value : checkpoint.metrics()) {
        if (value.name() == metric && std::isfinite(value.value())) {
          curve.emplace_back(checkpoint.step(), value.value());
        }
      }
    }
    if (curve.empty()) continue;
    const auto it = by_id.find(suggestion_id);
    const Suggestion* s = it == by_id.end() ? nullptr : it->second;
    std::string status = "running";
    if (s != nullptr) {
      switch (s->state()) {
        case hpo::v1::SUGGESTION_STATE_COMPLETED: status = "completed"; break;
        case hpo::v1::SUGGESTION_STATE_PRUNED: status = "pruned"; break;
        case hpo::v1::SUGGESTION_STATE_FAILED: status = "failed"; break;
        case hpo::v1::SUGGESTION_STATE_DELETED: status = "deleted"; break;
        default: break;
      }
    }
    json points = json::array();
    for (const auto& [step, value] : Downsample(curve, max_points)) {
      points.push_back(json::array({step, value}));
    }
    const auto trial = trial_of.find(suggestion_id);
    rows.push_back({{"suggestion_id", suggestion_id},
                    {"trial", trial == trial_of.end() ? 0 : trial->second},
                    {"status", status},
                    {"stop_reason", s ? s->stop_reason() : ""},
                    {"stop_step", s ? s->stop_step() : 0},
                    {"points", points}});
  }
  return Json(json{{"metric", metric}, {"curves", rows}});
}

ApiResponse DashboardApi::Pareto(int64_t id) {
  auto e = manager_->GetExperiment(id);
  if (!e.ok()) return ErrorResponse(e.status());
  auto observations = manager_->ListObservations(id);
  if (!observations.ok()) return ErrorResponse(observations.status());
  const std::vector<const Metric*> metrics = ParetoMetrics(*e);
  json names = json::array(), objectives = json::array(), rows = json::array();
  if (metrics.size() == 2) {
    std::vector<pruning::WatchedMetric> watched;
    for (const Metric* m : metrics) {
      names.push_back(m->name());
      objectives.push_back(Maximizes(*m) ? "maximize" : "minimize");
      watched.push_back({m->name(), Maximizes(*m)});
    }
    std::vector<std::vector<double>> points;
    std::vector<std::pair<int, const Observation*>> kept;
    for (size_t i = 0; i < observations->size(); ++i) {
      const Observation& o = (*observations)[i];
      const std::optional<double> x = MetricOf(o, metrics[0]->name());
      const std::optional<double> y = MetricOf(o, metrics[1]->name());
      if (!x || !y) continue;
      points.push_back({*x, *y});
      kept.emplace_back(static_cast<int>(i) + 1, &o);
    }
    const std::vector<int> ranks = pruning::ParetoRanks(points, watched);
    for (size_t i = 0; i < points.size(); ++i) {
      rows.push_back({{"trial", kept[i].first},
                      {"observation_id", kept[i].second->id()},
                      {"x", points[i][0]},
                      {"y", points[i][1]},
                      {"pareto", ranks[i] == 0}});
    }
  }
  return Json(json{{"metrics", names}, {"objectives", objectives}, {"points", rows}});
}

ApiResponse DashboardApi::Constraints(int64_t id) {
  auto e = manager_->GetExperiment(id);
  if (!e.ok()) return ErrorResponse(e.status());
  auto observations = manager_->ListObservations(id);
  if (!observations.ok()) return ErrorResponse(observations.status());
  std::vector<const Metric*> constraints;
  for (const Metric& m : e->metrics()) {
    if (m.strategy() == hpo::v1::METRIC_STRATEGY_CONSTRAINT) constraints.push_back(&m);
  }
  std::vector<int> satisfied(constraints.size()), violated(constraints.size());
  int all = 0, observed = 0;
  for (const Observation& o : *observations) {
    if (o.failed()) continue;
    ++observed;
    bool ok = true;
    for (size_t c = 0; c < constraints.size(); ++c) {
      const std::optional<double> value = MetricOf(o, constraints[c]->name());
      if (value && SatisfiesConstraint(*constraints[c], *value)) {
        ++satisfied[c];
      } else {
        ++violated[c];
        ok = false;
      }
    }
    if (ok) ++all;
  }
  json rows = json::array();
  for (size_t c = 0; c < constraints.size(); ++c) {
    rows.push_back({{"metric", constraints[c]->name()},
                    {"threshold", constraints[c]->has_threshold()
                                      ? Number(constraints[c]->threshold())
                                      : json(nullptr)},
                    {"objective", Maximizes(*constraints[c]) ? "maximize" : "minimize"},
                    {"satisfied", satisfied[c]},
                    {"violated", violated[c]}});
  }
  return Json(json{{"constraints", rows}, {"all_satisfied", all}, {"observed", observed}});
}

ApiResponse DashboardApi::Sources(int64_t id) {
  auto suggestions = manager_->ListSuggestions(id, {});
  if (!suggestions.ok()) return ErrorResponse(suggestions.status());
  std::map<std::string, int> counts;
  for (const Suggestion& s : *suggestions) ++counts[s.source().empty() ? "unknown" : s.source()];
  json rows = json::array();
  for (const auto& [source, count] : counts) rows.push_back({{"source", source}, {"count", count}});
  return Json(json{{"sources", rows}});
}

ApiResponse DashboardApi::Workers(const Params& params, const std::string& scope) {
  int64_t experiment = 0;
  if (const std::string* text = Param(params, "experiment"); text != nullptr) {
    const absl::StatusOr<int64_t> id = ParseId(*text);
    if (!id.ok()) return ErrorResponse(id.status());
    experiment = *id;
    if (absl::Status allowed = CheckScope(experiment, scope); !allowed.ok()) {
      return ErrorResponse(allowed);
    }
  }
  auto workers = manager_->ListWorkers();
  if (!workers.ok()) return ErrorResponse(workers.status());
  const absl::Time now = clock_->Now();
  json rows = json::array();
  for (const service::ExperimentManager::WorkerView& w : *workers) {
    json trials = json::array();
    bool on_experiment = false;
    for (const Suggestion& s : w.leased) {
      trials.push_back({{"experiment_id", s.experiment_id()}, {"suggestion_id", s.id()}});
      on_experiment |= s.experiment_id() == experiment;
    }
    const bool live = now - w.record.last_heartbeat < worker_live_window_;
    // A scoped view shows only its project's workers (worker ids belong to a project).
    if (!scope.empty() && w.record.owner != scope) continue;
    // For one experiment: its workers now, and live idle workers (they may lease from it next).
    if (experiment != 0 && !on_experiment && !(live && w.leased.empty())) continue;
    rows.push_back({{"worker_id", w.record.id},
                    {"name", w.record.info.name()},
                    {"host", w.record.info.host()},
                    {"threads", w.record.info.threads()},
                    {"registered", Time(w.record.register_time)},
                    {"last_heartbeat", Time(w.record.last_heartbeat)},
                    {"live", live},
                    {"trials", trials}});
  }
  return Json(json{{"workers", rows}});
}

}  // namespace hpo::dashboard
