#include "trainer/data/batch_loader.h"

#include <cstring>
#include <random>
#include <utility>

namespace hpo::trainer {

void GatherBatch(const Dataset& ds, const std::vector<int64_t>& ids, Batch* batch) {
  const int64_t b_size = static_cast<int64_t>(ids.size());
  const int nd = ds.layout().num_dense, ns = ds.layout().num_sparse;
  batch->size = b_size;
  batch->labels.resize(static_cast<size_t>(b_size));
  batch->dense.resize(static_cast<size_t>(b_size * nd));
  batch->indices.resize(static_cast<size_t>(b_size * ns));
  if (ds.layout().has_probability) batch->probability.resize(static_cast<size_t>(b_size));
  else batch->probability.clear();
  for (int64_t b = 0; b < b_size; ++b) {
    const int64_t i = ids[static_cast<size_t>(b)];
    batch->labels[static_cast<size_t>(b)] = ds.label(i);
    std::memcpy(&batch->dense[static_cast<size_t>(b * nd)], ds.dense(i), 4 * static_cast<size_t>(nd));
    const int32_t* sp = ds.sparse(i);
    for (int f = 0; f < ns; ++f) batch->indices[static_cast<size_t>(f * b_size + b)] = sp[f];
    if (ds.layout().has_probability) {
      std::memcpy(&batch->probability[static_cast<size_t>(b)], ds.record(i) + ds.layout().words() - 1, 4);
    }
  }
}

std::vector<int64_t> BatchLoader::EpochOrder(int64_t begin, int64_t end, int64_t buffer,
                                             uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(end - begin));
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(epoch) + 1);
  std::vector<int64_t> pool;
  int64_t next = begin;
  while (next < end && static_cast<int64_t>(pool.size()) < std::max<int64_t>(buffer, 1)) pool.push_back(next++);
  while (!pool.empty()) {
    const size_t j = static_cast<size_t>(rng() % pool.size());
    order.push_back(pool[j]);
    if (next < end) {
      pool[j] = next++;
    } else {
      pool[j] = pool.back();
      pool.pop_back();
    }
  }
  return order;
}

BatchLoader::BatchLoader(const Dataset* dataset, int64_t begin, int64_t end, const Options& o)
    : prefetch_(std::max(o.prefetch, 1)) {
  // The order of an epoch is materialised lazily (8 bytes per example) when it starts.
  auto state = std::make_shared<std::pair<int64_t, std::vector<int64_t>>>(-1, std::vector<int64_t>());
  auto epoch_pos = std::make_shared<std::pair<int64_t, size_t>>(0, 0);  // epoch, position
  Options opts = o;
  auto generate = [=](int64_t, Batch* batch) -> bool {
    if (end <= begin) return false;
    auto& [epoch, pos] = *epoch_pos;
    for (;;) {
      if (opts.max_epochs > 0 && epoch >= opts.max_epochs) return false;
      if (state->first != epoch) {
        state->first = epoch;
        state->second = EpochOrder(begin, end, opts.shuffle_buffer, opts.seed, epoch);
        pos = 0;
      }
      const size_t remaining = state->second.size() - pos;
      const size_t want = static_cast<size_t>(opts.batch_size);
      if (remaining == 0 || (remaining < want && !opts.keep_partial)) {
        ++epoch;
        continue;
      }
      const size_t take = std::min(remaining, want);
      std::vector<int64_t> ids(state->second.begin() + static_cast<std::ptrdiff_t>(pos),
                               state->second.begin() + static_cast<std::ptrdiff_t>(pos + take));
      pos += take;
      GatherBatch(*dataset, ids, batch);
      batch->epoch = epoch;
      return true;
    }
  };
  thread_ = std::thread([this, generate] { Run(generate); });
}

BatchLoader::BatchLoader(std::function<bool(int64_t, Batch*)> generate, int prefetch)
    : prefetch_(std::max(prefetch, 1)) {
  thread_ = std::thread([this, generate = std::move(generate)] { Run(generate); });
}

BatchLoader::~BatchLoader() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void BatchLoader::Run(std::function<bool(int64_t, Batch*)> generate) {
  for (int64_t index = 0;; ++index) {
    Batch batch;
    const bool more = generate(index, &batch);
    absl::MutexLock lock(&mu_);
    if (!more) {
      done_ = true;
      return;
    }
    auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || static_cast<int>(queue_.size()) < prefetch_;
    };
    mu_.Await(absl::Condition(&room));
    if (stopping_) return;
    queue_.push_back(std::move(batch));
  }
}

std::optional<Batch> BatchLoader::Next() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ || !queue_.empty(); };
  mu_.Await(absl::Condition(&ready));
  if (queue_.empty()) return std::nullopt;
  Batch b = std::move(queue_.front());
  queue_.pop_front();
  return b;
}

}  // namespace hpo::trainer
