#include "worker/trial_config.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace hpo::worker {
namespace {

using trainer::TrainOptions;

absl::Status Bad(const std::string& name, const std::string& value, absl::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat("trainer option ", name, ": expected ", want, ", got \"", value, "\""));
}

absl::Status SetDouble(const std::string& n, const std::string& v, double* out) {
  return absl::SimpleAtod(v, out) ? absl::OkStatus() : Bad(n, v, "a number");
}

absl::Status SetInt(const std::string& n, const std::string& v, int64_t* out) {
  if (absl::SimpleAtoi(v, out)) return absl::OkStatus();
  double d;  // "2e3" or "2000.0" from a double parameter
  if (absl::SimpleAtod(v, &d) && d == static_cast<double>(static_cast<int64_t>(d))) {
    *out = static_cast<int64_t>(d);
    return absl::OkStatus();
  }
  return Bad(n, v, "an integer");
}

absl::Status SetBool(const std::string& n, const std::string& v, bool* out) {
  return absl::SimpleAtob(v, out) ? absl::OkStatus() : Bad(n, v, "true or false");
}

absl::Status SetList(const std::string& n, const std::string& v, std::vector<int64_t>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(v, absl::ByAnyChar("-,"), absl::SkipEmpty())) {
    int64_t x;
    if (!absl::SimpleAtoi(part, &x) || x <= 0) return Bad(n, v, "sizes like 512-256-64");
    out->push_back(x);
  }
  return absl::OkStatus();
}

std::string ValueText(const hpo::v1::ParameterValue& v) {
  switch (v.kind_case()) {
    case hpo::v1::ParameterValue::kNumberValue: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.17g", v.number_value());
      return buf;
    }
    case hpo::v1::ParameterValue::kIntValue:
      return absl::StrCat(v.int_value());
    default:
      return v.string_value();
  }
}

}  // namespace

absl::Status SetTrainOption(const std::string& name, const std::string& value,
                            TrainOptions* o) {
  using Setter = std::function<absl::Status(const std::string&, const std::string&)>;
  auto d = [o](double TrainOptions::*field) -> Setter {
    return [o, field](const std::string& n, const std::string& v) { return SetDouble(n, v, &(o->*field)); };
  };
  auto i = [o](int64_t TrainOptions::*field) -> Setter {
    return [o, field](const std::string& n, const std::string& v) { return SetInt(n, v, &(o->*field)); };
  };
  // A size given in units of 2^shift bytes (KiB: 10, MiB: 20), stored in bytes.
  auto bytes = [o](int64_t TrainOptions::*field, int shift, const char* want) -> Setter {
    return [o, field, shift, want](const std::string& n, const std::string& v) {
      int64_t units;
      HPO_RETURN_IF_ERROR(SetInt(n, v, &units));
      if (units < 0 || units > (int64_t{1} << (60 - shift))) return Bad(n, v, want);
      o->*field = units << shift;
      return absl::OkStatus();
    };
  };
  const std::map<std::string, Setter> setters = {
      {"learning_rate", d(&TrainOptions::learning_rate)},
      {"warmup_steps", i(&TrainOptions::warmup_steps)},
      {"decay_start_step", i(&TrainOptions::decay_start_step)},
      {"decay_steps", i(&TrainOptions::decay_steps)},
      {"decay_power", d(&TrainOptions::decay_power)},
      {"end_learning_rate", d(&TrainOptions::end_learning_rate)},
      {"optimizer", [o](const std::string&, const std::string& v) {
         o->optimizer = absl::AsciiStrToLower(v);
         return absl::OkStatus();
       }},
      {"lamb_beta1", d(&TrainOptions::lamb_beta1)},
      {"lamb_beta2", d(&TrainOptions::lamb_beta2)},
      {"lamb_epsilon", d(&TrainOptions::lamb_epsilon)},
      {"weight_decay", d(&TrainOptions::weight_decay)},
      {"batch_size", i(&TrainOptions::batch_size)},
      {"eval_batch_size", i(&TrainOptions::eval_batch_size)},
      {"embedding_dim", i(&TrainOptions::embedding_dim)},
      {"bottom_mlp", [o](const std::string& n, const std::string& v) { return SetList(n, v, &o->bottom_mlp); }},
      {"top_mlp", [o](const std::string& n, const std::string& v) { return SetList(n, v, &o->top_mlp); }},
      {"table_sizes", [o](const std::string& n, const std::string& v) { return SetList(n, v, &o->table_sizes); }},
      {"table_scale", d(&TrainOptions::synthetic_table_scale)},
      {"max_table_rows", i(&TrainOptions::max_table_rows)},
      {"interaction_self", [o](const std::string& n, const std::string& v) { return SetBool(n, v, &o->interaction_self); }},
      {"bf16", [o](const std::string& n, const std::string& v) { return SetBool(n, v, &o->bf16); }},
      {"threads", [o](const std::string& n, const std::string& v) {
         int64_t t;
         HPO_RETURN_IF_ERROR(SetInt(n, v, &t));
         o->threads = static_cast<int>(t);
         return absl::OkStatus();
       }},
      {"seed", [o](const std::string& n, const std::string& v) {
         int64_t s;
         HPO_RETURN_IF_ERROR(SetInt(n, v, &s));
         o->seed = static_cast<uint64_t>(s);
         return absl::OkStatus();
       }},
      {"max_steps", i(&TrainOptions::max_steps)},
      {"eval_every", i(&TrainOptions::eval_every)},
      {"eval_examples", i(&TrainOptions::eval_examples)},
      {"data_source", [o](const std::string& n, const std::string& v) {
         absl::StatusOr<trainer::DataSource> s = trainer::ParseDataSource(v);
         if (!s.ok()) return Bad(n, v, "synthetic, binary or tsv");
         o->data.source = *s;
         return absl::OkStatus();
       }},
      {"train_path", [o](const std::string&, const std::string& v) {
         o->data.train_path = v;
         return absl::OkStatus();
       }},
      {"test_path", [o](const std::string&, const std::string& v) {
         o->data.test_path = v;
         return absl::OkStatus();
       }},
      {"synthetic_seed", [o](const std::string& n, const std::string& v) {
         int64_t s;
         HPO_RETURN_IF_ERROR(SetInt(n, v, &s));
         o->data.synthetic_seed = static_cast<uint64_t>(s);
         return absl::OkStatus();
       }},
      {"synthetic_test_examples", [o](const std::string& n, const std::string& v) {
         return SetInt(n, v, &o->data.synthetic_test_examples);
       }},
      {"shuffle_buffer", [o](const std::string& n, const std::string& v) {
         return SetInt(n, v, &o->data.shuffle_buffer);
       }},
      // Gang trials (distributed training).
      {"dist_timeout_seconds", d(&TrainOptions::dist_timeout_seconds)},
      {"replicate_below_rows", i(&TrainOptions::dist_replicate_below_rows)},
      {"overlap_allreduce", [o](const std::string& n, const std::string& v) {
         return SetBool(n, v, &o->dist_overlap_allreduce);
       }},
      {"allreduce_bucket_kb",
       bytes(&TrainOptions::dist_allreduce_bucket_bytes, 10, "0 (default) or a size in KiB")},
      {"rank_memory_mb",
       bytes(&TrainOptions::rank_memory_budget_bytes, 20, "0 (no limit) or a size in MiB")},
  };
  auto it = setters.find(name);
  if (it == setters.end()) {
    std::vector<std::string> known;
    for (const auto& entry : setters) known.push_back(entry.first);
    return absl::InvalidArgumentError(absl::StrCat("unknown trainer option \"", name, "\" (known: ",
                                                   absl::StrJoin(known, ", "), ")"));
  }
  return it->second(name, value);
}

absl::StatusOr<TrainOptions> BuildTrainOptions(
    const hpo::v1::Experiment& experiment, const hpo::v1::Suggestion& suggestion,
    const std::map<std::string, std::string>& overrides) {
  TrainOptions options;
  const hpo::v1::TrainingSpec& spec = experiment.training();
  if (spec.max_steps() > 0) options.max_steps = spec.max_steps();
  if (spec.eval_every_steps() > 0) options.eval_every = spec.eval_every_steps();
  // Sorted for deterministic error messages.
  std::map<std::string, std::string> fixed(spec.fixed_options().begin(), spec.fixed_options().end());
  for (const auto& [name, value] : fixed) {
    HPO_RETURN_IF_ERROR(SetTrainOption(name, value, &options));
  }
  std::map<std::string, std::string> mapping(spec.parameter_mapping().begin(),
                                             spec.parameter_mapping().end());
  for (const auto& [option, parameter] : mapping) {
    auto it = suggestion.assignment().values().find(parameter);
    if (it == suggestion.assignment().values().end()) continue;  // inactive: keep the default
    HPO_RETURN_IF_ERROR(SetTrainOption(option, ValueText(it->second), &options));
  }
  for (const auto& [name, value] : overrides) {
    HPO_RETURN_IF_ERROR(SetTrainOption(name, value, &options));
  }
  if (options.seed == 0) options.seed = static_cast<uint64_t>(suggestion.id());
  HPO_RETURN_IF_ERROR(trainer::ValidateTrainOptions(options));
  return options;
}

}  // namespace hpo::worker
