#include "server/pruning/regulator.h"

#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hpo::pruning {

absl::StatusOr<RegulatorOptions> RegulatorOptionsFromConfig(
    const hpo::v1::RegulatorConfig& config) {
  RegulatorOptions options;
  options.detect_anomalies = !config.disable_anomaly_detection();
  options.loss_metric = config.loss_metric();
  if (config.explosion_factor() != 0) {
    if (!(config.explosion_factor() > 1) || std::isinf(config.explosion_factor())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "regulator.explosion_factor must be > 1 (0 means 10), got ", config.explosion_factor()));
    }
    options.explosion_factor = config.explosion_factor();
  }
  if (config.overfit_patience() < 0 || config.plateau_patience() < 0) {
    return absl::InvalidArgumentError("regulator patience values must be >= 0");
  }
  if (config.overfit_patience() > 0 && config.loss_metric().empty()) {
    return absl::InvalidArgumentError("regulator.overfit_patience needs regulator.loss_metric");
  }
  if (!(config.plateau_min_delta() >= 0) || std::isinf(config.plateau_min_delta())) {
    return absl::InvalidArgumentError("regulator.plateau_min_delta must be finite and >= 0");
  }
  options.overfit_patience = config.overfit_patience();
  options.plateau_patience = config.plateau_patience();
  options.plateau_min_delta = config.plateau_min_delta();
  return options;
}

Regulator::Regulator(std::vector<WatchedMetric> metrics, RegulatorOptions options)
    : metrics_(std::move(metrics)), options_(std::move(options)) {}

Decision Regulator::ShouldPrune(const TrialCurve& trial,
                                absl::Span<const TrialCurve> others) const {
  if (trial.checkpoints.empty()) return {};
  const hpo::v1::Checkpoint& last = trial.checkpoints.back();
  const int64_t step = last.step();

  if (options_.detect_anomalies) {
    for (const hpo::v1::MetricValue& v : last.metrics()) {
      if (!std::isfinite(v.value())) {
        return {true,
                absl::StrCat("anomaly: ", v.name(), " is ",
                             std::isnan(v.value()) ? "NaN" : "infinite", " at step ", step),
                "anomaly"};
      }
    }
    if (!options_.loss_metric.empty()) {
      const std::optional<double> loss = MetricValueOf(last, options_.loss_metric);
      double best = std::numeric_limits<double>::infinity();
      int64_t best_step = -1;
      for (size_t i = 0; i + 1 < trial.checkpoints.size(); ++i) {
        const std::optional<double> v = MetricValueOf(trial.checkpoints[i], options_.loss_metric);
        if (v && *v < best) {
          best = *v;
          best_step = trial.checkpoints[i].step();
        }
      }
      if (loss && best_step >= 0 && best > 0 && *loss > options_.explosion_factor * best) {
        return {
            true,
            absl::StrCat("anomaly: ", options_.loss_metric, " ", FormatValue(*loss), " at step ",
                         step, " exploded above ", FormatValue(options_.explosion_factor),
                         " x its best ", FormatValue(best), " (step ", best_step, ")"),
            "anomaly"};
      }
    }
  }

  if (options_.overfit_patience > 0 && !options_.loss_metric.empty()) {
    std::vector<WatchedMetric> with_loss = metrics_;
    with_loss.push_back({options_.loss_metric, /*maximize=*/false});
    const std::vector<CurvePoint> points = CurvePoints(trial, with_loss);
    const size_t p = static_cast<size_t>(options_.overfit_patience);
    const size_t loss_index = metrics_.size();
    if (!points.empty() && points.back().step == step && points.size() >= p + 1) {
      const size_t start = points.size() - p - 1;
      bool overfitting = true;
      for (size_t i = start + 1; i < points.size() && overfitting; ++i) {
        for (size_t m = 0; m < metrics_.size(); ++m) {
          if (!Better(points[i - 1].values[m], points[i].values[m], metrics_[m].maximize)) {
            overfitting = false;
          }
        }
        if (!(points[i].values[loss_index] < points[i - 1].values[loss_index])) {
          overfitting = false;
        }
      }
      if (overfitting) {
        std::vector<double> from(points[start].values.begin(),
                                 points[start].values.begin() + metrics_.size());
        std::vector<double> to(points.back().values.begin(),
                               points.back().values.begin() + metrics_.size());
        return {true,
                absl::StrCat("overfitting: ", FormatValues(metrics_, from), " at step ",
                             points[start].step, " worsened to ", FormatValues(metrics_, to),
                             " at step ", step, " over ", p, " checkpoints while ",
                             options_.loss_metric, " improved from ",
                             FormatValue(points[start].values[loss_index]), " to ",
                             FormatValue(points.back().values[loss_index])),
                "overfitting"};
      }
    }
  }

  if (options_.plateau_patience > 0) {
    const std::vector<CurvePoint> points = CurvePoints(trial, metrics_);
    const size_t p = static_cast<size_t>(options_.plateau_patience);
    if (!points.empty() && points.back().step == step && points.size() > p) {
      const size_t split = points.size() - p;
      std::vector<double> before_best(metrics_.size()), after_best(metrics_.size());
      bool plateau = true;
      for (size_t m = 0; m < metrics_.size(); ++m) {
        std::vector<double> before, after;
        for (size_t i = 0; i < points.size(); ++i) {
          (i < split ? before : after).push_back(points[i].values[m]);
        }
        const bool maximize = metrics_[m].maximize;
        before_best[m] = BestOf(before, maximize);
        after_best[m] = BestOf(after, maximize);
        const double gain =
            maximize ? after_best[m] - before_best[m] : before_best[m] - after_best[m];
        if (!(gain <= options_.plateau_min_delta)) plateau = false;  // NaN: not a plateau
      }
      if (plateau) {
        return {true,
                absl::StrCat("plateau: best ", FormatValues(metrics_, after_best),
                             " over the last ", p, " checkpoints (steps ", points[split].step,
                             " to ", step, ") improves on ", FormatValues(metrics_, before_best),
                             " by no more than ", FormatValue(options_.plateau_min_delta)),
                "plateau"};
      }
    }
  }
  return {};
}

}  // namespace hpo::pruning
