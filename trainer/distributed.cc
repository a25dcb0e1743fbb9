#include "trainer/distributed.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "trainer/optim/optim_kernels.h"

namespace hpo::trainer {

// ---------------------------------------------------------------- Communicator
struct Communicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

Communicator::Communicator(int rank, int world_size, std::unique_ptr<Impl> impl)
    : rank_(rank), world_size_(world_size), impl_(std::move(impl)) {}

Communicator::~Communicator() = default;

namespace {

bool IsLoopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

// The source address of this host's route to `host` (a connected UDP socket sends nothing), or
// "" if there is none.
std::string LocalAddressTowards(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), "9", &hints, &found) != 0 || found == nullptr) return "";
  std::string local;
  for (addrinfo* a = found; a != nullptr && local.empty(); a = a->ai_next) {
    const int fd = ::socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage self{};
    socklen_t length = sizeof(self);
    char text[INET6_ADDRSTRLEN] = {0};
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &length) == 0) {
      const void* raw = self.ss_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&self)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&self)->sin_addr);
      if (::inet_ntop(self.ss_family, raw, text, sizeof(text)) != nullptr) local = text;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return local;
}

std::shared_ptr<::gloo::transport::Device> GlooDevice(const std::string& master_addr) {
  // Loopback rendezvous means every rank is on this machine: bind Gloo there too.
  // Otherwise GLOO_SOCKET_IFNAME (as in PyTorch) picks the interface, else the address this
  // host reaches rank 0 from, which the other ranks can reach too (unlike the host name's
  // address, which may not be on the cluster network at all), else the host name's address.
  if (IsLoopback(master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0') {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  if (const std::string local = LocalAddressTowards(master_addr); !local.empty()) {
    return c10d::ProcessGroupGloo::createDeviceForHostname(local);
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

std::unique_ptr<Communicator> Communicator::Connect(const DistConfig& c) {
  TORCH_CHECK(c.world_size >= 1 && c.rank >= 0 && c.rank < c.world_size, "rank ", c.rank, " of world size ",
              c.world_size);
  TORCH_CHECK(c.master_port > 0 && c.master_port < 65536, "master_port ", c.master_port);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(c.timeout_seconds * 1000.0)));
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(c.master_port);
  so.isServer = c.rank == 0;
  so.numWorkers = static_cast<size_t>(c.world_size);
  so.waitWorkers = true;
  so.timeout = timeout;
  auto impl = std::make_unique<Impl>();
  impl->store = c10::make_intrusive<c10d::TCPStore>(c.master_addr, so);
  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  opts->devices.push_back(GlooDevice(c.master_addr));
  opts->threads = 2;
  impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
      c10::make_intrusive<c10d::PrefixStore>("hpo-dlrm", impl->store), c.rank, c.world_size, opts);
  return std::unique_ptr<Communicator>(new Communicator(c.rank, c.world_size, std::move(impl)));
}

void Communicator::AllReduceSum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  // Buckets of consecutive tensors, each flattened into one buffer: one collective per
  // bucket instead of one per tensor (latency bound for DLRM's small MLPs).
  std::vector<std::pair<size_t, size_t>> ranges;  // [first, last) tensor of each bucket
  for (size_t i = 0; i < tensors.size();) {
    size_t j = i;
    int64_t bytes = 0;
    while (j < tensors.size() && (j == i || bytes + tensors[j].nbytes() <= static_cast<size_t>(bucket_bytes))) {
      bytes += static_cast<int64_t>(tensors[j].nbytes());
      ++j;
    }
    ranges.push_back({i, j});
    i = j;
  }
  std::vector<torch::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (const auto& [lo, hi] : ranges) {
    std::vector<torch::Tensor> parts;
    for (size_t k = lo; k < hi; ++k) parts.push_back(tensors[k].reshape({-1}));
    std::vector<torch::Tensor> buf{parts.size() == 1 ? parts[0].clone() : torch::cat(parts)};
    flats.push_back(buf[0]);
    works.push_back(impl_->pg->allreduce(buf));
  }
  for (size_t b = 0; b < ranges.size(); ++b) {
    works[b]->wait();
    int64_t off = 0;
    for (size_t k = ranges[b].first; k < ranges[b].second; ++k) {
      const int64_t n = tensors[k].numel();
      tensors[k].view({-1}).copy_(flats[b].slice(0, off, off + n));
      off += n;
    }
  }
}

namespace {

class GlooWork : public Communicator::Work {
 public:
  GlooWork(std::vector<torch::Tensor> tensors, c10::intrusive_ptr<c10d::Work> work)
      : tensors_(std::move(tensors)), work_(std::move(work)) {}
  void Wait() override { work_->wait(); }

 private:
  std::vector<torch::Tensor> tensors_;  // kept alive while in flight
  c10::intrusive_ptr<c10d::Work> work_;
};

}  // namespace

std::unique_ptr<Communicator::Work> Communicator::StartAllReduceSum(const torch::Tensor& t) {
  TORCH_CHECK(t.is_contiguous() && t.scalar_type() == torch::kFloat32, "StartAllReduceSum: contiguous float only");
  std::vector<torch::Tensor> v{t};
  auto work = impl_->pg->allreduce(v);
  return std::make_unique<GlooWork>(std::move(v), std::move(work));
}

std::vector<torch::Tensor> Communicator::AllGather(const torch::Tensor& t) {
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < world_size_; ++r) out[0].push_back(torch::empty_like(t, torch::MemoryFormat::Contiguous));
  std::vector<torch::Tensor> in{t.contiguous()};
  impl_->pg->allgather(out, in)->wait();
  return out[0];
}

torch::Tensor Communicator::AllGatherRows(const torch::Tensor& t, std::vector<int64_t> counts) {
  if (counts.empty()) {
    auto all = AllGather(torch::full({1}, t.size(0), torch::kInt64));
    for (auto& c : all) counts.push_back(c.item<int64_t>());
  }
  TORCH_CHECK(static_cast<int>(counts.size()) == world_size_ && counts[static_cast<size_t>(rank_)] == t.size(0),
              "AllGatherRows: row counts do not match");
  const int64_t cap = std::max<int64_t>(1, *std::max_element(counts.begin(), counts.end()));
  std::vector<int64_t> shape = t.sizes().vec();
  shape[0] = cap;
  auto padded = torch::zeros(shape, t.options());
  padded.slice(0, 0, t.size(0)).copy_(t);
  auto all = AllGather(padded);
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < world_size_; ++r) parts.push_back(all[static_cast<size_t>(r)].slice(0, 0, counts[static_cast<size_t>(r)]));
  return torch::cat(parts, 0);
}

torch::Tensor Communicator::AllToAll(const torch::Tensor& input, std::vector<int64_t> in_counts,
                                     std::vector<int64_t> out_counts) {
  // Every (sender, receiver) pair carries one extra leading element, so that no buffer
  // is ever empty (a rank that owns no table still takes part) and Gloo's split-size
  // checks hold; it is stripped on arrival.
  auto in = input.reshape({-1});
  std::vector<torch::Tensor> parts;
  int64_t off = 0;
  for (auto& c : in_counts) {
    parts.push_back(torch::zeros({1}, input.options()));
    parts.push_back(in.slice(0, off, off + c));
    off += c;
    ++c;
  }
  TORCH_CHECK(off == in.numel(), "AllToAll: counts do not cover the input");
  auto send = torch::cat(parts).contiguous();
  int64_t total = 0;
  for (auto& c : out_counts) total += ++c;
  auto recv = torch::empty({total}, input.options());
  // alltoall_base takes the count vectors by reference and moves them away: pass copies.
  std::vector<int64_t> out_arg = out_counts, in_arg = in_counts;
  impl_->pg->alltoall_base(recv, send, out_arg, in_arg)->wait();
  std::vector<torch::Tensor> got;
  off = 0;
  for (int64_t c : out_counts) {
    got.push_back(recv.slice(0, off + 1, off + c));
    off += c;
  }
  return torch::cat(got);
}

torch::Tensor Communicator::Broadcast(const torch::Tensor& t) {
  std::vector<torch::Tensor> v{t.clone().contiguous()};
  c10d::BroadcastOptions o;
  o.rootRank = 0;
  impl_->pg->broadcast(v, o)->wait();
  return v[0];
}

void Communicator::Barrier() { impl_->pg->barrier()->wait(); }

// ---------------------------------------------------------------- GradientReducer
GradientReducer::GradientReducer(Communicator* comm, std::vector<torch::Tensor> params, int64_t extra_values,
                                 bool overlap, int64_t bucket_bytes)
    : comm_(comm), params_(std::move(params)), extra_values_(extra_values), overlap_(overlap) {
  TORCH_CHECK(extra_values_ >= 0 && bucket_bytes > 0, "GradientReducer: bad sizes");
  slot_.resize(params_.size());
  copied_.assign(params_.size(), false);
  // Reverse registration order: backward produces the last layers' gradients first.
  std::vector<int64_t> sizes;  // elements per bucket
  for (size_t k = params_.size(); k-- > 0;) {
    TORCH_CHECK(params_[k].scalar_type() == torch::kFloat32, "GradientReducer: float parameters only");
    const int64_t n = params_[k].numel();
    if (buckets_.empty() || (!buckets_.back().params.empty() && (sizes.back() + n) * 4 > bucket_bytes)) {
      buckets_.emplace_back();
      sizes.push_back(buckets_.size() == 1 ? extra_values_ : 0);
    }
    slot_[k] = {buckets_.size() - 1, sizes.back()};
    buckets_.back().params.push_back(k);
    sizes.back() += n;
  }
  if (buckets_.empty()) {
    buckets_.emplace_back();
    sizes.push_back(extra_values_);
  }
  for (size_t b = 0; b < buckets_.size(); ++b) buckets_[b].flat = torch::zeros({sizes[b]});
  if (overlap_) {
    for (size_t k = 0; k < params_.size(); ++k) {
      hooks_.push_back(params_[k].register_hook([this, k](torch::Tensor grad) { OnGradient(k, grad); }));
    }
  }
}

GradientReducer::~GradientReducer() {
  for (size_t k = 0; k < hooks_.size(); ++k) params_[k].remove_hook(hooks_[k]);
}

void GradientReducer::Begin(const torch::Tensor& extra) {
  TORCH_CHECK(!in_step_, "GradientReducer::Begin: the previous step was not waited for");
  TORCH_CHECK(extra.numel() == extra_values_, "GradientReducer::Begin: expected ", extra_values_, " extra values");
  torch::NoGradGuard no_grad;
  if (extra_values_ > 0) buckets_[0].flat.slice(0, 0, extra_values_).copy_(extra.reshape({-1}));
  for (auto& b : buckets_) b.pending = static_cast<int>(b.params.size());
  // Backward must find no gradient to accumulate into (the last step's are bucket views).
  for (auto& p : params_) p.mutable_grad() = torch::Tensor();
  copied_.assign(params_.size(), false);
  next_start_ = 0;
  in_step_ = true;
}

void GradientReducer::CopyIn(size_t k, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  const auto [b, off] = slot_[k];
  auto dst = buckets_[b].flat.slice(0, off, off + params_[k].numel());
  if (grad.defined()) {
    dst.view(grad.sizes()).copy_(grad);
  } else {
    dst.zero_();
  }
  copied_[k] = true;
  --buckets_[b].pending;
}

void GradientReducer::OnGradient(size_t k, const torch::Tensor& grad) {
  if (!in_step_ || copied_[k]) return;  // a backward outside a step, or a second one
  CopyIn(k, grad);
  StartReadyBuckets();
}

void GradientReducer::StartReadyBuckets() {
  // In bucket order, so that every rank starts the same collectives in the same order.
  while (next_start_ < buckets_.size() && buckets_[next_start_].pending == 0) {
    auto& b = buckets_[next_start_++];
    b.work = comm_->StartAllReduceSum(b.flat);
  }
}

void GradientReducer::Flush() {
  TORCH_CHECK(in_step_, "GradientReducer::Flush outside a step");
  started_during_backward_ += static_cast<int64_t>(next_start_);
  for (size_t k = 0; k < params_.size(); ++k) {
    if (!copied_[k]) CopyIn(k, params_[k].grad());
  }
  StartReadyBuckets();
}

torch::Tensor GradientReducer::Wait() {
  TORCH_CHECK(in_step_ && next_start_ == buckets_.size(), "GradientReducer::Wait before Flush");
  for (auto& b : buckets_) {
    b.work->Wait();
    b.work.reset();
  }
  in_step_ = false;
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < params_.size(); ++k) {
    const auto [b, off] = slot_[k];
    params_[k].mutable_grad() = buckets_[b].flat.slice(0, off, off + params_[k].numel()).view(params_[k].sizes());
  }
  return buckets_[0].flat.slice(0, 0, extra_values_);
}

// ---------------------------------------------------------------- DistributedEmbedding
namespace {

torch::Tensor IndexTensor(const std::vector<int64_t>& ids) {
  return torch::tensor(ids, torch::kInt64);
}

std::vector<int64_t> SizesOf(const std::vector<int64_t>& sizes, const std::vector<int64_t>& ids) {
  std::vector<int64_t> out;
  for (int64_t f : ids) out.push_back(sizes[static_cast<size_t>(f)]);
  return out;
}

// Overwrites table `i` of `arch` with the FP32 values `t` (split into halves for BF16).
void SetTable(SparseArch& arch, int64_t i, const torch::Tensor& t) {
  torch::NoGradGuard no_grad;
  if (!arch->bf16()) {
    arch->table(i).copy_(t);
    return;
  }
  auto buffers = arch->named_buffers();
  auto upper = buffers["table" + std::to_string(i)];
  auto lower = buffers["table_lower" + std::to_string(i)];
  const float* src = t.data_ptr<float>();
  auto* up = reinterpret_cast<uint16_t*>(upper.data_ptr());
  auto* lo = reinterpret_cast<uint16_t*>(lower.data_ptr<int16_t>());
  for (int64_t k = 0; k < t.numel(); ++k) {
    up[k] = UpperHalf(src[k]);
    lo[k] = LowerHalf(src[k]);
  }
}

}  // namespace

DistributedEmbedding::DistributedEmbedding(Communicator* comm, TablePlan plan, std::vector<int64_t> table_sizes,
                                           int64_t dim, bool bf16)
    : comm_(comm), plan_(std::move(plan)), sizes_(std::move(table_sizes)), dim_(dim), bf16_(bf16) {
  TORCH_CHECK(plan_.owner.size() == sizes_.size(), "table plan does not match the tables");
  rep_ids_ = plan_.Replicated();
  for (int r = 0; r < comm_->world_size(); ++r) owned_ids_.push_back(plan_.OwnedBy(r));
  const auto& mine = owned_ids_[static_cast<size_t>(comm_->rank())];
  rep_index_ = IndexTensor(rep_ids_);
  own_index_ = IndexTensor(mine);
  if (!rep_ids_.empty()) rep_arch_ = SparseArch(SizesOf(sizes_, rep_ids_), dim_, bf16_);
  if (!mine.empty()) own_arch_ = SparseArch(SizesOf(sizes_, mine), dim_, bf16_);
}

int64_t DistributedEmbedding::local_bytes() const {
  int64_t b = 0;
  for (size_t f = 0; f < sizes_.size(); ++f) {
    if (plan_.owner[f] == TablePlan::kReplicated || plan_.owner[f] == comm_->rank()) b += sizes_[f] * dim_ * 4;
  }
  return b;
}

void DistributedEmbedding::InitTablesFromGenerator() {
  torch::NoGradGuard no_grad;
  int64_t rep_pos = 0, own_pos = 0;
  torch::Tensor scratch;
  for (size_t f = 0; f < sizes_.size(); ++f) {
    const double bound = std::sqrt(1.0 / static_cast<double>(sizes_[f]));
    const bool replicated = plan_.owner[f] == TablePlan::kReplicated;
    if (replicated || plan_.owner[f] == comm_->rank()) {
      auto t = torch::empty({sizes_[f], dim_});
      t.uniform_(-bound, bound);  // exactly SparseArch's draw
      if (replicated) SetTable(rep_arch_, rep_pos++, t);
      else SetTable(own_arch_, own_pos++, t);
      continue;
    }
    // Another rank's table: draw and discard as many values (CPU uniform_ draws one
    // 32-bit number per float element, serially), in bounded chunks.
    int64_t left = sizes_[f] * dim_;
    while (left > 0) {
      const int64_t n = std::min<int64_t>(left, int64_t{1} << 20);
      if (!scratch.defined() || scratch.numel() != n) scratch = torch::empty({n});
      scratch.uniform_(-bound, bound);
      left -= n;
    }
  }
}

torch::Tensor DistributedEmbedding::Forward(const torch::Tensor& local, int64_t max_rows) {
  torch::NoGradGuard no_grad;
  const int64_t f_count = static_cast<int64_t>(sizes_.size());
  TORCH_CHECK(local.scalar_type() == torch::kInt32 && local.dim() == 2 && local.size(0) == f_count,
              "DistributedEmbedding expects indices [F, n] int32");
  const int64_t n = local.size(1);
  TORCH_CHECK(n <= max_rows, "local batch ", n, " exceeds ", max_rows);
  const int64_t cap = std::max<int64_t>(max_rows, 1);
  // 1. All-gather [n | indices padded to cap]: every rank learns the global batch.
  auto packed = torch::zeros({1 + f_count * cap}, torch::kInt32);
  packed[0] = static_cast<int32_t>(n);
  packed.slice(0, 1).view({f_count, cap}).slice(1, 0, n).copy_(local);
  auto all = comm_->AllGather(packed);
  counts_.clear();
  std::vector<torch::Tensor> parts;
  for (auto& t : all) {
    const int64_t c = t[0].item<int32_t>();
    counts_.push_back(c);
    parts.push_back(t.slice(0, 1).view({f_count, cap}).slice(1, 0, c));
  }
  global_n_ = 0;
  for (int64_t c : counts_) global_n_ += c;
  global_indices_ = torch::cat(parts, 1).contiguous();
  auto pooled = torch::zeros({n, f_count, dim_});
  // 2. Replicated tables: local lookups.
  if (!rep_ids_.empty()) {
    rep_global_ = global_indices_.index_select(0, rep_index_).contiguous();
    auto rep = rep_arch_->forward(local.index_select(0, rep_index_).contiguous());
    pooled.index_copy_(1, rep_index_, rep);
  }
  // 3. Model-parallel tables: the owner looks up the global batch, all-to-all sends each
  //    rank its rows ([N, F_own, D] is batch-major, so rank r's rows are contiguous).
  if (rep_ids_.size() < sizes_.size()) {
    const int me = comm_->rank();
    const int64_t f_own = static_cast<int64_t>(owned_ids_[static_cast<size_t>(me)].size());
    torch::Tensor mine = torch::empty({0});
    if (f_own > 0) {
      own_global_ = global_indices_.index_select(0, own_index_).contiguous();
      mine = own_arch_->forward(own_global_);
    }
    std::vector<int64_t> in_counts, out_counts;
    for (int r = 0; r < comm_->world_size(); ++r) {
      in_counts.push_back(counts_[static_cast<size_t>(r)] * f_own * dim_);
      out_counts.push_back(n * static_cast<int64_t>(owned_ids_[static_cast<size_t>(r)].size()) * dim_);
    }
    auto recv = comm_->AllToAll(mine, in_counts, out_counts);
    int64_t off = 0;
    for (int r = 0; r < comm_->world_size(); ++r) {
      const auto& ids = owned_ids_[static_cast<size_t>(r)];
      if (ids.empty()) continue;
      const int64_t len = n * static_cast<int64_t>(ids.size()) * dim_;
      pooled.index_copy_(1, IndexTensor(ids), recv.slice(0, off, off + len).view({n, static_cast<int64_t>(ids.size()), dim_}));
      off += len;
    }
  }
  return pooled;
}

void DistributedEmbedding::Backward(const torch::Tensor& grad_in, const SparseUpdate& u) {
  torch::NoGradGuard no_grad;
  auto grad = grad_in.contiguous();
  const int64_t n = grad.size(0);
  // Model-parallel tables: send each owner the gradient rows of its tables; the owner
  // receives them in rank order, which is the global batch order.
  if (rep_ids_.size() < sizes_.size()) {
    const int me = comm_->rank();
    const int64_t f_own = static_cast<int64_t>(owned_ids_[static_cast<size_t>(me)].size());
    std::vector<torch::Tensor> send;
    std::vector<int64_t> in_counts, out_counts;
    for (int r = 0; r < comm_->world_size(); ++r) {
      const auto& ids = owned_ids_[static_cast<size_t>(r)];
      in_counts.push_back(n * static_cast<int64_t>(ids.size()) * dim_);
      out_counts.push_back(counts_[static_cast<size_t>(r)] * f_own * dim_);
      if (!ids.empty()) send.push_back(grad.index_select(1, IndexTensor(ids)).reshape({-1}));
    }
    auto recv = comm_->AllToAll(send.empty() ? torch::empty({0}) : torch::cat(send), in_counts, out_counts);
    if (f_own > 0) {
      own_arch_->ApplyGradient(recv.slice(0, 0, global_n_ * f_own * dim_).view({global_n_, f_own, dim_}), own_global_,
                               torch::Tensor(), u);
    }
  }
  // Replicated tables: every rank applies the whole global batch's gradient, in global
  // order, so the replicas stay identical (and equal to a single-process run's table).
  if (!rep_ids_.empty()) {
    auto all = comm_->AllGatherRows(grad.index_select(1, rep_index_), counts_);
    rep_arch_->ApplyGradient(all, rep_global_, torch::Tensor(), u);
  }
}

DLRM BuildDistributedModel(const DlrmOptions& options, uint64_t seed, DistributedEmbedding& embedding) {
  const int64_t f_count = static_cast<int64_t>(options.table_sizes().size());
  DlrmOptions placeholder = options;
  placeholder.table_sizes(std::vector<int64_t>(static_cast<size_t>(f_count), 1));
  DLRM model(placeholder);
  // Replay DLRMImpl's constructor draws: bottom MLP, every table, top MLP.
  torch::manual_seed(seed);
  DenseArch bottom(options.num_dense_features(), options.bottom_mlp());
  embedding.InitTablesFromGenerator();
  InteractionArch interaction(f_count, options.interaction_self());
  OverArch top(interaction->output_dim(options.embedding_dim()), options.top_mlp());
  torch::NoGradGuard no_grad;
  auto copy = [](const std::vector<torch::Tensor>& dst, const std::vector<torch::Tensor>& src) {
    TORCH_CHECK(dst.size() == src.size(), "parameter count mismatch");
    for (size_t i = 0; i < dst.size(); ++i) dst[i].copy_(src[i]);
  };
  copy(model->dense_arch->parameters(), bottom->parameters());
  copy(model->over_arch->parameters(), top->parameters());
  return model;
}

}  // namespace hpo::trainer
