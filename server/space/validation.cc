#include "server/space/validation.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/space/feasibility.h"
#include "server/space/search_space.h"

namespace hpo::space {
namespace {

using hpo::v1::Parameter;
using hpo::v1::ParameterValue;

// The values of every conditional, by name (views into the space).
using ConditionalValues =
    absl::flat_hash_map<absl::string_view, absl::flat_hash_set<absl::string_view>>;

absl::Status Invalid(absl::string_view path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
}

std::string Num(double x) { return FormatDouble(x); }

// User text in messages is cut to this many bytes, so that a refusal stays small (gRPC clients
// refuse status messages over 8 KB) whatever the input.
constexpr size_t kQuotedBytes = 64;

// The first kQuotedBytes of `s` (cut at a character boundary), escaped, with "..." if cut.
std::string Shortened(absl::string_view s) {
  if (s.size() <= kQuotedBytes) return absl::Utf8SafeCEscape(s);
  size_t n = kQuotedBytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return absl::StrCat(absl::Utf8SafeCEscape(s.substr(0, n)), "...");
}

// `s` quoted for a message; a cut value also gives its full length.
std::string Quote(absl::string_view s) {
  if (s.size() <= kQuotedBytes) return absl::StrCat("\"", Shortened(s), "\"");
  return absl::StrCat("\"", Shortened(s), "\" (", s.size(), " bytes)");
}

// Decodes the UTF-8 character at s[*pos] into *c and advances *pos; false if the bytes there are
// not a valid (shortest-form, non-surrogate) encoding.
bool NextChar(absl::string_view s, size_t* pos, char32_t* c) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(*pos);
  int extra;
  char32_t min;
  if (b0 < 0x80) {
    *c = b0;
    ++*pos;
    return true;
  } else if ((b0 & 0xE0) == 0xC0) {
    extra = 1, min = 0x80, *c = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    extra = 2, min = 0x800, *c = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    extra = 3, min = 0x10000, *c = b0 & 0x07;
  } else {
    return false;
  }
  if (*pos + extra >= s.size()) return false;
  for (int k = 1; k <= extra; ++k) {
    if ((byte(*pos + k) & 0xC0) != 0x80) return false;
    *c = (*c << 6) | (byte(*pos + k) & 0x3F);
  }
  if (*c < min || *c > 0x10FFFF || (*c >= 0xD800 && *c <= 0xDFFF)) return false;
  *pos += extra + 1;
  return true;
}

// Display names (experiments): valid UTF-8, 1 to kMaxNameLength characters, no control
// characters (C0, DEL, C1). Spaces and any script are fine.
absl::Status CheckDisplayName(absl::string_view path, absl::string_view name) {
  if (name.empty()) return Invalid(path, "is required");
  size_t pos = 0;
  int chars = 0;
  while (pos < name.size()) {
    const size_t at = pos;
    char32_t c;
    if (!NextChar(name, &pos, &c)) {
      return Invalid(path, absl::StrCat(Quote(name), " is not valid UTF-8 (at byte ", at, ")"));
    }
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) {
      return Invalid(path, absl::StrCat(Quote(name), " must not contain control characters (U+",
                                        absl::Hex(static_cast<uint32_t>(c), absl::kZeroPad4),
                                        " at byte ", at, ")"));
    }
    if (++chars > kMaxNameLength) {
      return Invalid(path, absl::StrCat(Quote(name), " must be at most ", kMaxNameLength,
                                        " characters"));
    }
  }
  return absl::OkStatus();
}

// A length limit on a string field (bytes).
absl::Status CheckLength(absl::string_view path, absl::string_view value, size_t min, size_t max) {
  if (value.size() < min || value.size() > max) {
    return Invalid(path, absl::StrCat(Quote(value), " must be ", min, " to ", max, " bytes long"));
  }
  return absl::OkStatus();
}

// [A-Za-z][A-Za-z0-9_.-]{0,127}; parameters and conditionals may also start with '_'.
bool IsValidName(absl::string_view name, bool allow_leading_underscore) {
  if (name.empty() || name.size() > static_cast<size_t>(kMaxNameLength)) return false;
  const char first = name[0];
  const bool first_ok = (first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z') ||
                        (allow_leading_underscore && first == '_');
  if (!first_ok) return false;
  for (char c : name.substr(1)) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status CheckName(absl::string_view path, absl::string_view name,
                       bool allow_leading_underscore) {
  if (name.empty()) return Invalid(path, "is required");
  if (!IsValidName(name, allow_leading_underscore)) {
    return Invalid(path, absl::StrCat(Quote(name), " must match ",
                                      allow_leading_underscore ? "[A-Za-z_]" : "[A-Za-z]",
                                      "[A-Za-z0-9_.-]{0,127}"));
  }
  return absl::OkStatus();
}

std::string Indexed(absl::string_view field, absl::string_view list, int i,
                    absl::string_view name) {
  if (name.empty()) return absl::StrCat(field, list, "[", i, "]");
  return absl::StrCat(field, list, "[", i, "] (", Shortened(name), ")");
}

bool IsInteger(double x) { return std::isfinite(x) && std::floor(x) == x && std::fabs(x) < 9e15; }

bool GridContains(const Parameter& p, double x) {
  for (double g : p.grid()) {
    if (std::fabs(x - g) <= 1e-9 * std::max(1.0, std::fabs(g))) return true;
  }
  return false;
}

bool HasPrior(const Parameter& p) {
  return p.has_prior() && p.prior().kind_case() != hpo::v1::Prior::KIND_NOT_SET;
}

const char* KindName(const ParameterValue& v) {
  switch (v.kind_case()) {
    case ParameterValue::kNumberValue:
      return "number_value";
    case ParameterValue::kIntValue:
      return "int_value";
    case ParameterValue::kStringValue:
      return "string_value";
    default:
      return "no value";
  }
}

absl::Status ValidateConditional(const hpo::v1::Conditional& c, absl::string_view path) {
  if (c.values_size() < 2) return Invalid(absl::StrCat(path, ".values"), "at least 2 values are required");
  if (c.values_size() > kMaxCategoricalValues) {
    return Invalid(absl::StrCat(path, ".values"),
                   absl::StrCat("at most ", kMaxCategoricalValues, " values are allowed"));
  }
  std::set<std::string> seen;
  for (int j = 0; j < c.values_size(); ++j) {
    const std::string vpath = absl::StrCat(path, ".values[", j, "]");
    HPO_RETURN_IF_ERROR(CheckLength(vpath, c.values(j), 1, kMaxValueLength));
    if (!seen.insert(c.values(j)).second) {
      return Invalid(vpath, absl::StrCat("duplicate value ", Quote(c.values(j))));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateNumericDomain(const Parameter& p, absl::string_view path) {
  const bool is_int = p.type() == hpo::v1::PARAMETER_TYPE_INT;
  const bool is_log = p.transformation() == hpo::v1::TRANSFORMATION_LOG;
  if (p.categorical_values_size() > 0) {
    return Invalid(absl::StrCat(path, ".categorical_values"),
                   "only allowed for categorical parameters");
  }
  if (p.has_bounds()) {
    const std::string bpath = absl::StrCat(path, ".bounds");
    const double lo = p.bounds().min(), hi = p.bounds().max();
    if (!std::isfinite(lo) || !std::isfinite(hi)) return Invalid(bpath, "min and max must be finite");
    if (lo >= hi) {
      return Invalid(bpath, absl::StrCat("min (", Num(lo), ") must be < max (", Num(hi), ")"));
    }
    // The optimizers map [0, 1] onto min + u * (max - min): an infinite width would make them
    // propose NaN or infinity (e.g. min -1e308, max 1e308).
    if (!std::isfinite(hi - lo)) {
      return Invalid(bpath, absl::StrCat("max - min must be finite (min ", Num(lo), ", max ",
                                         Num(hi), ")"));
    }
    if (is_int && (!IsInteger(lo) || !IsInteger(hi))) {
      return Invalid(bpath, absl::StrCat("min (", Num(lo), ") and max (", Num(hi),
                                         ") must be integers for an int parameter"));
    }
    if (is_log && lo <= 0) {
      return Invalid(bpath, absl::StrCat("min (", Num(lo), ") must be > 0 with transformation log"));
    }
  }
  if (p.grid_size() > 0) {
    const std::string gpath = absl::StrCat(path, ".grid");
    if (p.grid_size() > kMaxGridValues) {
      return Invalid(gpath, absl::StrCat("at most ", kMaxGridValues, " values are allowed"));
    }
    std::set<double> seen;
    for (int j = 0; j < p.grid_size(); ++j) {
      const double g = p.grid(j);
      const std::string vpath = absl::StrCat(gpath, "[", j, "]");
      if (!std::isfinite(g)) return Invalid(vpath, "must be finite");
      if (is_int && !IsInteger(g)) {
        return Invalid(vpath, absl::StrCat(Num(g), " must be an integer for an int parameter"));
      }
      if (is_log && g <= 0) {
        return Invalid(vpath, absl::StrCat(Num(g), " must be > 0 with transformation log"));
      }
      if (p.has_bounds() && (g < p.bounds().min() || g > p.bounds().max())) {
        return Invalid(vpath, absl::StrCat(Num(g), " is outside the bounds [", Num(p.bounds().min()),
                                           ", ", Num(p.bounds().max()), "]"));
      }
      if (!seen.insert(g).second) return Invalid(vpath, absl::StrCat("duplicate value ", Num(g)));
    }
    if (p.grid_size() < 2) return Invalid(gpath, "at least 2 unique values are required");
  } else if (!p.has_bounds()) {
    return Invalid(absl::StrCat(path, ".bounds"),
                   "required for double and int parameters without a grid");
  }
  if (HasPrior(p)) {
    const std::string ppath = absl::StrCat(path, ".prior");
    if (is_int || p.grid_size() > 0) {
      return Invalid(ppath, "only allowed for double parameters without a grid");
    }
    if (p.prior().has_normal()) {
      const auto& n = p.prior().normal();
      if (!std::isfinite(n.scale()) || n.scale() <= 0) {
        return Invalid(absl::StrCat(ppath, ".normal.scale"),
                       absl::StrCat("scale (", Num(n.scale()), ") must be finite and > 0"));
      }
      if (!std::isfinite(n.mean()) || n.mean() < p.bounds().min() || n.mean() > p.bounds().max()) {
        return Invalid(absl::StrCat(ppath, ".normal.mean"),
                       absl::StrCat("mean (", Num(n.mean()), ") must lie within the bounds [",
                                    Num(p.bounds().min()), ", ", Num(p.bounds().max()), "]"));
      }
    } else {
      const auto& b = p.prior().beta();
      if (!std::isfinite(b.shape_a()) || b.shape_a() <= 0) {
        return Invalid(absl::StrCat(ppath, ".beta.shape_a"),
                       absl::StrCat("shape_a (", Num(b.shape_a()), ") must be finite and > 0"));
      }
      if (!std::isfinite(b.shape_b()) || b.shape_b() <= 0) {
        return Invalid(absl::StrCat(ppath, ".beta.shape_b"),
                       absl::StrCat("shape_b (", Num(b.shape_b()), ") must be finite and > 0"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCategoricalDomain(const Parameter& p, absl::string_view path) {
  if (p.has_bounds()) return Invalid(absl::StrCat(path, ".bounds"), "not allowed for categorical parameters");
  if (p.grid_size() > 0) return Invalid(absl::StrCat(path, ".grid"), "not allowed for categorical parameters");
  if (p.transformation() != hpo::v1::TRANSFORMATION_NONE) {
    return Invalid(absl::StrCat(path, ".transformation"), "not allowed for categorical parameters");
  }
  if (HasPrior(p)) return Invalid(absl::StrCat(path, ".prior"), "not allowed for categorical parameters");
  const std::string cpath = absl::StrCat(path, ".categorical_values");
  if (p.categorical_values_size() < 2) return Invalid(cpath, "at least 2 values are required");
  if (p.categorical_values_size() > kMaxCategoricalValues) {
    return Invalid(cpath, absl::StrCat("at most ", kMaxCategoricalValues, " values are allowed"));
  }
  std::set<std::string> seen;
  for (int j = 0; j < p.categorical_values_size(); ++j) {
    const std::string vpath = absl::StrCat(cpath, "[", j, "]");
    HPO_RETURN_IF_ERROR(CheckLength(vpath, p.categorical_values(j), 1, kMaxValueLength));
    if (!seen.insert(p.categorical_values(j)).second) {
      return Invalid(vpath, absl::StrCat("duplicate value ", Quote(p.categorical_values(j))));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateParameter(const ConditionalValues& conditionals, const Parameter& p,
                               absl::string_view path) {
  if (!hpo::v1::ParameterType_IsValid(p.type()) ||
      p.type() == hpo::v1::PARAMETER_TYPE_UNSPECIFIED) {
    return Invalid(absl::StrCat(path, ".type"),
                   absl::StrCat("unknown or unspecified parameter type (", static_cast<int>(p.type()),
                                ")"));
  }
  if (!hpo::v1::Transformation_IsValid(p.transformation())) {
    return Invalid(absl::StrCat(path, ".transformation"), "unknown transformation");
  }
  if (p.type() == hpo::v1::PARAMETER_TYPE_CATEGORICAL) {
    HPO_RETURN_IF_ERROR(ValidateCategoricalDomain(p, path));
  } else {
    HPO_RETURN_IF_ERROR(ValidateNumericDomain(p, path));
  }
  if (p.default_value().kind_case() != ParameterValue::KIND_NOT_SET) {
    HPO_RETURN_IF_ERROR(ValidateParameterValue(p, p.default_value(),
                                               absl::StrCat(path, ".default_value")));
  }
  std::set<std::string> seen;
  for (int j = 0; j < p.conditions_size(); ++j) {
    const hpo::v1::Condition& c = p.conditions(j);
    const std::string cpath = absl::StrCat(path, ".conditions[", j, "]");
    auto conditional = conditionals.find(c.name());
    if (conditional == conditionals.end()) {
      return Invalid(cpath, absl::StrCat("unknown conditional ", Quote(c.name())));
    }
    if (!seen.insert(c.name()).second) {
      return Invalid(cpath, absl::StrCat("duplicate condition on conditional ", c.name()));
    }
    if (c.values_size() == 0) return Invalid(cpath, "values must not be empty");
    // Distinct values of the conditional: a condition is no longer than its conditional.
    absl::flat_hash_set<absl::string_view> listed;
    for (int k = 0; k < c.values_size(); ++k) {
      const std::string& v = c.values(k);
      if (!conditional->second.contains(v)) {
        return Invalid(cpath, absl::StrCat(Quote(v), " is not a value of conditional ", c.name()));
      }
      if (!listed.insert(v).second) {
        return Invalid(absl::StrCat(cpath, ".values[", k, "]"),
                       absl::StrCat("duplicate value ", Quote(v)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateConstraint(const hpo::v1::SearchSpace& space,
                                const hpo::v1::LinearConstraint& c, absl::string_view path) {
  if (c.type() == hpo::v1::CONSTRAINT_TYPE_UNSPECIFIED ||
      !hpo::v1::ConstraintType_IsValid(c.type())) {
    return Invalid(absl::StrCat(path, ".type"), "must be CONSTRAINT_TYPE_LESS_THAN or CONSTRAINT_TYPE_GREATER_THAN");
  }
  if (!std::isfinite(c.threshold())) return Invalid(absl::StrCat(path, ".threshold"), "must be finite");
  if (c.terms_size() == 0) return Invalid(absl::StrCat(path, ".terms"), "at least one term is required");
  std::set<std::string> seen;
  double magnitude = 0;  // sum of |weight| * largest |value|: bounds every |sum| of the terms
  for (int t = 0; t < c.terms_size(); ++t) {
    const hpo::v1::LinearConstraintTerm& term = c.terms(t);
    const std::string tpath = Indexed(path, ".terms", t, term.name());
    const Parameter* p = FindParameter(space, term.name());
    if (p == nullptr) return Invalid(tpath, absl::StrCat("unknown parameter ", Quote(term.name())));
    if (p->type() == hpo::v1::PARAMETER_TYPE_CATEGORICAL) {
      return Invalid(tpath, "categorical parameters cannot appear in linear constraints");
    }
    if (p->transformation() == hpo::v1::TRANSFORMATION_LOG) {
      return Invalid(tpath, "parameters with transformation log cannot appear in linear constraints");
    }
    if (!seen.insert(term.name()).second) {
      return Invalid(tpath, absl::StrCat("duplicate term for parameter ", term.name()));
    }
    if (!std::isfinite(term.weight()) || term.weight() == 0) {
      return Invalid(absl::StrCat(tpath, ".weight"),
                     absl::StrCat("weight (", Num(term.weight()), ") must be finite and non-zero"));
    }
    double largest = std::max(std::fabs(p->bounds().min()), std::fabs(p->bounds().max()));
    if (p->grid_size() > 0) {
      largest = 0;
      for (double g : p->grid()) largest = std::max(largest, std::fabs(g));
    }
    magnitude += std::fabs(term.weight()) * largest;
  }
  // An infinite weighted sum (weight 1e10 on a value near 1e300) is NaN or compares true
  // against a tolerance scaled by itself: violating assignments would pass.
  if (!std::isfinite(magnitude)) {
    return Invalid(absl::StrCat(path, ".terms"),
                   "weight * value can exceed the double range for values within the bounds; "
                   "rescale the weights or the parameters");
  }
  return absl::OkStatus();
}

bool IsOptimized(const hpo::v1::Metric& m) {
  return m.strategy() == hpo::v1::METRIC_STRATEGY_UNSPECIFIED ||
         m.strategy() == hpo::v1::METRIC_STRATEGY_OPTIMIZE;
}

absl::Status ValidateMetrics(const hpo::v1::Experiment& e) {
  if (e.metrics_size() == 0) return Invalid("metrics", "at least one metric is required");
  if (e.metrics_size() > kMaxMetrics) {
    return Invalid("metrics", absl::StrCat("at most ", kMaxMetrics, " metrics are allowed (got ",
                                           e.metrics_size(), ")"));
  }
  std::set<std::string> seen;
  int optimized = 0;
  for (int i = 0; i < e.metrics_size(); ++i) {
    const hpo::v1::Metric& m = e.metrics(i);
    const std::string path = Indexed("", "metrics", i, m.name());
    if (m.name().empty()) return Invalid(absl::StrCat(path, ".name"), "is required");
    if (m.name().size() > static_cast<size_t>(kMaxNameLength)) {
      return Invalid(absl::StrCat(path, ".name"),
                     absl::StrCat("must be at most ", kMaxNameLength, " characters"));
    }
    if (!seen.insert(m.name()).second) {
      return Invalid(absl::StrCat(path, ".name"), absl::StrCat("duplicate metric name ", Quote(m.name())));
    }
    if (!hpo::v1::Objective_IsValid(m.objective())) {
      return Invalid(absl::StrCat(path, ".objective"), "unknown objective");
    }
    if (!hpo::v1::MetricStrategy_IsValid(m.strategy())) {
      return Invalid(absl::StrCat(path, ".strategy"), "unknown strategy");
    }
    if (!hpo::v1::CurveReduction_IsValid(m.reduction())) {
      return Invalid(absl::StrCat(path, ".reduction"), "unknown reduction");
    }
    if (m.has_threshold() && !std::isfinite(m.threshold())) {
      return Invalid(absl::StrCat(path, ".threshold"), "must be finite");
    }
    if (m.strategy() == hpo::v1::METRIC_STRATEGY_CONSTRAINT && !m.has_threshold()) {
      return Invalid(absl::StrCat(path, ".threshold"), "is required for constraint metrics");
    }
    if (IsOptimized(m)) ++optimized;
  }
  if (optimized == 0) return Invalid("metrics", "at least one metric must have strategy optimize");
  if (optimized > kMaxOptimizedMetrics) {
    return Invalid("metrics", absl::StrCat("at most ", kMaxOptimizedMetrics,
                                           " metrics may have strategy optimize (got ", optimized, ")"));
  }
  return absl::OkStatus();
}

absl::Status NonNegative(absl::string_view path, int64_t v) {
  if (v < 0) return Invalid(path, absl::StrCat("must be >= 0 (got ", v, ")"));
  return absl::OkStatus();
}

absl::Status ReductionFactor(absl::string_view path, int64_t v) {
  if (v != 0 && v < 2) return Invalid(path, absl::StrCat("must be 0 (default) or >= 2 (got ", v, ")"));
  return absl::OkStatus();
}

absl::Status ValidatePruner(const hpo::v1::Experiment& e) {
  const hpo::v1::PrunerConfig& p = e.pruner();
  HPO_RETURN_IF_ERROR(NonNegative("pruner.patience", p.patience()));
  HPO_RETURN_IF_ERROR(
      CheckLength("pruner.regulator.loss_metric", p.regulator().loss_metric(), 0, kMaxNameLength));
  if (!p.metric().empty()) {
    bool known = false;
    for (const hpo::v1::Metric& m : e.metrics()) known = known || m.name() == p.metric();
    if (!known) return Invalid("pruner.metric", absl::StrCat("unknown metric ", Quote(p.metric())));
  }
  switch (p.kind_case()) {
    case hpo::v1::PrunerConfig::kMedian: {
      const auto& m = p.median();
      HPO_RETURN_IF_ERROR(NonNegative("pruner.median.startup_trials", m.startup_trials()));
      HPO_RETURN_IF_ERROR(NonNegative("pruner.median.warmup_steps", m.warmup_steps()));
      HPO_RETURN_IF_ERROR(NonNegative("pruner.median.interval_steps", m.interval_steps()));
      break;
    }
    case hpo::v1::PrunerConfig::kPercentile: {
      const auto& m = p.percentile();
      if (!(m.percentile() > 0 && m.percentile() < 100)) {
        return Invalid("pruner.percentile.percentile",
                       absl::StrCat("must be in (0, 100) (got ", Num(m.percentile()), ")"));
      }
      HPO_RETURN_IF_ERROR(NonNegative("pruner.percentile.startup_trials", m.startup_trials()));
      HPO_RETURN_IF_ERROR(NonNegative("pruner.percentile.warmup_steps", m.warmup_steps()));
      HPO_RETURN_IF_ERROR(NonNegative("pruner.percentile.interval_steps", m.interval_steps()));
      break;
    }
    case hpo::v1::PrunerConfig::kSuccessiveHalving: {
      const auto& m = p.successive_halving();
      HPO_RETURN_IF_ERROR(NonNegative("pruner.successive_halving.min_resource", m.min_resource()));
      HPO_RETURN_IF_ERROR(
          ReductionFactor("pruner.successive_halving.reduction_factor", m.reduction_factor()));
      HPO_RETURN_IF_ERROR(NonNegative("pruner.successive_halving.min_early_stopping_rate",
                                      m.min_early_stopping_rate()));
      break;
    }
    case hpo::v1::PrunerConfig::kHyperband: {
      const auto& m = p.hyperband();
      HPO_RETURN_IF_ERROR(NonNegative("pruner.hyperband.min_resource", m.min_resource()));
      HPO_RETURN_IF_ERROR(NonNegative("pruner.hyperband.max_resource", m.max_resource()));
      HPO_RETURN_IF_ERROR(ReductionFactor("pruner.hyperband.reduction_factor", m.reduction_factor()));
      const int64_t min_resource = m.min_resource() == 0 ? 1 : m.min_resource();
      if (m.max_resource() != 0 && m.max_resource() < min_resource) {
        return Invalid("pruner.hyperband.max_resource",
                       absl::StrCat("must be >= min_resource (", min_resource, ")"));
      }
      break;
    }
    case hpo::v1::PrunerConfig::kThreshold: {
      const auto& m = p.threshold();
      if (!m.has_lower() && !m.has_upper()) {
        return Invalid("pruner.threshold", "lower or upper is required");
      }
      if (m.has_lower() && !std::isfinite(m.lower())) return Invalid("pruner.threshold.lower", "must be finite");
      if (m.has_upper() && !std::isfinite(m.upper())) return Invalid("pruner.threshold.upper", "must be finite");
      if (m.has_lower() && m.has_upper() && m.lower() > m.upper()) {
        return Invalid("pruner.threshold", absl::StrCat("lower (", Num(m.lower()),
                                                         ") must be <= upper (", Num(m.upper()), ")"));
      }
      HPO_RETURN_IF_ERROR(NonNegative("pruner.threshold.warmup_steps", m.warmup_steps()));
      HPO_RETURN_IF_ERROR(NonNegative("pruner.threshold.interval_steps", m.interval_steps()));
      break;
    }
    case hpo::v1::PrunerConfig::KIND_NOT_SET:
      break;
  }
  return absl::OkStatus();
}

// Trainer options: names of 1 to kMaxMetadataKeyLength bytes; parameter_mapping values name a
// parameter or conditional of the space (a worker would otherwise run without that option).
absl::Status ValidateTraining(const hpo::v1::Experiment& e) {
  const hpo::v1::TrainingSpec& t = e.training();
  if (t.ranks_per_trial() < 0 || t.ranks_per_trial() > 64) {
    return Invalid("training.ranks_per_trial",
                   absl::StrCat("must be between 1 and 64 workers per trial, 0 meaning 1 (got ",
                                t.ranks_per_trial(), ")"));
  }
  for (const auto& [path, map] : {std::pair{"training.parameter_mapping", &t.parameter_mapping()},
                                  std::pair{"training.fixed_options", &t.fixed_options()}}) {
    HPO_RETURN_IF_ERROR(ValidateStringMap(*map, path, kMaxTrainingOptions, kMaxMetadataKeyLength,
                                          kMaxMetadataValueLength));
  }
  std::map<std::string, std::string> sorted(t.parameter_mapping().begin(),
                                            t.parameter_mapping().end());
  for (const auto& [option, name] : sorted) {
    if (FindParameter(e.search_space(), name) == nullptr &&
        FindConditional(e.search_space(), name) == nullptr) {
      return Invalid(absl::StrCat("training.parameter_mapping[\"", Shortened(option), "\"]"),
                     absl::StrCat(Quote(name), " is not a parameter or conditional of the "
                                  "search space"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMetricValue(const hpo::v1::Experiment& e, const hpo::v1::MetricValue& v,
                                 absl::string_view path, std::set<std::string>* seen) {
  if (v.name().empty()) return Invalid(absl::StrCat(path, ".name"), "is required");
  bool known = false;
  for (const hpo::v1::Metric& m : e.metrics()) known = known || m.name() == v.name();
  if (!known) return Invalid(path, absl::StrCat("unknown metric ", Quote(v.name())));
  if (!seen->insert(v.name()).second) {
    return Invalid(path, absl::StrCat("duplicate value for metric ", v.name()));
  }
  if (!std::isfinite(v.value())) {
    return Invalid(absl::StrCat(path, ".value"), absl::StrCat("must be finite (got ", Num(v.value()), ")"));
  }
  if (v.has_stddev() && (!std::isfinite(v.stddev()) || v.stddev() < 0)) {
    return Invalid(absl::StrCat(path, ".stddev"),
                   absl::StrCat("must be finite and >= 0 (got ", Num(v.stddev()), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> DefaultAlgorithmNames() {
  return {"quasi_random", "random", "bayesian", "sobol", "grid"};
}

absl::Status ValidateParameterValue(const Parameter& p, const ParameterValue& value,
                                    absl::string_view field) {
  switch (p.type()) {
    case hpo::v1::PARAMETER_TYPE_DOUBLE: {
      if (value.kind_case() != ParameterValue::kNumberValue) {
        return Invalid(field, absl::StrCat("expected number_value for double parameter ", p.name(),
                                           ", got ", KindName(value)));
      }
      const double x = value.number_value();
      if (!std::isfinite(x)) return Invalid(field, absl::StrCat("value of ", p.name(), " must be finite"));
      if (p.grid_size() > 0) {
        if (!GridContains(p, x)) {
          return Invalid(field, absl::StrCat(Num(x), " is not a grid value of parameter ", p.name()));
        }
      } else if (x < p.bounds().min() || x > p.bounds().max()) {
        return Invalid(field, absl::StrCat(Num(x), " is outside the bounds [", Num(p.bounds().min()),
                                           ", ", Num(p.bounds().max()), "] of parameter ", p.name()));
      }
      return absl::OkStatus();
    }
    case hpo::v1::PARAMETER_TYPE_INT: {
      if (value.kind_case() != ParameterValue::kIntValue) {
        return Invalid(field, absl::StrCat("expected int_value for int parameter ", p.name(), ", got ",
                                           KindName(value)));
      }
      const int64_t x = value.int_value();
      if (p.grid_size() > 0) {
        bool found = false;
        for (double g : p.grid()) found = found || std::llround(g) == x;
        if (!found) return Invalid(field, absl::StrCat(x, " is not a grid value of parameter ", p.name()));
      } else if (static_cast<double>(x) < p.bounds().min() ||
                 static_cast<double>(x) > p.bounds().max()) {
        return Invalid(field, absl::StrCat(x, " is outside the bounds [", Num(p.bounds().min()), ", ",
                                           Num(p.bounds().max()), "] of parameter ", p.name()));
      }
      return absl::OkStatus();
    }
    case hpo::v1::PARAMETER_TYPE_CATEGORICAL: {
      if (value.kind_case() != ParameterValue::kStringValue) {
        return Invalid(field, absl::StrCat("expected string_value for categorical parameter ",
                                           p.name(), ", got ", KindName(value)));
      }
      if (std::find(p.categorical_values().begin(), p.categorical_values().end(),
                    value.string_value()) == p.categorical_values().end()) {
        return Invalid(field, absl::StrCat(Quote(value.string_value()),
                                           " is not a categorical value of parameter ", p.name()));
      }
      return absl::OkStatus();
    }
    default:
      return Invalid(field, absl::StrCat("parameter ", p.name(), " has no valid type"));
  }
}

absl::Status ValidateStringMap(const google::protobuf::Map<std::string, std::string>& map,
                               absl::string_view field, size_t max_entries, size_t max_key,
                               size_t max_value) {
  if (map.size() > max_entries) {
    return Invalid(field, absl::StrCat("at most ", max_entries, " entries are allowed (got ",
                                       map.size(), ")"));
  }
  std::map<absl::string_view, absl::string_view> sorted(map.begin(), map.end());
  for (const auto& [key, value] : sorted) {
    const std::string kpath = absl::StrCat(field, "[\"", Shortened(key), "\"]");
    if (key.empty() || key.size() > max_key) {
      return Invalid(kpath,
                     absl::StrCat("keys must be 1 to ", max_key, " bytes (got ", key.size(), ")"));
    }
    if (value.size() > max_value) {
      return Invalid(kpath, absl::StrCat("values must be at most ", max_value, " bytes (got ",
                                         value.size(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMetadata(const google::protobuf::Map<std::string, std::string>& metadata,
                              absl::string_view field) {
  return ValidateStringMap(metadata, field, kMaxMetadataEntries, kMaxMetadataKeyLength,
                           kMaxMetadataValueLength);
}

std::string BoundFailureReason(std::string reason) {
  if (reason.size() <= kMaxFailureReasonLength) return reason;
  const std::string marker = absl::StrCat(" [... cut: ", reason.size(), " bytes in all]");
  size_t n = kMaxFailureReasonLength - marker.size();
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  reason.resize(n);
  reason += marker;
  return reason;
}

absl::Status ValidateSearchSpace(const hpo::v1::SearchSpace& space, absl::string_view field,
                                 const WorkLimits& limits) {
  const std::string params_path = absl::StrCat(field, ".parameters");
  if (space.parameters_size() == 0) return Invalid(params_path, "at least one parameter is required");
  if (space.parameters_size() > kMaxParameters) {
    return Invalid(params_path, absl::StrCat("at most ", kMaxParameters, " parameters are allowed (got ",
                                             space.parameters_size(), ")"));
  }
  if (space.conditionals_size() > kMaxConditionals) {
    return Invalid(absl::StrCat(field, ".conditionals"),
                   absl::StrCat("at most ", kMaxConditionals, " conditionals are allowed (got ",
                                space.conditionals_size(), ")"));
  }
  if (space.linear_constraints_size() > kMaxLinearConstraints) {
    return Invalid(absl::StrCat(field, ".linear_constraints"),
                   absl::StrCat("at most ", kMaxLinearConstraints,
                                " linear constraints are allowed (got ",
                                space.linear_constraints_size(), ")"));
  }
  // Names are unique across conditionals and parameters.
  std::map<std::string, std::string> names;  // name -> path of first use
  ConditionalValues conditionals;
  for (int i = 0; i < space.conditionals_size(); ++i) {
    const hpo::v1::Conditional& c = space.conditionals(i);
    const std::string path = Indexed(field, ".conditionals", i, c.name());
    HPO_RETURN_IF_ERROR(CheckName(absl::StrCat(path, ".name"), c.name(), true));
    auto [it, inserted] = names.emplace(c.name(), path);
    if (!inserted) {
      return Invalid(absl::StrCat(path, ".name"),
                     absl::StrCat("duplicate name ", Quote(c.name()), " (also used by ", it->second, ")"));
    }
    HPO_RETURN_IF_ERROR(ValidateConditional(c, path));
    conditionals[c.name()].insert(c.values().begin(), c.values().end());
  }
  for (int i = 0; i < space.parameters_size(); ++i) {
    const Parameter& p = space.parameters(i);
    const std::string path = Indexed(field, ".parameters", i, p.name());
    HPO_RETURN_IF_ERROR(CheckName(absl::StrCat(path, ".name"), p.name(), true));
    auto [it, inserted] = names.emplace(p.name(), path);
    if (!inserted) {
      return Invalid(absl::StrCat(path, ".name"),
                     absl::StrCat("duplicate name ", Quote(p.name()), " (also used by ", it->second, ")"));
    }
    HPO_RETURN_IF_ERROR(ValidateParameter(conditionals, p, path));
  }
  for (int i = 0; i < space.linear_constraints_size(); ++i) {
    HPO_RETURN_IF_ERROR(ValidateConstraint(space, space.linear_constraints(i),
                                           absl::StrCat(field, ".linear_constraints[", i, "]")));
  }
  if (space.linear_constraints_size() > 0) {
    ConstraintFeasibility feasibility(space, limits);
    absl::Status s = feasibility.CheckFeasible();
    const std::string path = absl::StrCat(field, ".linear_constraints");
    if (absl::IsCancelled(s)) return absl::CancelledError(absl::StrCat(path, ": ", s.message()));
    if (absl::IsResourceExhausted(s)) {
      return Invalid(path, absl::StrCat(s.message(), "; simplify the space: fewer constraints or "
                                        "terms, fewer conditionals gating constrained parameters, "
                                        "or double instead of int and grid parameters in "
                                        "constraints"));
    }
    if (!s.ok()) return Invalid(path, s.message());
  }
  return absl::OkStatus();
}

absl::Status ValidateExperiment(const hpo::v1::Experiment& e,
                                absl::Span<const std::string> algorithm_names,
                                const WorkLimits& limits) {
  // First, and cheap: the bound every reply that carries the experiment relies on.
  const size_t bytes = e.ByteSizeLong();
  if (bytes > kMaxExperimentBytes) {
    return Invalid("experiment", absl::StrCat("is ", bytes, " bytes serialized; at most ",
                                              kMaxExperimentBytes, " are allowed"));
  }
  HPO_RETURN_IF_ERROR(CheckDisplayName("name", e.name()));
  if (!e.project().empty()) HPO_RETURN_IF_ERROR(CheckName("project", e.project(), false));
  HPO_RETURN_IF_ERROR(ValidateSearchSpace(e.search_space(), "search_space", limits));
  HPO_RETURN_IF_ERROR(ValidateMetrics(e));
  if (e.observation_budget() <= 0) {
    return Invalid("observation_budget",
                   absl::StrCat("must be > 0 (got ", e.observation_budget(), ")"));
  }
  if (e.parallel_bandwidth() < 0) {
    return Invalid("parallel_bandwidth",
                   absl::StrCat("must be >= 0, 0 meaning 1 (got ", e.parallel_bandwidth(), ")"));
  }
  const std::string& algorithm = e.optimizer().algorithm();
  if (!algorithm.empty() &&
      std::find(algorithm_names.begin(), algorithm_names.end(), algorithm) == algorithm_names.end()) {
    return Invalid("optimizer.algorithm",
                   absl::StrCat("unknown algorithm ", Quote(algorithm), " (known: ",
                                absl::StrJoin(algorithm_names, ", "), ")"));
  }
  HPO_RETURN_IF_ERROR(
      NonNegative("optimizer.initial_design_size", e.optimizer().initial_design_size()));
  HPO_RETURN_IF_ERROR(ValidateTraining(e));
  HPO_RETURN_IF_ERROR(ValidatePruner(e));
  HPO_RETURN_IF_ERROR(ValidateMetadata(e.metadata(), "metadata"));
  return absl::OkStatus();
}

absl::Status ValidateExperiment(const hpo::v1::Experiment& experiment) {
  const std::vector<std::string> names = DefaultAlgorithmNames();
  return ValidateExperiment(experiment, names);
}

absl::Status ValidateAssignment(const hpo::v1::SearchSpace& space,
                                const hpo::v1::Assignment& assignment, absl::string_view field) {
  auto key_path = [&](absl::string_view key) {
    return absl::StrCat(field, "[", Shortened(key), "]");
  };
  std::map<std::string, const ParameterValue*> sorted;
  for (const auto& [key, value] : assignment.values()) sorted.emplace(key, &value);
  for (const auto& [key, value] : sorted) {
    if (FindParameter(space, key) == nullptr && FindConditional(space, key) == nullptr) {
      return Invalid(key_path(key), absl::StrCat("unknown parameter or conditional ", Quote(key)));
    }
  }
  for (const hpo::v1::Conditional& c : space.conditionals()) {
    auto it = sorted.find(c.name());
    if (it == sorted.end()) return Invalid(key_path(c.name()), absl::StrCat("conditional ", c.name(), " is missing"));
    const ParameterValue& v = *it->second;
    if (v.kind_case() != ParameterValue::kStringValue) {
      return Invalid(key_path(c.name()),
                     absl::StrCat("expected string_value for conditional ", c.name(), ", got ", KindName(v)));
    }
    if (std::find(c.values().begin(), c.values().end(), v.string_value()) == c.values().end()) {
      return Invalid(key_path(c.name()), absl::StrCat(Quote(v.string_value()),
                                                      " is not a value of conditional ", c.name()));
    }
  }
  for (const Parameter& p : space.parameters()) {
    auto it = sorted.find(p.name());
    std::optional<std::string> inactive = InactiveReason(p, assignment);
    if (inactive.has_value()) {
      if (it != sorted.end()) {
        return Invalid(key_path(p.name()),
                       absl::StrCat("parameter ", p.name(), " is inactive because ", *inactive,
                                    " and must be absent"));
      }
      continue;
    }
    if (it == sorted.end()) {
      return Invalid(key_path(p.name()), absl::StrCat("missing value for active parameter ", p.name()));
    }
    HPO_RETURN_IF_ERROR(ValidateParameterValue(p, *it->second, key_path(p.name())));
  }
  const int violated = FirstViolatedConstraint(space, assignment);
  if (violated >= 0) {
    const hpo::v1::LinearConstraint& c = space.linear_constraints(violated);
    return Invalid(field, absl::StrCat("violates linear constraint ", violated, ": sum of weighted values is ",
                                       Num(ConstraintLhs(c, assignment)),
                                       c.type() == hpo::v1::CONSTRAINT_TYPE_LESS_THAN ? ", must be <= "
                                                                                     : ", must be >= ",
                                       Num(c.threshold())));
  }
  return absl::OkStatus();
}

absl::StatusOr<hpo::v1::Assignment> CompleteAssignment(const hpo::v1::SearchSpace& space,
                                                       const hpo::v1::Assignment& partial,
                                                       absl::string_view field) {
  hpo::v1::Assignment out = partial;
  auto& values = *out.mutable_values();
  for (const hpo::v1::Conditional& c : space.conditionals()) {
    if (!values.contains(c.name()) && c.values_size() > 0) {
      values[c.name()].set_string_value(c.values(0));
    }
  }
  for (const Parameter& p : space.parameters()) {
    if (values.contains(p.name()) || !IsActive(p, out)) continue;
    if (p.default_value().kind_case() == ParameterValue::KIND_NOT_SET) {
      return Invalid(absl::StrCat(field, "[", p.name(), "]"),
                     absl::StrCat("missing value for active parameter ", p.name(),
                                  ", which has no default_value"));
    }
    values[p.name()] = p.default_value();
  }
  HPO_RETURN_IF_ERROR(ValidateAssignment(space, out, field));
  return out;
}

absl::Status ValidateObservationValues(
    const hpo::v1::Experiment& experiment,
    const google::protobuf::RepeatedPtrField<hpo::v1::MetricValue>& values, bool failed,
    absl::string_view field) {
  if (failed) {
    if (!values.empty()) return Invalid(field, "must be empty for a failed observation");
    return absl::OkStatus();
  }
  std::set<std::string> seen;
  for (int i = 0; i < values.size(); ++i) {
    HPO_RETURN_IF_ERROR(ValidateMetricValue(experiment, values[i],
                                            Indexed(field, "", i, values[i].name()), &seen));
  }
  for (const hpo::v1::Metric& m : experiment.metrics()) {
    if (m.strategy() == hpo::v1::METRIC_STRATEGY_STORE) continue;
    if (!seen.count(m.name())) return Invalid(field, absl::StrCat("missing value for metric ", m.name()));
  }
  return absl::OkStatus();
}

absl::Status ValidateCheckpoint(const hpo::v1::Experiment& experiment,
                                const hpo::v1::Checkpoint& checkpoint, absl::string_view field) {
  if (checkpoint.step() < 0) {
    return Invalid(absl::StrCat(field, ".step"), absl::StrCat("must be >= 0 (got ", checkpoint.step(), ")"));
  }
  if (!std::isfinite(checkpoint.elapsed_seconds()) || checkpoint.elapsed_seconds() < 0) {
    return Invalid(absl::StrCat(field, ".elapsed_seconds"),
                   absl::StrCat("must be finite and >= 0 (got ", Num(checkpoint.elapsed_seconds()), ")"));
  }
  const std::string mpath = absl::StrCat(field, ".metrics");
  if (checkpoint.metrics().empty()) return Invalid(mpath, "at least one metric value is required");
  if (checkpoint.metrics_size() > kMaxCheckpointMetrics) {
    return Invalid(mpath, absl::StrCat("at most ", kMaxCheckpointMetrics, " values (got ",
                                       checkpoint.metrics_size(), ")"));
  }
  // Learning curves may carry signals the experiment does not optimize (train_loss for the
  // regulator, throughput): any well-formed name is accepted.
  std::set<std::string> seen;
  for (int i = 0; i < checkpoint.metrics_size(); ++i) {
    const hpo::v1::MetricValue& v = checkpoint.metrics(i);
    const std::string path = Indexed(mpath, "", i, v.name());
    if (v.name().empty() || v.name().size() > 128) {
      return Invalid(absl::StrCat(path, ".name"), "must have 1 to 128 characters");
    }
    if (!seen.insert(v.name()).second) {
      return Invalid(path, absl::StrCat("duplicate value for metric ", v.name()));
    }
    if (!std::isfinite(v.value())) {
      return Invalid(absl::StrCat(path, ".value"), absl::StrCat("must be finite (got ", Num(v.value()), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace hpo::space
