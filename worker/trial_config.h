// File: worker/trial_config.h
//
// The single place where an experiment's suggestion becomes DLRM trainer options.
//
// The experiment's TrainingSpec says which parameter (or conditional) feeds which trainer option
// (`parameter_mapping`) and fixes others (`fixed_options`); the worker's own `--trainer_option`
// flags come last (node-specific things such as data paths and threads). Option names:
//   learning_rate, warmup_steps, decay_start_step, decay_steps, decay_power, end_learning_rate,
//   optimizer (sgd|adagrad|lamb|hybrid|split_sgd), lamb_beta1, lamb_beta2, lamb_epsilon,
//   weight_decay, batch_size, eval_batch_size, embedding_dim, bottom_mlp and top_mlp
//   ("512-256-64-16"), table_sizes ("1000-20-..."), table_scale, max_table_rows,
//   interaction_self, bf16, threads, seed, max_steps, eval_every, eval_examples,
//   data_source (synthetic|binary|tsv), train_path, test_path, synthetic_seed,
//   synthetic_test_examples, shuffle_buffer; for gang trials dist_timeout_seconds,
//   replicate_below_rows, overlap_allreduce, allreduce_bucket_kb and rank_memory_mb (0: no
//   limit; trainer/planner.h).
// TrainingSpec.max_steps and eval_every_steps set max_steps and eval_every.
#ifndef HPO_WORKER_TRIAL_CONFIG_H_
#define HPO_WORKER_TRIAL_CONFIG_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "hpo/v1/experiment.pb.h"
#include "trainer/train.h"

namespace hpo::worker {

// Sets trainer option `name` from text. INVALID_ARGUMENT naming the option for an unknown name
// or a value that does not parse.
absl::Status SetTrainOption(const std::string& name, const std::string& value,
                            trainer::TrainOptions* options);

// Builds the options of a trial: defaults, then `base` (worker flags applied to defaults is the
// caller's job), then the training spec's fixed options, then mapped assignment values, then
// `overrides` (worker flags that must win, e.g. data paths and threads).
absl::StatusOr<trainer::TrainOptions> BuildTrainOptions(
    const hpo::v1::Experiment& experiment, const hpo::v1::Suggestion& suggestion,
    const std::map<std::string, std::string>& overrides);

}  // namespace hpo::worker

#endif  // HPO_WORKER_TRIAL_CONFIG_H_
