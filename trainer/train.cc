#include "trainer/train.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "trainer/data/batch_loader.h"
#include "trainer/data/criteo_tsv.h"
#include "trainer/data/dataset.h"
#include "trainer/data/synthetic.h"
#include "trainer/distributed.h"
#include "trainer/distributed_data.h"
#include "trainer/dlrm/dlrm.h"
#include "trainer/metrics/auc.h"
#include "trainer/optim/lr_schedule.h"
#include "trainer/optim/optim_kernels.h"
#include "trainer/planner.h"

namespace hpo::trainer {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Every training step allocates and frees the same activation and gradient buffers
// (0.1-4 MB each at batch 2048). glibc serves such blocks with mmap and returns them on
// free, so each step page-faults them in again (measured ~10% of a step). Raising the
// mmap and trim thresholds keeps them in the heap for reuse; tables above 32 MB are
// still mmapped. Process-wide and idempotent.
void KeepStepBuffersInHeap() {
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
  });
#endif
}

// Per-phase step timing, on when the environment sets HPO_TRAINER_PROFILE (printed to
// stderr at the end of Train()): a profiling aid that costs one clock read per phase.
class PhaseTimer {
 public:
  explicit PhaseTimer(std::vector<const char*> names)
      : on_(std::getenv("HPO_TRAINER_PROFILE") != nullptr), names_(std::move(names)), seconds_(names_.size(), 0.0) {}
  void Mark(Clock::time_point t) {
    if (on_) last_ = t;
  }
  void Lap(size_t phase) {
    if (!on_) return;
    const auto now = Clock::now();
    seconds_[phase] += Seconds(last_, now);
    last_ = now;
  }
  void Print(int64_t steps) const {
    if (!on_ || steps == 0) return;
    double total = 0;
    for (double s : seconds_) total += s;
    std::fprintf(stderr, "step profile over %lld steps (ms/step):", static_cast<long long>(steps));
    for (size_t i = 0; i < names_.size(); ++i) {
      std::fprintf(stderr, " %s %.2f;", names_[i], 1e3 * seconds_[i] / static_cast<double>(steps));
    }
    std::fprintf(stderr, " total %.2f\n", 1e3 * total / static_cast<double>(steps));
  }

 private:
  bool on_;
  std::vector<const char*> names_;
  std::vector<double> seconds_;
  Clock::time_point last_;
};

enum class OptimizerKind { kSgd, kAdagrad, kLamb, kHybrid, kSplitSgd };

absl::StatusOr<OptimizerKind> ParseOptimizer(const std::string& name) {
  if (name == "sgd") return OptimizerKind::kSgd;
  if (name == "adagrad") return OptimizerKind::kAdagrad;
  if (name == "lamb") return OptimizerKind::kLamb;
  if (name == "hybrid") return OptimizerKind::kHybrid;
  if (name == "split_sgd") return OptimizerKind::kSplitSgd;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown optimizer '", name, "' (sgd, adagrad, lamb, hybrid, split_sgd)"));
}

LrSchedule ScheduleOf(const TrainOptions& o) {
  LrSchedule s;
  s.base_lr = o.learning_rate;
  s.warmup_steps = o.warmup_steps;
  s.decay_start_step = o.decay_start_step;
  s.decay_steps = o.decay_steps;
  s.decay_power = o.decay_power;
  s.end_lr = o.end_learning_rate;
  return s;
}

std::vector<int64_t> TopWidths(const std::vector<int64_t>& top) {
  std::vector<int64_t> w = top;
  if (w.empty() || w.back() != 1) w.push_back(1);
  return w;
}

// The data of a run: a training loader and a fixed evaluation set.
struct RunData {
  std::unique_ptr<Dataset> train_set, test_set;  // binary/TSV
  std::optional<SyntheticGenerator> generator;
  std::unique_ptr<BatchLoader> loader;
  std::vector<Batch> eval_batches;
  std::vector<int64_t> table_sizes;
  int num_dense = 13;
};

absl::StatusOr<std::unique_ptr<Dataset>> OpenData(const TrainOptions& o, const std::string& path) {
  if (o.data.source == DataSource::kBinary) return Dataset::OpenMapped(path);
  TsvOptions tsv;
  tsv.num_dense = static_cast<int>(o.num_dense_features);
  tsv.table_sizes = o.table_sizes.empty()
                        ? CriteoKaggleTableSizes(1.0, o.max_table_rows)
                        : o.table_sizes;
  tsv.hash_categories = false;
  return ReadCriteoTsv(path, tsv);
}

// With world > 1, rank `rank`'s part of every training and evaluation batch
// (trainer/distributed_data.h); the schedule is the single-process one.
absl::StatusOr<std::unique_ptr<RunData>> PrepareData(const TrainOptions& o, int world = 1, int rank = 0) {
  auto data = std::make_unique<RunData>();
  if (o.data.source == DataSource::kSynthetic) {
    SyntheticOptions so;
    so.table_sizes = o.table_sizes.empty()
                         ? CriteoKaggleTableSizes(o.synthetic_table_scale, o.max_table_rows)
                         : o.table_sizes;
    if (o.table_sizes.empty() && o.num_sparse_features != 26) so.table_sizes.resize(static_cast<size_t>(o.num_sparse_features), 1000);
    so.num_dense = static_cast<int>(o.num_dense_features);
    so.seed = o.data.synthetic_seed;
    HPO_ASSIGN_OR_RETURN(SyntheticGenerator gen, SyntheticGenerator::Create(so));
    data->generator.emplace(std::move(gen));
    data->table_sizes = so.table_sizes;
    data->num_dense = so.num_dense;
    const SyntheticGenerator* g = &*data->generator;
    const int64_t n_test = o.eval_examples > 0 ? std::min(o.eval_examples, o.data.synthetic_test_examples)
                                               : o.data.synthetic_test_examples;
    for (int64_t first = 0; first < n_test; first += o.eval_batch_size) {
      Batch b;
      const ShardRange part = ShardOf(std::min(o.eval_batch_size, n_test - first), world, rank);
      g->GenerateBatch(kSyntheticTestOffset + first + part.begin, part.size(), &b);
      data->eval_batches.push_back(std::move(b));
    }
    // Each training seed reads its own stretch of the endless example stream.
    const int64_t base = static_cast<int64_t>(o.seed % 65536) << 24;
    const int64_t bs = o.batch_size;
    if (world > 1) {
      data->loader = std::make_unique<BatchLoader>(ShardedSyntheticBatches(g, base, bs, world, rank),
                                                   o.data.prefetch_batches);
      return data;
    }
    data->loader = std::make_unique<BatchLoader>(
        [g, base, bs](int64_t i, Batch* b) {
          g->GenerateBatch(base + i * bs, bs, b);
          return true;
        },
        o.data.prefetch_batches);
    return data;
  }
  if (o.data.train_path.empty()) return absl::InvalidArgumentError("data.train_path is required for binary/TSV data");
  HPO_ASSIGN_OR_RETURN(data->train_set, OpenData(o, o.data.train_path));
  const Dataset& train = *data->train_set;
  int64_t train_end = train.size();
  const Dataset* test = &train;
  int64_t test_begin = 0, test_end = 0;
  if (!o.data.test_path.empty()) {
    HPO_ASSIGN_OR_RETURN(data->test_set, OpenData(o, o.data.test_path));
    test = data->test_set.get();
    test_end = test->size();
  } else {
    if (!(o.data.test_fraction > 0.0 && o.data.test_fraction < 1.0)) {
      return absl::InvalidArgumentError("data.test_fraction must be in (0, 1) without a test file");
    }
    train_end = train.size() - static_cast<int64_t>(std::llround(o.data.test_fraction * static_cast<double>(train.size())));
    test_begin = train_end;
    test_end = train.size();
  }
  if (train_end <= 0 || test_end <= test_begin) {
    return absl::InvalidArgumentError(absl::StrCat(train.name(), ": too few examples (", train.size(),
                                                   ") for a training and a test split"));
  }
  if (test->layout().num_dense != train.layout().num_dense || test->table_sizes() != train.table_sizes()) {
    return absl::InvalidArgumentError("training and test files have different layouts or table sizes");
  }
  if (o.eval_examples > 0) test_end = std::min(test_end, test_begin + o.eval_examples);
  data->table_sizes = o.table_sizes.empty() ? train.table_sizes() : o.table_sizes;
  if (data->table_sizes != train.table_sizes()) {
    return absl::InvalidArgumentError(absl::StrCat("table sizes [", absl::StrJoin(o.table_sizes, ","),
                                                   "] differ from the data's [", absl::StrJoin(train.table_sizes(), ","), "]"));
  }
  data->num_dense = train.layout().num_dense;
  for (int64_t first = test_begin; first < test_end; first += o.eval_batch_size) {
    std::vector<int64_t> ids;
    const ShardRange part = ShardOf(std::min(test_end, first + o.eval_batch_size) - first, world, rank);
    for (int64_t i = first + part.begin; i < first + part.end; ++i) ids.push_back(i);
    Batch b;
    GatherBatch(*test, ids, &b);
    data->eval_batches.push_back(std::move(b));
  }
  BatchLoader::Options lo;
  lo.batch_size = o.batch_size;
  lo.shuffle_buffer = o.data.shuffle_buffer;
  lo.max_epochs = o.max_epochs;
  lo.seed = o.seed;
  lo.prefetch = o.data.prefetch_batches;
  if (world > 1) {
    data->loader = std::make_unique<BatchLoader>(
        ShardedDatasetBatches(data->train_set.get(), 0, train_end, lo, world, rank), lo.prefetch);
    return data;
  }
  data->loader = std::make_unique<BatchLoader>(data->train_set.get(), 0, train_end, lo);
  return data;
}

// Dense-parameter optimizer state, one entry per MLP tensor.
struct DenseState {
  std::vector<torch::Tensor> m, v;        // LAMB moments / Adagrad accumulator (m)
  std::vector<torch::Tensor> lower;       // split-SGD lower halves (int16)
};

void DenseStep(OptimizerKind kind, const TrainOptions& o, std::vector<torch::Tensor>& params,
               DenseState& st, float lr, int64_t t) {
  LambHyper h{static_cast<float>(o.lamb_beta1), static_cast<float>(o.lamb_beta2),
              static_cast<float>(o.lamb_epsilon), static_cast<float>(o.weight_decay)};
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    if (!p.grad().defined()) continue;
    const size_t n = static_cast<size_t>(p.numel());
    absl::Span<float> w(p.data_ptr<float>(), n);
    auto g = p.grad().contiguous();
    absl::Span<const float> gs(g.data_ptr<float>(), n);
    switch (kind) {
      case OptimizerKind::kSgd:
        SgdUpdate(w, gs, lr);
        break;
      case OptimizerKind::kAdagrad:
        AdagradUpdate(w, gs, {st.m[i].data_ptr<float>(), n}, lr, static_cast<float>(o.adagrad_epsilon));
        break;
      case OptimizerKind::kLamb:
      case OptimizerKind::kHybrid:
        LambUpdate(w, gs, {st.m[i].data_ptr<float>(), n}, {st.v[i].data_ptr<float>(), n}, t, lr, h);
        break;
      case OptimizerKind::kSplitSgd:
        SplitSgdUpdateInFloat(w, {reinterpret_cast<uint16_t*>(st.lower[i].data_ptr<int16_t>()), n}, gs, lr);
        break;
    }
    p.mutable_grad() = torch::Tensor();
  }
}

DenseState InitDenseState(OptimizerKind kind, const TrainOptions& o, std::vector<torch::Tensor>& params) {
  DenseState st;
  for (auto& p : params) {
    if (kind == OptimizerKind::kAdagrad) st.m.push_back(torch::full_like(p, o.adagrad_initial_accumulator));
    if (kind == OptimizerKind::kLamb || kind == OptimizerKind::kHybrid) {
      st.m.push_back(torch::zeros_like(p));
      st.v.push_back(torch::zeros_like(p));
    }
    if (kind == OptimizerKind::kSplitSgd) {
      torch::NoGradGuard no_grad;
      st.lower.push_back(torch::empty(p.sizes(), torch::kInt16));
      SplitFloatWeights({p.data_ptr<float>(), static_cast<size_t>(p.numel())},
                        {reinterpret_cast<uint16_t*>(st.lower.back().data_ptr<int16_t>()), static_cast<size_t>(p.numel())});
    }
  }
  return st;
}

SparseUpdate MakeSparseUpdate(OptimizerKind kind, const TrainOptions& o) {
  SparseUpdate su;
  su.kind = kind == OptimizerKind::kAdagrad ? SparseUpdate::Kind::kAdagrad
            : kind == OptimizerKind::kLamb  ? SparseUpdate::Kind::kLamb
            : kind == OptimizerKind::kSplitSgd ? SparseUpdate::Kind::kSplitSgd
                                               : SparseUpdate::Kind::kSgd;
  su.lamb = LambHyper{static_cast<float>(o.lamb_beta1), static_cast<float>(o.lamb_beta2),
                      static_cast<float>(o.lamb_epsilon), static_cast<float>(o.weight_decay)};
  su.adagrad_eps = static_cast<float>(o.adagrad_epsilon);
  su.adagrad_init = static_cast<float>(o.adagrad_initial_accumulator);
  return su;
}

// The table plan of a run (trainer/planner.h): bytes per value include the sparse
// optimizer's state, so that the memory budget covers what a rank really holds.
PlannerOptions PlannerOptionsOf(OptimizerKind kind, const TrainOptions& o, int world) {
  PlannerOptions po;
  po.world_size = world;
  po.embedding_dim = o.embedding_dim;
  po.replicate_below_rows = o.dist_replicate_below_rows;
  po.bytes_per_value = kind == OptimizerKind::kAdagrad ? 8 : kind == OptimizerKind::kLamb ? 12 : 4;
  po.rank_memory_budget_bytes = o.rank_memory_budget_bytes;
  return po;
}

struct EvalResult {
  double auc = 0.0, logloss = 0.0;
  bool finite = true;
};

// Training since the last evaluation; each evaluation closes it into one StepMetrics.
struct ReportWindow {
  double loss_sum = 0.0, step_seconds = 0.0;
  int64_t loss_count = 0, examples = 0;

  void Add(double seconds, int64_t batch_examples, double loss) {
    step_seconds += seconds;
    examples += batch_examples;
    loss_sum += loss;
    ++loss_count;
  }
};

// The step counters of a training loop: run totals and the window since the last evaluation.
struct RunTally {
  int64_t step = 0, examples = 0;
  double step_seconds = 0.0;
  ReportWindow window;

  // Counts a finished step of `n` examples; true when an evaluation is due (every `eval_every`).
  bool EndStep(double seconds, int64_t n, double loss, int64_t eval_every) {
    step_seconds += seconds;
    ++step;
    examples += n;
    window.Add(seconds, n, loss);
    return eval_every > 0 && step % eval_every == 0;
  }
  // Writes the run's totals into `result`.
  void Close(TrainResult* result) const {
    result->final_metrics.step = step;
    result->train_seconds = step_seconds;
    result->train_samples_per_second = step_seconds > 0 ? static_cast<double>(examples) / step_seconds : 0.0;
  }
};

// Records the evaluation `ev` at `step`: false when its logits are not finite (the run diverged,
// and `result` says so); otherwise appends the step's metrics, built from `window` (which then
// restarts), to `result` and sets its final metrics.
bool RecordEvaluation(const EvalResult& ev, int64_t step, int64_t examples, double elapsed,
                      double lr, ReportWindow* window, TrainResult* result) {
  if (!ev.finite) {
    result->outcome = TrainOutcome::kDiverged;
    result->failure_reason = absl::StrCat("evaluation logits are not finite at step ", step,
                                          " (learning rate ", lr, ")");
    return false;
  }
  StepMetrics m;
  m.step = step;
  m.examples = examples;
  m.elapsed_seconds = elapsed;
  m.learning_rate = lr;
  m.train_loss = window->loss_count > 0 ? window->loss_sum / static_cast<double>(window->loss_count) : 0.0;
  m.eval_auc = ev.auc;
  m.eval_logloss = ev.logloss;
  m.samples_per_second =
      window->step_seconds > 0 ? static_cast<double>(window->examples) / window->step_seconds : 0.0;
  *window = ReportWindow();
  result->history.push_back(m);
  result->final_metrics = m;
  return true;
}

absl::StatusOr<EvalResult> Evaluate(DLRM& model, const std::vector<Batch>& batches, int num_dense) {
  torch::NoGradGuard no_grad;
  std::vector<float> logits, labels;
  for (const Batch& b : batches) {
    auto dense = torch::from_blob(const_cast<float*>(b.dense.data()), {b.size, num_dense});
    auto idx = torch::from_blob(const_cast<int32_t*>(b.indices.data()),
                                {static_cast<int64_t>(b.indices.size()) / b.size, b.size}, torch::kInt32);
    auto out = model->Predict(dense, idx).contiguous();
    logits.insert(logits.end(), out.data_ptr<float>(), out.data_ptr<float>() + b.size);
    labels.insert(labels.end(), b.labels.begin(), b.labels.end());
  }
  EvalResult r;
  for (float x : logits) {
    if (!std::isfinite(x)) {
      r.finite = false;
      return r;
    }
  }
  HPO_ASSIGN_OR_RETURN(r.auc, RocAuc(logits, labels));
  HPO_ASSIGN_OR_RETURN(r.logloss, LogLossFromLogits(logits, labels));
  return r;
}

absl::StatusOr<TrainResult> TrainImpl(const TrainOptions& o, const ProgressCallback& progress) {
  HPO_RETURN_IF_ERROR(ValidateTrainOptions(o));
  HPO_ASSIGN_OR_RETURN(OptimizerKind kind, ParseOptimizer(o.optimizer));
  const LrSchedule schedule = ScheduleOf(o);
  torch::set_num_threads(o.threads);
  torch::manual_seed(o.seed);
  KeepStepBuffersInHeap();

  HPO_ASSIGN_OR_RETURN(std::unique_ptr<RunData> data, PrepareData(o));
  DlrmOptions mo(data->table_sizes);
  mo.num_dense_features(data->num_dense).embedding_dim(o.embedding_dim).bottom_mlp(o.bottom_mlp)
      .top_mlp(TopWidths(o.top_mlp)).interaction_self(o.interaction_self).bf16(kind == OptimizerKind::kSplitSgd);
  HPO_RETURN_IF_ERROR(ValidateDlrmOptions(mo));
  // One rank holds every table: with a memory budget, the planner decides whether it fits.
  HPO_ASSIGN_OR_RETURN(TablePlan plan, PlanTables(data->table_sizes, PlannerOptionsOf(kind, o, 1)));
  if (o.rank_memory_budget_bytes > 0) HPO_LOG(INFO) << "table plan: " << plan.Describe();
  DLRM model(mo);
  std::vector<torch::Tensor> params = model->DenseParameters();
  DenseState st = InitDenseState(kind, o, params);
  SparseUpdate su = MakeSparseUpdate(kind, o);

  TrainResult result;
  result.rank_table_bytes = plan.rank_bytes[0];
  result.parameters = model->NumParameters();
  result.flops_per_sample = 6.0 * ForwardMacsPerSample(mo);
  const bool know_probability = std::all_of(data->eval_batches.begin(), data->eval_batches.end(),
                                            [](const Batch& b) { return b.probability.size() == static_cast<size_t>(b.size); });
  if (know_probability && !data->eval_batches.empty()) {
    // Synthetic data (generated here or read from a dlrm-datagen file) carries the true
    // click probabilities: their AUC is the ceiling for any model.
    std::vector<float> probs, labels;
    for (const Batch& b : data->eval_batches) {
      probs.insert(probs.end(), b.probability.begin(), b.probability.end());
      labels.insert(labels.end(), b.labels.begin(), b.labels.end());
    }
    auto bayes = RocAuc(probs, labels);
    if (bayes.ok()) result.bayes_auc = *bayes;
  }

  const auto start = Clock::now();
  RunTally tally;
  const int64_t& step = tally.step;
  double lr = schedule.At(0);
  model->train();

  auto report = [&]() -> absl::StatusOr<bool> {  // returns true to stop
    model->eval();
    HPO_ASSIGN_OR_RETURN(EvalResult ev, Evaluate(model, data->eval_batches, data->num_dense));
    model->train();
    if (!RecordEvaluation(ev, step, tally.examples, Seconds(start, Clock::now()), lr, &tally.window, &result)) {
      return true;
    }
    const StepMetrics& m = result.final_metrics;
    if (progress && progress(m) == Decision::kStop) {
      result.outcome = TrainOutcome::kStopped;
      return true;
    }
    return false;
  };

  PhaseTimer phases({"embedding gather", "forward+loss", "backward", "dense optimizer", "sparse update"});
  bool stopped = false;
  while (o.max_steps == 0 || step < o.max_steps) {
    std::optional<Batch> batch = data->loader->Next();
    if (!batch) break;
    const auto t0 = Clock::now();
    const int64_t bsz = batch->size;
    const int64_t f_count = static_cast<int64_t>(batch->indices.size()) / bsz;
    auto dense = torch::from_blob(batch->dense.data(), {bsz, data->num_dense});
    auto idx = torch::from_blob(batch->indices.data(), {f_count, bsz}, torch::kInt32);
    auto labels = torch::from_blob(batch->labels.data(), {bsz});
    lr = schedule.At(step);
    phases.Mark(t0);
    auto pooled = model->sparse_arch->forward(idx).requires_grad_(true);
    phases.Lap(0);
    auto logits = model->forward(dense, pooled);
    auto loss = torch::binary_cross_entropy_with_logits(logits, labels);
    const double loss_value = loss.item<double>();
    phases.Lap(1);
    if (!std::isfinite(loss_value)) {
      result.outcome = TrainOutcome::kDiverged;
      result.failure_reason = absl::StrCat("training loss is ", loss_value, " at step ", step,
                                           " (learning rate ", lr, ")");
      break;
    }
    loss.backward();
    phases.Lap(2);
    DenseStep(kind, o, params, st, static_cast<float>(lr), step + 1);
    phases.Lap(3);
    su.lr = static_cast<float>(lr);
    su.step = step + 1;
    model->sparse_arch->ApplyGradient(pooled.grad(), idx, torch::Tensor(), su);
    phases.Lap(4);
    if (tally.EndStep(Seconds(t0, Clock::now()), bsz, loss_value, o.eval_every)) {
      HPO_ASSIGN_OR_RETURN(stopped, report());
      if (stopped) break;
    }
  }
  if (!stopped && result.outcome != TrainOutcome::kDiverged && (result.history.empty() || result.history.back().step != step)) {
    HPO_ASSIGN_OR_RETURN(stopped, report());
  }
  phases.Print(step);
  tally.Close(&result);
  return result;
}

// One rank of a distributed run (trainer/distributed.h): the loop of TrainImpl, with the
// embedding lookups and updates going through DistributedEmbedding, MLP gradients
// all-reduced, and evaluation gathered so that every rank computes the same metrics.
// Every rank issues the same collectives in the same order.
absl::StatusOr<TrainResult> TrainDistributedImpl(const TrainOptions& o, const ProgressCallback& progress) {
  HPO_RETURN_IF_ERROR(ValidateTrainOptions(o));
  HPO_ASSIGN_OR_RETURN(OptimizerKind kind, ParseOptimizer(o.optimizer));
  const LrSchedule schedule = ScheduleOf(o);
  torch::set_num_threads(o.threads);
  torch::manual_seed(o.seed);
  KeepStepBuffersInHeap();
  const int world = o.world_size, rank = o.rank;

  HPO_ASSIGN_OR_RETURN(std::unique_ptr<RunData> data, PrepareData(o, world, rank));
  DlrmOptions mo(data->table_sizes);
  mo.num_dense_features(data->num_dense).embedding_dim(o.embedding_dim).bottom_mlp(o.bottom_mlp)
      .top_mlp(TopWidths(o.top_mlp)).interaction_self(o.interaction_self).bf16(kind == OptimizerKind::kSplitSgd);
  HPO_RETURN_IF_ERROR(ValidateDlrmOptions(mo));
  // Every rank computes the same plan, so a plan that does not fit fails them all here,
  // before the rendezvous.
  HPO_ASSIGN_OR_RETURN(TablePlan plan, PlanTables(data->table_sizes, PlannerOptionsOf(kind, o, world)));
  DistConfig dc;
  dc.world_size = world;
  dc.rank = rank;
  dc.master_addr = o.master_addr;
  dc.master_port = o.master_port;
  dc.timeout_seconds = o.dist_timeout_seconds;
  std::unique_ptr<Communicator> comm = Communicator::Connect(dc);
  if (rank == 0) HPO_LOG(INFO) << "table plan: " << plan.Describe();
  DistributedEmbedding emb(comm.get(), plan, data->table_sizes, o.embedding_dim, mo.bf16());
  DLRM model = BuildDistributedModel(mo, o.seed, emb);
  std::vector<torch::Tensor> params = model->DenseParameters();
  DenseState st = InitDenseState(kind, o, params);
  SparseUpdate su = MakeSparseUpdate(kind, o);
  // The MLP gradients and the step's loss sum. Without overlap one bucket is fastest: on
  // shared cores every collective waits for all ranks to be scheduled (docs/benchmarks.md).
  const int64_t bucket_bytes = o.dist_allreduce_bucket_bytes > 0 ? o.dist_allreduce_bucket_bytes
                               : o.dist_overlap_allreduce     ? int64_t{1} << 20
                                                              : int64_t{32} << 20;
  GradientReducer reducer(comm.get(), params, 1, o.dist_overlap_allreduce, bucket_bytes);
  if (rank == 0) {
    HPO_LOG(INFO) << "MLP gradients: " << reducer.num_buckets() << " all-reduce bucket(s), started "
                  << (o.dist_overlap_allreduce ? "during backward" : "after backward");
  }
  const int64_t f_count = static_cast<int64_t>(data->table_sizes.size());
  const int64_t train_cap = (o.batch_size + world - 1) / world;
  const int64_t eval_cap = (o.eval_batch_size + world - 1) / world;

  TrainResult result;
  result.rank_table_bytes = plan.rank_bytes[static_cast<size_t>(rank)];
  result.parameters = 0;
  for (const auto& p : params) result.parameters += p.numel();
  for (int64_t rows : data->table_sizes) result.parameters += rows * o.embedding_dim;
  result.flops_per_sample = 6.0 * ForwardMacsPerSample(mo);
  const bool know_probability = std::all_of(data->eval_batches.begin(), data->eval_batches.end(),
                                            [](const Batch& b) { return b.probability.size() == static_cast<size_t>(b.size); });
  {
    // Every rank holds only its part of the evaluation set: gather (probability, label).
    std::vector<float> local;
    for (const Batch& b : data->eval_batches) {
      for (int64_t i = 0; i < b.size; ++i) {
        local.push_back(know_probability ? b.probability[static_cast<size_t>(i)] : 0.0f);
        local.push_back(b.labels[static_cast<size_t>(i)]);
      }
    }
    auto t = torch::from_blob(local.data(), {static_cast<int64_t>(local.size()) / 2, 2}).clone();
    auto flag = torch::full({1}, know_probability ? 1.0f : 0.0f);
    comm->AllReduceSum({flag});
    auto all = comm->AllGatherRows(t).contiguous();
    if (flag.item<float>() == static_cast<float>(world) && all.size(0) > 0) {
      std::vector<float> probs, labels;
      const float* a = all.data_ptr<float>();
      for (int64_t i = 0; i < all.size(0); ++i) {
        probs.push_back(a[2 * i]);
        labels.push_back(a[2 * i + 1]);
      }
      auto bayes = RocAuc(probs, labels);
      if (bayes.ok()) result.bayes_auc = *bayes;
    }
  }

  auto evaluate = [&]() -> absl::StatusOr<EvalResult> {
    torch::NoGradGuard no_grad;
    std::vector<float> local;  // (logit, label) pairs
    for (const Batch& b : data->eval_batches) {
      auto dense = torch::from_blob(const_cast<float*>(b.dense.data()), {b.size, data->num_dense});
      auto idx = torch::from_blob(const_cast<int32_t*>(b.indices.data()), {f_count, b.size}, torch::kInt32);
      auto out = model->forward(dense, emb.Forward(idx, eval_cap)).contiguous();
      for (int64_t i = 0; i < b.size; ++i) {
        local.push_back(out.data_ptr<float>()[i]);
        local.push_back(b.labels[static_cast<size_t>(i)]);
      }
    }
    auto t = torch::from_blob(local.data(), {static_cast<int64_t>(local.size()) / 2, 2}).clone();
    auto all = comm->AllGatherRows(t).contiguous();
    std::vector<float> logits, labels;
    const float* a = all.data_ptr<float>();
    for (int64_t i = 0; i < all.size(0); ++i) {
      logits.push_back(a[2 * i]);
      labels.push_back(a[2 * i + 1]);
    }
    EvalResult r;
    for (float x : logits) {
      if (!std::isfinite(x)) {
        r.finite = false;
        return r;
      }
    }
    HPO_ASSIGN_OR_RETURN(r.auc, RocAuc(logits, labels));
    HPO_ASSIGN_OR_RETURN(r.logloss, LogLossFromLogits(logits, labels));
    return r;
  };

  const auto start = Clock::now();
  RunTally tally;
  const int64_t& step = tally.step;
  double lr = schedule.At(0);
  model->train();

  auto report = [&]() -> absl::StatusOr<bool> {  // returns true to stop (on every rank)
    model->eval();
    HPO_ASSIGN_OR_RETURN(EvalResult ev, evaluate());
    model->train();
    if (!RecordEvaluation(ev, step, tally.examples, Seconds(start, Clock::now()), lr, &tally.window, &result)) {
      return true;
    }
    const StepMetrics& m = result.final_metrics;
    // Rank 0 decides (the worker that leased the trial runs rank 0).
    const bool stop_here = rank == 0 && progress && progress(m) == Decision::kStop;
    if (comm->Broadcast(torch::full({1}, stop_here ? 1 : 0, torch::kInt32)).item<int32_t>() != 0) {
      result.outcome = TrainOutcome::kStopped;
      return true;
    }
    return false;
  };

  PhaseTimer phases({"embedding forward (exchange)", "forward+loss", "backward", "embedding backward (exchange)",
                      "all-reduce wait", "dense optimizer"});
  bool stopped = false;
  while (o.max_steps == 0 || step < o.max_steps) {
    std::optional<Batch> batch = data->loader->Next();
    if (!batch) break;  // the schedule is global: every rank ends at the same step
    const auto t0 = Clock::now();
    const int64_t bsz = batch->size;
    auto dense = torch::from_blob(batch->dense.data(), {bsz, data->num_dense});
    auto idx = torch::from_blob(batch->indices.data(), {f_count, bsz}, torch::kInt32);
    auto labels = torch::from_blob(batch->labels.data(), {bsz});
    lr = schedule.At(step);
    phases.Mark(t0);
    auto pooled = emb.Forward(idx, train_cap).requires_grad_(true);
    phases.Lap(0);
    const int64_t global_n = emb.global_batch();
    auto logits = model->forward(dense, pooled);
    // The gradient of the global mean loss with respect to the local logits, computed
    // as ATen's BCE-with-logits backward does for the whole batch ((sigmoid(x) - y) / N),
    // so that every example's gradient is bit-identical to a single-process run's; the
    // ranks' MLP gradients then sum to the single-process gradient.
    // The MLP gradient all-reduce starts during backward (dist_overlap_allreduce) or
    // right after it, and runs while the embedding gradients are exchanged and applied
    // (independent of the MLPs); the dense step waits for it.
    {
      torch::NoGradGuard no_grad;
      auto x = logits.detach();
      auto grad = (x.sigmoid() - labels).div_(static_cast<double>(global_n));
      reducer.Begin(torch::binary_cross_entropy_with_logits(x, labels, {}, {}, torch::Reduction::Sum));
      phases.Lap(1);
      logits.backward(grad);
    }
    reducer.Flush();
    phases.Lap(2);
    su.lr = static_cast<float>(lr);
    su.step = step + 1;
    emb.Backward(pooled.grad(), su);
    phases.Lap(3);
    const double loss_value = reducer.Wait().item<double>() / static_cast<double>(global_n);
    phases.Lap(4);
    if (!std::isfinite(loss_value)) {
      result.outcome = TrainOutcome::kDiverged;
      result.failure_reason = absl::StrCat("training loss is ", loss_value, " at step ", step,
                                           " (learning rate ", lr, ")");
      break;
    }
    DenseStep(kind, o, params, st, static_cast<float>(lr), step + 1);
    phases.Lap(5);
    if (tally.EndStep(Seconds(t0, Clock::now()), global_n, loss_value, o.eval_every)) {
      HPO_ASSIGN_OR_RETURN(stopped, report());
      if (stopped) break;
    }
  }
  if (!stopped && result.outcome != TrainOutcome::kDiverged && (result.history.empty() || result.history.back().step != step)) {
    HPO_ASSIGN_OR_RETURN(stopped, report());
  }
  if (rank == 0) phases.Print(step);
  if (rank == 0 && o.dist_overlap_allreduce) {
    HPO_LOG(INFO) << "MLP gradients: " << reducer.started_during_backward() << " of "
                  << step * reducer.num_buckets() << " bucket all-reduces started during backward";
  }
  tally.Close(&result);
  return result;
}

}  // namespace

absl::StatusOr<DataSource> ParseDataSource(const std::string& name) {
  if (name == "synthetic") return DataSource::kSynthetic;
  if (name == "binary") return DataSource::kBinary;
  if (name == "tsv") return DataSource::kTsv;
  return absl::InvalidArgumentError(absl::StrCat("unknown data source '", name, "' (synthetic, binary, tsv)"));
}

absl::Status ValidateTrainOptions(const TrainOptions& o) {
  HPO_RETURN_IF_ERROR(ParseOptimizer(o.optimizer).status());
  HPO_RETURN_IF_ERROR(ScheduleOf(o).Validate());
  if (o.bf16 && o.optimizer != "split_sgd") {
    return absl::InvalidArgumentError("bf16 weights need optimizer split_sgd (this CPU has no BF16 math)");
  }
  if (o.batch_size < 1 || o.eval_batch_size < 1) return absl::InvalidArgumentError("batch sizes must be >= 1");
  if (o.max_steps < 0 || o.max_epochs < 0 || o.eval_every < 0 || o.eval_examples < 0) {
    return absl::InvalidArgumentError("max_steps, max_epochs, eval_every and eval_examples must be >= 0");
  }
  if (o.max_steps == 0 && (o.max_epochs == 0 || o.data.source == DataSource::kSynthetic)) {
    return absl::InvalidArgumentError("set max_steps (or max_epochs for file data): the run must end");
  }
  if (o.threads < 1 || o.threads > 256) return absl::InvalidArgumentError("threads must be in [1, 256]");
  if (o.embedding_dim < 1 || o.num_dense_features < 1) {
    return absl::InvalidArgumentError("embedding_dim and num_dense_features must be >= 1");
  }
  if (o.bottom_mlp.empty() || o.bottom_mlp.back() != o.embedding_dim) {
    return absl::InvalidArgumentError(absl::StrCat("bottom MLP [", absl::StrJoin(o.bottom_mlp, "-"),
                                                   "] must end in embedding_dim ", o.embedding_dim));
  }
  if (o.data.source == DataSource::kSynthetic && o.data.synthetic_test_examples < 2) {
    return absl::InvalidArgumentError("synthetic_test_examples must be >= 2");
  }
  if (!(o.lamb_beta1 >= 0 && o.lamb_beta1 < 1 && o.lamb_beta2 >= 0 && o.lamb_beta2 < 1 && o.lamb_epsilon > 0)) {
    return absl::InvalidArgumentError("LAMB betas must be in [0, 1) and epsilon > 0");
  }
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", o.rank, " is not in [0, world_size ", o.world_size, ")"));
  }
  if (o.world_size > 1) {
    if (o.master_addr.empty() || o.master_port < 1 || o.master_port > 65535) {
      return absl::InvalidArgumentError("distributed training needs master_addr and a master_port in [1, 65535]");
    }
    if (!(o.dist_timeout_seconds > 0)) return absl::InvalidArgumentError("dist_timeout_seconds must be > 0");
    if (o.dist_replicate_below_rows < 0) return absl::InvalidArgumentError("dist_replicate_below_rows must be >= 0");
  }
  if (o.rank_memory_budget_bytes < 0 || o.dist_allreduce_bucket_bytes < 0) {
    return absl::InvalidArgumentError("rank_memory_budget_bytes and dist_allreduce_bucket_bytes must be >= 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainResult> Train(const TrainOptions& options, ProgressCallback progress) {
  // The one place where LibTorch's exceptions become statuses.
  if (options.world_size > 1) {
    // A peer that died or hung surfaces as an exception from a collective (Gloo's
    // timeout or a closed connection): Unavailable, so the caller may retry the trial.
    try {
      return TrainDistributedImpl(options, progress);
    } catch (const c10::Error& e) {
      return absl::UnavailableError(absl::StrCat("distributed training (rank ", options.rank, " of ",
                                                 options.world_size, "): ", e.what_without_backtrace()));
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("out of memory building or training the model");
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("distributed training (rank ", options.rank, " of ",
                                                 options.world_size, "): ", e.what()));
    }
  }
  try {
    return TrainImpl(options, progress);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("LibTorch: ", e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory building or training the model");
  }
}

}  // namespace hpo::trainer
