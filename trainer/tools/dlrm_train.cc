// dlrm-train: trains a DLRM from the command line and prints progress and a summary.
//
//   dlrm-train --data=synthetic --config=kaggle1m --max_steps=500 --eval_every=100 --threads=2
//   dlrm-train --data=binary --train_path=train.bin --test_path=test.bin --optimizer=hybrid
//       --lr=0.02 --warmup_steps=100 --decay_start_step=400 --decay_steps=600
//   dlrm-train --data=tsv --train_path=small.tsv --table_sizes=kaggle --max_epochs=1
//   dlrm-train --world_size=2 --rank=0 --master_addr=10.0.0.1 --master_port=29500 ...  (one
//       process per rank, same flags otherwise; rank 0 hosts the rendezvous)
//   dlrm-train --config=kaggle1m --rank_memory_mb=200 ...  (refused on 1 rank: 340 MiB of tables)
//
// Unless OMP_WAIT_POLICY is set, the process re-executes itself with
// OMP_WAIT_POLICY=PASSIVE: libgomp reads it only at load time, and its default spinning
// costs a scheduler slice per parallel region whenever the cores are shared.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "trainer/tools/flag_util.h"
#include "trainer/train.h"

ABSL_FLAG(std::string, config, "", "preset: 'kaggle1m' (26 Kaggle tables capped at 1M, D=16, "
                                   "13-512-256-64-16 / 367-512-256-1, batch 2048) or 'tiny'; other flags override");
ABSL_FLAG(std::string, data, "synthetic", "synthetic | binary | tsv");
ABSL_FLAG(std::string, train_path, "", "binary/tsv: training file");
ABSL_FLAG(std::string, test_path, "", "binary/tsv: test file (default: hold out --test_fraction)");
ABSL_FLAG(double, test_fraction, 0.1, "held-out fraction without --test_path");
ABSL_FLAG(std::string, table_sizes, "", "'kaggle' or a list like 1000-50-...; default from the data or the preset");
ABSL_FLAG(double, table_scale, -1, "synthetic/kaggle: scale of the Kaggle cardinalities");
ABSL_FLAG(int64_t, max_table_rows, -1, "cap on each table");
ABSL_FLAG(int64_t, embedding_dim, -1, "embedding dimension D");
ABSL_FLAG(std::string, bottom_mlp, "", "bottom MLP widths, e.g. 512-256-64-16 (must end in D)");
ABSL_FLAG(std::string, top_mlp, "", "top MLP widths, e.g. 512-256-1");
ABSL_FLAG(bool, interaction_self, false, "include self dot products");
ABSL_FLAG(std::string, optimizer, "sgd", "sgd | adagrad | lamb | hybrid | split_sgd");
ABSL_FLAG(double, lr, 0.1, "base learning rate");
ABSL_FLAG(int64_t, warmup_steps, 0, "linear warmup steps");
ABSL_FLAG(int64_t, decay_start_step, 0, "first step of the polynomial decay");
ABSL_FLAG(int64_t, decay_steps, 0, "length of the decay (0: none)");
ABSL_FLAG(double, decay_power, 2.0, "power of the decay");
ABSL_FLAG(double, end_lr, 0.0, "rate after the decay");
ABSL_FLAG(double, weight_decay, 0.0, "LAMB weight decay");
ABSL_FLAG(double, adagrad_initial_accumulator, 0.0, "Adagrad initial accumulator value");
ABSL_FLAG(double, adagrad_epsilon, 1e-8, "Adagrad epsilon");
ABSL_FLAG(int64_t, batch_size, -1, "training batch size");
ABSL_FLAG(int64_t, eval_batch_size, 16384, "evaluation batch size");
ABSL_FLAG(int32_t, threads, 1, "intra-op threads");
ABSL_FLAG(int64_t, eval_every, 0, "evaluate every N steps (0: at the end only)");
ABSL_FLAG(int64_t, eval_examples, 0, "held-out examples per evaluation (0: all)");
ABSL_FLAG(int64_t, max_steps, 1000, "optimizer steps (0: no limit)");
ABSL_FLAG(int64_t, max_epochs, 0, "epochs over file data (0: no limit)");
ABSL_FLAG(uint64_t, seed, 0, "training seed");
ABSL_FLAG(uint64_t, synthetic_seed, 1, "seed of the synthetic ground truth");
ABSL_FLAG(int64_t, synthetic_test_examples, 65536, "synthetic held-out examples");
ABSL_FLAG(int64_t, shuffle_buffer, 65536, "loader shuffle buffer (examples)");
ABSL_FLAG(bool, bf16, false, "BF16 weights (needs --optimizer=split_sgd)");
ABSL_FLAG(bool, json, false, "also print the summary as one JSON line");
ABSL_FLAG(int32_t, world_size, 1, "distributed: number of processes training this model");
ABSL_FLAG(int32_t, rank, 0, "distributed: this process's rank in [0, world_size)");
ABSL_FLAG(std::string, master_addr, "127.0.0.1", "distributed: address of rank 0's rendezvous store");
ABSL_FLAG(int32_t, master_port, 29500, "distributed: port of rank 0's rendezvous store");
ABSL_FLAG(double, dist_timeout, 300, "distributed: seconds a collective may wait for a peer before failing");
ABSL_FLAG(int64_t, replicate_below_rows, 100000,
          "distributed: embedding tables with fewer rows are replicated, larger ones placed on one rank");
ABSL_FLAG(bool, overlap_allreduce, false,
          "distributed: start MLP gradient all-reduces during backward (gradient hooks) instead of after it");
ABSL_FLAG(int64_t, allreduce_bucket_kb, 0,
          "distributed: most KiB of MLP gradients per all-reduce (0: 1024 with --overlap_allreduce, else 32768)");
ABSL_FLAG(int64_t, rank_memory_mb, 0,
          "most MiB of embedding tables (weights + sparse optimizer state) one rank may hold; 0: unlimited. "
          "Tables are placed to fit, or the run is refused naming the ranks needed");

namespace hpo::trainer {
namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "dlrm-train: %s\n", s.ToString().c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

int Main() {
  TrainOptions o;
  const std::string config = absl::GetFlag(FLAGS_config);
  double scale = 0.001;
  int64_t max_rows = 1000000;
  if (config == "kaggle1m") {
    scale = 1.0;
    o.embedding_dim = 16;
    o.bottom_mlp = {512, 256, 64, 16};
    o.top_mlp = {512, 256, 1};
    o.batch_size = 2048;
  } else if (config == "tiny") {
    o.embedding_dim = 8;
    o.bottom_mlp = {16, 8};
    o.top_mlp = {16, 1};
    o.batch_size = 256;
  } else if (!config.empty()) {
    return Fail(absl::InvalidArgumentError("unknown --config (kaggle1m, tiny)"));
  }
  if (absl::GetFlag(FLAGS_table_scale) > 0) scale = absl::GetFlag(FLAGS_table_scale);
  if (absl::GetFlag(FLAGS_max_table_rows) > 0) max_rows = absl::GetFlag(FLAGS_max_table_rows);
  o.synthetic_table_scale = scale;
  o.max_table_rows = max_rows;
  auto source = ParseDataSource(absl::GetFlag(FLAGS_data));
  if (!source.ok()) return Fail(source.status());
  o.data.source = *source;
  if (!absl::GetFlag(FLAGS_table_sizes).empty()) {
    auto sizes = ParseTableSizes(absl::GetFlag(FLAGS_table_sizes), scale, max_rows);
    if (!sizes.ok()) return Fail(sizes.status());
    o.table_sizes = *sizes;
  } else if (o.data.source == DataSource::kTsv) {
    o.table_sizes = CriteoKaggleTableSizes(scale, max_rows);
  }
  if (absl::GetFlag(FLAGS_embedding_dim) > 0) {
    o.embedding_dim = absl::GetFlag(FLAGS_embedding_dim);
    if (absl::GetFlag(FLAGS_bottom_mlp).empty()) o.bottom_mlp.back() = o.embedding_dim;
  }
  if (!absl::GetFlag(FLAGS_bottom_mlp).empty()) {
    auto v = ParseIntList(absl::GetFlag(FLAGS_bottom_mlp), "bottom_mlp");
    if (!v.ok()) return Fail(v.status());
    o.bottom_mlp = *v;
  }
  if (!absl::GetFlag(FLAGS_top_mlp).empty()) {
    auto v = ParseIntList(absl::GetFlag(FLAGS_top_mlp), "top_mlp");
    if (!v.ok()) return Fail(v.status());
    o.top_mlp = *v;
  }
  if (absl::GetFlag(FLAGS_batch_size) > 0) o.batch_size = absl::GetFlag(FLAGS_batch_size);
  o.data.train_path = absl::GetFlag(FLAGS_train_path);
  o.data.test_path = absl::GetFlag(FLAGS_test_path);
  o.data.test_fraction = absl::GetFlag(FLAGS_test_fraction);
  o.data.synthetic_seed = absl::GetFlag(FLAGS_synthetic_seed);
  o.data.synthetic_test_examples = absl::GetFlag(FLAGS_synthetic_test_examples);
  o.data.shuffle_buffer = absl::GetFlag(FLAGS_shuffle_buffer);
  o.interaction_self = absl::GetFlag(FLAGS_interaction_self);
  o.optimizer = absl::GetFlag(FLAGS_optimizer);
  o.learning_rate = absl::GetFlag(FLAGS_lr);
  o.warmup_steps = absl::GetFlag(FLAGS_warmup_steps);
  o.decay_start_step = absl::GetFlag(FLAGS_decay_start_step);
  o.decay_steps = absl::GetFlag(FLAGS_decay_steps);
  o.decay_power = absl::GetFlag(FLAGS_decay_power);
  o.end_learning_rate = absl::GetFlag(FLAGS_end_lr);
  o.weight_decay = absl::GetFlag(FLAGS_weight_decay);
  o.adagrad_initial_accumulator = absl::GetFlag(FLAGS_adagrad_initial_accumulator);
  o.adagrad_epsilon = absl::GetFlag(FLAGS_adagrad_epsilon);
  o.eval_batch_size = absl::GetFlag(FLAGS_eval_batch_size);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.eval_every = absl::GetFlag(FLAGS_eval_every);
  o.eval_examples = absl::GetFlag(FLAGS_eval_examples);
  o.max_steps = absl::GetFlag(FLAGS_max_steps);
  o.max_epochs = absl::GetFlag(FLAGS_max_epochs);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.bf16 = absl::GetFlag(FLAGS_bf16);
  if (o.bf16 && o.optimizer == "sgd") o.optimizer = "split_sgd";
  o.world_size = absl::GetFlag(FLAGS_world_size);
  o.rank = absl::GetFlag(FLAGS_rank);
  o.master_addr = absl::GetFlag(FLAGS_master_addr);
  o.master_port = absl::GetFlag(FLAGS_master_port);
  o.dist_timeout_seconds = absl::GetFlag(FLAGS_dist_timeout);
  o.dist_replicate_below_rows = absl::GetFlag(FLAGS_replicate_below_rows);
  o.dist_overlap_allreduce = absl::GetFlag(FLAGS_overlap_allreduce);
  o.dist_allreduce_bucket_bytes = absl::GetFlag(FLAGS_allreduce_bucket_kb) * 1024;
  o.rank_memory_budget_bytes = absl::GetFlag(FLAGS_rank_memory_mb) * (int64_t{1} << 20);

  std::printf("dlrm-train: %s data, %zu tables, D=%lld, bottom %s, top %s, %s lr=%g, batch %lld, %d threads, "
              "OMP_WAIT_POLICY=%s\n",
              absl::GetFlag(FLAGS_data).c_str(), o.table_sizes.size(), static_cast<long long>(o.embedding_dim),
              absl::StrJoin(o.bottom_mlp, "-").c_str(), absl::StrJoin(o.top_mlp, "-").c_str(), o.optimizer.c_str(),
              o.learning_rate, static_cast<long long>(o.batch_size), o.threads,
              std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "(unset)");
  if (o.world_size > 1) {
    std::printf("dlrm-train: rank %d of %d, rendezvous %s:%d\n", o.rank, o.world_size, o.master_addr.c_str(),
                o.master_port);
  }
  std::fflush(stdout);
  const int64_t max_steps = o.max_steps;
  auto result = Train(o, [&](const StepMetrics& m) {
    const double eta = (max_steps > 0 && m.step > 0)
                           ? m.elapsed_seconds / static_cast<double>(m.step) * static_cast<double>(max_steps - m.step)
                           : 0.0;
    std::printf("step %7lld  lr %.4g  train_loss %.5f  eval_auc %.5f  eval_logloss %.5f  %9.0f samples/s  "
                "elapsed %6.1fs  eta %6.1fs\n",
                static_cast<long long>(m.step), m.learning_rate, m.train_loss, m.eval_auc, m.eval_logloss,
                m.samples_per_second, m.elapsed_seconds, eta);
    std::fflush(stdout);
    return Decision::kContinue;
  });
  if (!result.ok()) return Fail(result.status());
  const TrainResult& r = *result;
  const char* outcome = r.outcome == TrainOutcome::kCompleted ? "completed"
                        : r.outcome == TrainOutcome::kStopped ? "stopped"
                                                              : "diverged";
  std::printf("summary: outcome %s%s%s, steps %lld, train time %.2fs, %.0f samples/s (training steps only), "
              "eval_auc %.5f, eval_logloss %.5f",
              outcome, r.failure_reason.empty() ? "" : " - ", r.failure_reason.c_str(),
              static_cast<long long>(r.final_metrics.step), r.train_seconds, r.train_samples_per_second,
              r.final_metrics.eval_auc, r.final_metrics.eval_logloss);
  if (r.bayes_auc) std::printf(", bayes_auc %.5f (gap %.5f)", *r.bayes_auc, *r.bayes_auc - r.final_metrics.eval_auc);
  std::printf(", parameters %lld, %.3g FLOP/sample\n", static_cast<long long>(r.parameters), r.flops_per_sample);
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("{\"outcome\":\"%s\",\"steps\":%lld,\"train_seconds\":%.6f,\"samples_per_second\":%.3f,"
                "\"eval_auc\":%.6f,\"eval_logloss\":%.6f,\"bayes_auc\":%.6f,\"flops_per_sample\":%.1f,"
                "\"parameters\":%lld,\"train_loss\":%.9g,\"eval_logloss_exact\":%.9g,\"eval_auc_exact\":%.9g,"
                "\"world_size\":%d,\"rank\":%d,\"rank_table_bytes\":%lld,\"window_samples_per_second\":[%s]}\n",
                outcome, static_cast<long long>(r.final_metrics.step), r.train_seconds, r.train_samples_per_second,
                r.final_metrics.eval_auc, r.final_metrics.eval_logloss, r.bayes_auc.value_or(0.0),
                r.flops_per_sample, static_cast<long long>(r.parameters), r.final_metrics.train_loss,
                r.final_metrics.eval_logloss, r.final_metrics.eval_auc, o.world_size, o.rank,
                static_cast<long long>(r.rank_table_bytes),
                absl::StrJoin(r.history, ",", [](std::string* out, const StepMetrics& m) {
                  absl::StrAppend(out, absl::StrFormat("%.1f", m.samples_per_second));
                }).c_str());
  }
  return r.outcome == TrainOutcome::kDiverged ? 3 : 0;
}

}  // namespace
}  // namespace hpo::trainer

int main(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // on failure, continue with the default policy
  }
  absl::SetProgramUsageMessage("Trains a DLRM click model (see trainer/train.h).");
  absl::ParseCommandLine(argc, argv);
  return hpo::trainer::Main();
}
