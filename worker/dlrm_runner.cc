#include "worker/dlrm_runner.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "trainer/train.h"
#include "worker/trial_config.h"

namespace hpo::worker {
namespace {

hpo::v1::Checkpoint ToCheckpoint(const trainer::StepMetrics& m) {
  hpo::v1::Checkpoint c;
  c.set_step(m.step);
  c.set_elapsed_seconds(m.elapsed_seconds);
  auto add = [&c](const char* name, double value) {
    auto* v = c.add_metrics();
    v->set_name(name);
    v->set_value(value);
  };
  add("auc", m.eval_auc);
  add("logloss", m.eval_logloss);
  add("train_loss", m.train_loss);
  add("learning_rate", m.learning_rate);
  add("samples_per_second", m.samples_per_second);
  return c;
}

}  // namespace

absl::StatusOr<TrialOutcome> DlrmRunner::Run(const hpo::v1::Experiment& experiment,
                                             const hpo::v1::Suggestion& suggestion,
                                             ProgressSink* sink) {
  return RunRank(experiment, suggestion, GangPlace(), sink);
}

absl::StatusOr<TrialOutcome> DlrmRunner::RunRank(const hpo::v1::Experiment& experiment,
                                                 const hpo::v1::Suggestion& suggestion,
                                                 const GangPlace& gang, ProgressSink* sink) {
  TrialOutcome outcome;
  absl::StatusOr<trainer::TrainOptions> built =
      BuildTrainOptions(experiment, suggestion, overrides_);
  if (!built.ok()) {
    // The assignment (or the spec's mapping) gives options the trainer refuses: that is this
    // trial's result, not a fault of the node, so it is observed as failed.
    outcome.failed = true;
    outcome.failure_reason = absl::StrCat("invalid trainer options: ", built.status().message());
    return outcome;
  }
  trainer::TrainOptions& options = *built;
  if (gang.world_size > 1) {
    options.world_size = gang.world_size;
    options.rank = gang.rank;
    if (!gang.master_addr.empty()) options.master_addr = gang.master_addr;
    if (gang.master_port > 0) options.master_port = gang.master_port;
    outcome.metadata["world_size"] = absl::StrCat(gang.world_size);
  }
  hpo::v1::Checkpoint last;
  auto result = trainer::Train(options, [&](const trainer::StepMetrics& m) {
    last = ToCheckpoint(m);
    if (sink->Report(last)) {
      outcome.stopped = true;
      return trainer::Decision::kStop;
    }
    return trainer::Decision::kContinue;
  });
  if (!result.ok()) {
    // Bad data or options are the experiment's fault, not this node's: the trial fails.
    outcome.failed = true;
    outcome.failure_reason = absl::StrCat("trainer: ", result.status().ToString());
    return outcome;
  }
  outcome.metadata["steps"] = absl::StrCat(result->final_metrics.step);
  if (result->outcome == trainer::TrainOutcome::kDiverged) {
    outcome.failed = true;
    outcome.failure_reason = absl::StrCat("diverged: ", result->failure_reason);
    return outcome;
  }
  hpo::v1::Checkpoint final_point = ToCheckpoint(result->final_metrics);
  auto add = [&final_point](const char* name, double value) {
    auto* v = final_point.add_metrics();
    v->set_name(name);
    v->set_value(value);
  };
  add("train_seconds", result->train_seconds);
  add("examples_per_second", result->train_samples_per_second);
  if (result->bayes_auc.has_value()) {
    add("bayes_auc_gap", *result->bayes_auc - result->final_metrics.eval_auc);
    outcome.metadata["bayes_auc"] = absl::StrCat(*result->bayes_auc);
  }
  outcome.values = ExperimentMetrics(experiment, final_point);
  outcome.metadata["parameters"] = absl::StrCat(result->parameters);
  return outcome;
}

}  // namespace hpo::worker
