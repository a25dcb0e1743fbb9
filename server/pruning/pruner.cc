#include "server/pruning/pruner.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/pruning/curve.h"
#include "server/pruning/hyperband_pruner.h"
#include "server/pruning/patient_pruner.h"
#include "server/pruning/percentile_pruner.h"
#include "server/pruning/regulator.h"
#include "server/pruning/successive_halving_pruner.h"
#include "server/pruning/threshold_pruner.h"

namespace hpo::pruning {
namespace {

using ::hpo::v1::PrunerConfig;

// The regulator first; the pruner only when the regulator lets the trial go on.
class RegulatedPruner final : public Pruner {
 public:
  RegulatedPruner(Regulator regulator, std::unique_ptr<Pruner> pruner)
      : regulator_(std::move(regulator)), pruner_(std::move(pruner)) {}

  Decision ShouldPrune(const TrialCurve& trial,
                       absl::Span<const TrialCurve> others) const override {
    Decision decision = regulator_.ShouldPrune(trial, others);
    if (decision.stop) return decision;
    return pruner_->ShouldPrune(trial, others);
  }

 private:
  Regulator regulator_;
  std::unique_ptr<Pruner> pruner_;
};

absl::Status CheckSchedule(absl::string_view kind, int64_t startup_trials, int64_t warmup_steps,
                           int64_t interval_steps) {
  if (startup_trials < 0 || warmup_steps < 0 || interval_steps < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pruner.", kind, ": startup_trials, warmup_steps and interval_steps must be >= 0"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PercentilePrunerOptions> ScheduleOptions(double percentile, int32_t startup_trials,
                                                        int64_t warmup_steps,
                                                        int64_t interval_steps,
                                                        const std::string& rule) {
  HPO_RETURN_IF_ERROR(CheckSchedule(rule, startup_trials, warmup_steps, interval_steps));
  PercentilePrunerOptions options;
  options.percentile = percentile;
  if (startup_trials > 0) options.startup_trials = startup_trials;
  options.warmup_steps = warmup_steps;
  if (interval_steps > 0) options.interval_steps = interval_steps;
  options.rule = rule;
  return options;
}

absl::StatusOr<std::unique_ptr<Pruner>> CreateBasePruner(
    const hpo::v1::Experiment& experiment, const std::vector<WatchedMetric>& watched) {
  const PrunerConfig& config = experiment.pruner();
  switch (config.kind_case()) {
    case PrunerConfig::KIND_NOT_SET:
      return std::unique_ptr<Pruner>();
    case PrunerConfig::kMedian: {
      const auto& c = config.median();
      HPO_ASSIGN_OR_RETURN(PercentilePrunerOptions options,
                           ScheduleOptions(50.0, c.startup_trials(), c.warmup_steps(),
                                           c.interval_steps(), "median"));
      return std::unique_ptr<Pruner>(new PercentilePruner(watched, std::move(options)));
    }
    case PrunerConfig::kPercentile: {
      const auto& c = config.percentile();
      if (!(c.percentile() > 0 && c.percentile() < 100)) {
        return absl::InvalidArgumentError(
            absl::StrCat("pruner.percentile.percentile must be in (0, 100), got ", c.percentile()));
      }
      HPO_ASSIGN_OR_RETURN(PercentilePrunerOptions options,
                           ScheduleOptions(c.percentile(), c.startup_trials(), c.warmup_steps(),
                                           c.interval_steps(), "percentile"));
      return std::unique_ptr<Pruner>(new PercentilePruner(watched, std::move(options)));
    }
    case PrunerConfig::kSuccessiveHalving: {
      const auto& c = config.successive_halving();
      if (c.min_resource() < 0 || c.min_early_stopping_rate() < 0 || c.reduction_factor() < 0 ||
          c.reduction_factor() == 1) {
        return absl::InvalidArgumentError(
            "pruner.successive_halving: min_resource and min_early_stopping_rate must be >= 0 "
            "and reduction_factor >= 2 (0 means 4)");
      }
      SuccessiveHalvingPrunerOptions options;
      options.min_resource = c.min_resource();
      options.max_steps = experiment.training().max_steps();
      if (c.reduction_factor() > 0) options.reduction_factor = c.reduction_factor();
      options.min_early_stopping_rate = c.min_early_stopping_rate();
      return std::unique_ptr<Pruner>(new SuccessiveHalvingPruner(watched, options));
    }
    case PrunerConfig::kHyperband: {
      const auto& c = config.hyperband();
      if (c.min_resource() < 0 || c.max_resource() < 0 || c.reduction_factor() < 0 ||
          c.reduction_factor() == 1) {
        return absl::InvalidArgumentError(
            "pruner.hyperband: min_resource and max_resource must be >= 0 and reduction_factor "
            ">= 2 (0 means 3)");
      }
      HyperbandPrunerOptions options;
      options.experiment_id = experiment.id();
      if (c.min_resource() > 0) options.min_resource = c.min_resource();
      options.max_resource = c.max_resource();
      options.max_steps = experiment.training().max_steps();
      if (c.reduction_factor() > 0) options.reduction_factor = c.reduction_factor();
      if (options.max_resource > 0 && options.max_resource < options.min_resource) {
        return absl::InvalidArgumentError(
            absl::StrCat("pruner.hyperband: max_resource ", options.max_resource,
                         " is below min_resource ", options.min_resource));
      }
      return std::unique_ptr<Pruner>(new HyperbandPruner(watched, options));
    }
    case PrunerConfig::kThreshold: {
      const auto& c = config.threshold();
      HPO_RETURN_IF_ERROR(CheckSchedule("threshold", 0, c.warmup_steps(), c.interval_steps()));
      if (!c.has_lower() && !c.has_upper()) {
        return absl::InvalidArgumentError("pruner.threshold needs lower, upper or both");
      }
      ThresholdPrunerOptions options;
      if (c.has_lower()) options.lower = c.lower();
      if (c.has_upper()) options.upper = c.upper();
      if (std::isnan(options.lower) || std::isnan(options.upper) || options.lower > options.upper) {
        return absl::InvalidArgumentError(
            "pruner.threshold: lower and upper must be numbers with lower <= upper");
      }
      options.warmup_steps = c.warmup_steps();
      if (c.interval_steps() > 0) options.interval_steps = c.interval_steps();
      return std::unique_ptr<Pruner>(new ThresholdPruner(watched[0], options));
    }
  }
  return absl::InvalidArgumentError("unknown pruner kind");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pruner>> CreatePruner(const hpo::v1::Experiment& experiment) {
  const PrunerConfig& config = experiment.pruner();
  HPO_ASSIGN_OR_RETURN(std::vector<WatchedMetric> watched, WatchedMetrics(experiment));
  HPO_ASSIGN_OR_RETURN(RegulatorOptions regulator_options,
                       RegulatorOptionsFromConfig(config.regulator()));
  if (config.patience() < 0) {
    return absl::InvalidArgumentError("pruner.patience must be >= 0");
  }
  HPO_ASSIGN_OR_RETURN(std::unique_ptr<Pruner> pruner, CreateBasePruner(experiment, watched));
  if (config.patience() > 0) {
    pruner = std::make_unique<PatientPruner>(watched, std::move(pruner), config.patience());
  } else if (pruner == nullptr) {
    pruner = std::make_unique<NopPruner>();
  }
  return std::unique_ptr<Pruner>(
      new RegulatedPruner(Regulator(watched, std::move(regulator_options)), std::move(pruner)));
}

}  // namespace hpo::pruning
