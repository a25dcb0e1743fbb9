#include "client/cli/format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"

namespace hpo::cli {
namespace {

using ::hpo::v1::Experiment;
using ::hpo::v1::Metric;
using ::hpo::v1::Observation;

// Display width in code points: continuation bytes of UTF-8 do not count.
size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

std::string FormatMetricCell(const hpo::v1::MetricValue& value) {
  std::string cell = FormatDouble(value.value());
  if (value.has_stddev()) absl::StrAppend(&cell, "±", FormatDouble(value.stddev()));
  return cell;
}

std::vector<std::string> MetricColumns(const Experiment& experiment,
                                       const std::vector<Observation>& observations) {
  std::vector<std::string> names;
  for (const Metric& metric : experiment.metrics()) names.push_back(metric.name());
  // Values for metrics the experiment does not declare still get a column.
  std::set<std::string> extra;
  for (const Observation& observation : observations) {
    for (const auto& value : observation.values()) {
      if (std::find(names.begin(), names.end(), value.name()) == names.end()) {
        extra.insert(value.name());
      }
    }
  }
  names.insert(names.end(), extra.begin(), extra.end());
  return names;
}

// Assignment columns of the space plus any name found in the given assignments but not in the
// space (sorted), so that nothing the server sends is hidden.
std::vector<std::string> AllAssignmentColumns(
    const Experiment& experiment, const std::vector<const hpo::v1::Assignment*>& assignments) {
  std::vector<std::string> names = AssignmentColumns(experiment.search_space());
  std::set<std::string> extra;
  for (const hpo::v1::Assignment* assignment : assignments) {
    for (const auto& [name, value] : assignment->values()) {
      if (std::find(names.begin(), names.end(), name) == names.end()) extra.insert(name);
    }
  }
  names.insert(names.end(), extra.begin(), extra.end());
  return names;
}

// Tables show doubles with 6 significant digits; CSV keeps the exact (round-trip) value.
std::string AssignmentCell(const hpo::v1::Assignment& assignment, const std::string& name,
                           bool exact) {
  auto it = assignment.values().find(name);
  if (it == assignment.values().end()) return "";
  if (!exact && it->second.kind_case() == hpo::v1::ParameterValue::kNumberValue) {
    return absl::StrCat(it->second.number_value());
  }
  return FormatParameterValue(it->second);
}

}  // namespace

std::string RenderTable(const Table& table) {
  std::vector<size_t> widths(table.header.size(), 0);
  auto measure = [&widths](const std::vector<std::string>& row) {
    if (row.size() > widths.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  };
  measure(table.header);
  for (const auto& row : table.rows) measure(row);

  std::string out;
  auto render = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      if (i > 0) line.append(2, ' ');
      line += cell;
      line.append(widths[i] - DisplayWidth(cell), ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  };
  render(table.header);
  for (const auto& row : table.rows) render(row);
  return out;
}

namespace {

// A whole number as FormatDouble writes it ("-1.5", "+2e3", "-inf"): a spreadsheet reads it as a
// number, never as a formula.
bool IsNumber(absl::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty() || text.front() == '+') return false;
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string CsvField(absl::string_view text) {
  // A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...)):
  // a leading quote makes it text (OWASP's rule for CSV injection). One character alone, like
  // the tables' "-" for none, is no formula.
  std::string guarded;
  if (text.size() > 1 &&
      absl::string_view("=+-@\t\r").find(text.front()) != absl::string_view::npos &&
      !IsNumber(text)) {
    guarded = absl::StrCat("'", text);
    text = guarded;
  }
  if (text.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

std::string RenderCsv(const Table& table) {
  std::string out;
  auto render = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < std::max(row.size(), table.header.size()); ++i) {
      if (i > 0) out.push_back(',');
      if (i < row.size()) out += CsvField(row[i]);
    }
    out += "\r\n";
  };
  render(table.header);
  for (const auto& row : table.rows) render(row);
  return out;
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print JSON: ", status.ToString()));
  }
  if (json.empty() || json.back() != '\n') json.push_back('\n');
  return json;
}

std::string FormatDouble(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (error != std::errc()) return absl::StrCat(value);
  return std::string(buffer, end);
}

std::string FormatParameterValue(const hpo::v1::ParameterValue& value) {
  switch (value.kind_case()) {
    case hpo::v1::ParameterValue::kNumberValue:
      return FormatDouble(value.number_value());
    case hpo::v1::ParameterValue::kIntValue:
      return absl::StrCat(value.int_value());
    case hpo::v1::ParameterValue::kStringValue:
      return value.string_value();
    case hpo::v1::ParameterValue::KIND_NOT_SET:
      break;
  }
  return "";
}

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(timestamp.seconds()),
                          absl::UTCTimeZone());
}

std::string ShortEnumName(const google::protobuf::EnumDescriptor* type, int number) {
  const google::protobuf::EnumValueDescriptor* value = type->FindValueByNumber(number);
  if (value == nullptr) return absl::StrCat(number);
  // The prefix is everything the value names of this enum share up to an underscore, e.g.
  // "EXPERIMENT_STATE_"; take it from the zero value, which always ends in _UNSPECIFIED or
  // similar.
  std::string name = value->name();
  const std::string& zero = type->value(0)->name();
  const size_t cut = zero.rfind('_');
  if (cut != std::string::npos && absl::StartsWith(name, zero.substr(0, cut + 1)) &&
      name.size() > cut + 1) {
    name = name.substr(cut + 1);
  }
  return absl::AsciiStrToLower(name);
}

std::vector<std::string> AssignmentColumns(const hpo::v1::SearchSpace& space) {
  std::vector<std::string> names;
  for (const auto& conditional : space.conditionals()) names.push_back(conditional.name());
  for (const auto& parameter : space.parameters()) names.push_back(parameter.name());
  return names;
}

std::vector<const Metric*> OptimizedMetrics(const Experiment& experiment) {
  std::vector<const Metric*> metrics;
  for (const Metric& metric : experiment.metrics()) {
    if (metric.strategy() == hpo::v1::METRIC_STRATEGY_OPTIMIZE ||
        metric.strategy() == hpo::v1::METRIC_STRATEGY_UNSPECIFIED) {
      metrics.push_back(&metric);
    }
  }
  return metrics;
}

std::string BestSummary(const Experiment& experiment, const std::vector<Observation>& best) {
  if (best.empty()) return "-";
  if (best.size() > 1) return absl::StrCat(best.size(), " pareto");
  std::vector<const Metric*> optimized = OptimizedMetrics(experiment);
  const std::string name = optimized.empty() ? "" : optimized.front()->name();
  for (const auto& value : best.front().values()) {
    if (name.empty() || value.name() == name) return FormatDouble(value.value());
  }
  return "-";
}

Table ExperimentListTable(const std::vector<Experiment>& experiments,
                          const absl::flat_hash_map<int64_t, std::string>& best_by_id) {
  Table table;
  table.header = {"ID",   "NAME", "PROJECT", "STATE", "OBSERVATIONS/BUDGET",
                  "OPEN", "BEST", "CREATED"};
  for (const Experiment& experiment : experiments) {
    auto best = best_by_id.find(experiment.id());
    table.rows.push_back({
        absl::StrCat(experiment.id()),
        experiment.name(),
        experiment.project(),
        ShortEnumName(hpo::v1::ExperimentState_descriptor(), experiment.state()),
        absl::StrCat(experiment.progress().observation_count(), "/",
                     experiment.observation_budget()),
        absl::StrCat(experiment.progress().open_suggestion_count()),
        best == best_by_id.end() ? "-" : best->second,
        FormatTimestamp(experiment.create_time()),
    });
  }
  return table;
}

Table ObservationTable(const Experiment& experiment, const std::vector<Observation>& observations,
                       bool for_csv) {
  std::vector<const hpo::v1::Assignment*> assignments;
  for (const Observation& observation : observations) {
    assignments.push_back(&observation.assignment());
  }
  const std::vector<std::string> parameters = AllAssignmentColumns(experiment, assignments);
  const std::vector<std::string> metrics = MetricColumns(experiment, observations);
  std::set<std::string> with_stddev;
  for (const Observation& observation : observations) {
    for (const auto& value : observation.values()) {
      if (value.has_stddev()) with_stddev.insert(value.name());
    }
  }

  Table table;
  table.header = {"ID", "SUGGESTION"};
  table.header.insert(table.header.end(), parameters.begin(), parameters.end());
  for (const std::string& metric : metrics) {
    table.header.push_back(metric);
    if (for_csv && with_stddev.count(metric)) table.header.push_back(metric + ".stddev");
  }
  table.header.push_back("FAILED");

  for (const Observation& observation : observations) {
    std::vector<std::string> row = {
        absl::StrCat(observation.id()),
        observation.suggestion_id() == 0 ? "-" : absl::StrCat(observation.suggestion_id())};
    for (const std::string& name : parameters) {
      row.push_back(AssignmentCell(observation.assignment(), name, for_csv));
    }
    for (const std::string& metric : metrics) {
      const hpo::v1::MetricValue* found = nullptr;
      for (const auto& value : observation.values()) {
        if (value.name() == metric) found = &value;
      }
      if (!for_csv) {
        row.push_back(found == nullptr ? "" : FormatMetricCell(*found));
        continue;
      }
      row.push_back(found == nullptr ? "" : FormatDouble(found->value()));
      if (with_stddev.count(metric)) {
        row.push_back(found == nullptr || !found->has_stddev() ? ""
                                                               : FormatDouble(found->stddev()));
      }
    }
    if (for_csv) {
      row.push_back(observation.failed() ? "true" : "false");
    } else {
      row.push_back(observation.failed() ? "yes" : "");
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

Table SuggestionTable(const Experiment& experiment,
                      const std::vector<hpo::v1::Suggestion>& suggestions, bool for_csv) {
  std::vector<const hpo::v1::Assignment*> assignments;
  for (const auto& suggestion : suggestions) assignments.push_back(&suggestion.assignment());
  const std::vector<std::string> parameters = AllAssignmentColumns(experiment, assignments);
  Table table;
  table.header = {"ID", "STATE", "SOURCE", "WORKER"};
  table.header.insert(table.header.end(), parameters.begin(), parameters.end());
  table.header.push_back("CREATED");
  // Why the pruner or the regulator stopped a trial, and where.
  table.header.push_back("STOPPED_AT");
  table.header.push_back("STOP_REASON");
  for (const auto& suggestion : suggestions) {
    std::vector<std::string> row = {
        absl::StrCat(suggestion.id()),
        ShortEnumName(hpo::v1::SuggestionState_descriptor(), suggestion.state()),
        suggestion.source(), suggestion.worker_id()};
    for (const std::string& name : parameters) {
      row.push_back(AssignmentCell(suggestion.assignment(), name, for_csv));
    }
    row.push_back(FormatTimestamp(suggestion.create_time()));
    const bool stopped = !suggestion.stop_reason().empty();
    row.push_back(stopped ? absl::StrCat(suggestion.stop_step()) : "");
    row.push_back(suggestion.stop_reason());
    table.rows.push_back(std::move(row));
  }
  return table;
}

Table CheckpointTable(const std::vector<hpo::v1::Checkpoint>& checkpoints) {
  std::vector<std::string> metrics;
  for (const auto& checkpoint : checkpoints) {
    for (const auto& value : checkpoint.metrics()) {
      if (std::find(metrics.begin(), metrics.end(), value.name()) == metrics.end()) {
        metrics.push_back(value.name());
      }
    }
  }
  Table table;
  table.header = {"STEP", "ELAPSED_S"};
  table.header.insert(table.header.end(), metrics.begin(), metrics.end());
  table.header.push_back("CREATED");
  for (const auto& checkpoint : checkpoints) {
    std::vector<std::string> row = {absl::StrCat(checkpoint.step()),
                                    FormatDouble(checkpoint.elapsed_seconds())};
    for (const std::string& metric : metrics) {
      std::string cell;
      for (const auto& value : checkpoint.metrics()) {
        if (value.name() == metric) cell = FormatMetricCell(value);
      }
      row.push_back(cell);
    }
    row.push_back(FormatTimestamp(checkpoint.create_time()));
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::string DescribeExperiment(const Experiment& experiment) {
  const hpo::v1::ExperimentProgress& progress = experiment.progress();
  Table summary;
  auto add = [&summary](std::string key, std::string value) {
    summary.rows.push_back({std::move(key), std::move(value)});
  };
  add("id:", absl::StrCat(experiment.id()));
  add("name:", experiment.name());
  add("project:", experiment.project());
  add("state:", ShortEnumName(hpo::v1::ExperimentState_descriptor(), experiment.state()));
  add("observations:",
      absl::StrCat(progress.observation_count(), "/", experiment.observation_budget(), " (",
                   progress.failed_observation_count(), " failed)"));
  add("open suggestions:", absl::StrCat(progress.open_suggestion_count(), " (",
                                        progress.queued_suggestion_count(), " queued)"));
  if (!progress.stopping_advice().empty()) add("stopping advice:", progress.stopping_advice());
  add("parallel bandwidth:", absl::StrCat(experiment.parallel_bandwidth()));
  std::string optimizer = experiment.optimizer().algorithm().empty()
                              ? "(server default)"
                              : experiment.optimizer().algorithm();
  if (experiment.optimizer().seed() != 0) {
    absl::StrAppend(&optimizer, " seed ", experiment.optimizer().seed());
  }
  add("optimizer:", optimizer);
  if (experiment.has_pruner()) {
    const auto* oneof = hpo::v1::PrunerConfig::descriptor()->FindOneofByName("kind");
    const auto* set =
        experiment.pruner().GetReflection()->GetOneofFieldDescriptor(experiment.pruner(), oneof);
    add("pruner:", set == nullptr ? "none" : set->name());
  }
  add("created:", FormatTimestamp(experiment.create_time()));
  add("updated:", FormatTimestamp(experiment.update_time()));
  const std::map<std::string, std::string> metadata(experiment.metadata().begin(),
                                                    experiment.metadata().end());
  for (const auto& [key, value] : metadata) add(absl::StrCat("metadata.", key, ":"), value);
  // The summary has no header line: render it and drop the first (empty) line.
  std::string out = RenderTable(summary);
  out.erase(0, out.find('\n') + 1);

  Table metrics;
  metrics.header = {"METRIC", "OBJECTIVE", "STRATEGY", "THRESHOLD"};
  for (const Metric& metric : experiment.metrics()) {
    metrics.rows.push_back(
        {metric.name(),
         // Unspecified means maximize and optimize (experiment.proto); say so.
         metric.objective() == hpo::v1::OBJECTIVE_UNSPECIFIED
             ? "maximize"
             : ShortEnumName(hpo::v1::Objective_descriptor(), metric.objective()),
         metric.strategy() == hpo::v1::METRIC_STRATEGY_UNSPECIFIED
             ? "optimize"
             : ShortEnumName(hpo::v1::MetricStrategy_descriptor(), metric.strategy()),
         metric.has_threshold() ? FormatDouble(metric.threshold()) : ""});
  }
  absl::StrAppend(&out, "\n", RenderTable(metrics));

  const hpo::v1::SearchSpace& space = experiment.search_space();
  Table parameters;
  parameters.header = {"PARAMETER", "TYPE", "VALUES", "TRANSFORMATION", "DEFAULT", "CONDITIONS"};
  for (const auto& parameter : space.parameters()) {
    std::string values;
    if (parameter.categorical_values_size() > 0) {
      values = absl::StrJoin(parameter.categorical_values(), ", ");
    } else if (parameter.grid_size() > 0) {
      values = absl::StrCat(
          "{",
          absl::StrJoin(parameter.grid(), ", ",
                        [](std::string* out, double v) { out->append(FormatDouble(v)); }),
          "}");
    } else if (parameter.has_bounds()) {
      values = absl::StrCat("[", FormatDouble(parameter.bounds().min()), ", ",
                            FormatDouble(parameter.bounds().max()), "]");
    }
    std::vector<std::string> conditions;
    for (const auto& condition : parameter.conditions()) {
      conditions.push_back(
          absl::StrCat(condition.name(), " in {", absl::StrJoin(condition.values(), ", "), "}"));
    }
    parameters.rows.push_back(
        {parameter.name(), ShortEnumName(hpo::v1::ParameterType_descriptor(), parameter.type()),
         values,
         parameter.transformation() == hpo::v1::TRANSFORMATION_NONE
             ? ""
             : ShortEnumName(hpo::v1::Transformation_descriptor(), parameter.transformation()),
         FormatParameterValue(parameter.default_value()), absl::StrJoin(conditions, " and ")});
  }
  for (const auto& conditional : space.conditionals()) {
    parameters.rows.push_back(
        {conditional.name(), "conditional", absl::StrJoin(conditional.values(), ", "), "", "", ""});
  }
  absl::StrAppend(&out, "\n", RenderTable(parameters));

  if (space.linear_constraints_size() > 0) {
    absl::StrAppend(&out, "\nLINEAR CONSTRAINTS\n");
    for (const auto& constraint : space.linear_constraints()) {
      std::vector<std::string> terms;
      for (const auto& term : constraint.terms()) {
        terms.push_back(term.weight() == 1
                            ? term.name()
                            : absl::StrCat(FormatDouble(term.weight()), "*", term.name()));
      }
      const char* op = constraint.type() == hpo::v1::CONSTRAINT_TYPE_GREATER_THAN ? ">=" : "<=";
      absl::StrAppend(&out, absl::StrJoin(terms, " + "), " ", op, " ",
                      FormatDouble(constraint.threshold()), "\n");
    }
  }
  return out;
}

std::string DescribeSuggestion(const hpo::v1::Suggestion& suggestion) {
  std::string out =
      absl::StrCat("suggestion ", suggestion.id(), " (",
                   ShortEnumName(hpo::v1::SuggestionState_descriptor(), suggestion.state()),
                   ", source ", suggestion.source().empty() ? "-" : suggestion.source(), ")\n");
  // Sorted by name: the map has no order of its own.
  std::vector<std::string> names;
  for (const auto& [name, value] : suggestion.assignment().values()) names.push_back(name);
  std::sort(names.begin(), names.end());
  Table table;
  table.header = {"NAME", "VALUE"};
  for (const std::string& name : names) {
    table.rows.push_back({name, FormatParameterValue(suggestion.assignment().values().at(name))});
  }
  return out + RenderTable(table);
}

}  // namespace hpo::cli
