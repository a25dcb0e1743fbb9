#include "trainer/dlrm/dlrm.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "trainer/dlrm/interaction_arch.h"

#if HPO_TRAINER_HAVE_DNNL
#include <dnnl.h>
#endif

namespace hpo::trainer {
namespace {

// Row-major fp32 GEMM: C[m, n] = op(A) op(B) + beta C, op = transpose where asked.
// With oneDNN (the one LibTorch itself links) this calls dnnl_sgemm, whose JIT AVX2
// kernels run on LibTorch's OpenMP threads. ATen's own at::mm goes to the system
// libblas: on Debian that is OpenBLAS, often the pthread build (whose own thread pool
// spin-yields against OpenMP's), measured 1.2-1.8x slower on the DLRM shapes here.
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
#if HPO_TRAINER_HAVE_DNNL
  if (k > 0) {
    const dnnl_status_t s = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb,
                                       beta, c, ldc);
    TORCH_CHECK(s == dnnl_success, "dnnl_sgemm failed with status ", static_cast<int>(s));
    return;
  }
#endif
  auto ta = torch::from_blob(const_cast<float*>(a), trans_a ? std::vector<int64_t>{k, m} : std::vector<int64_t>{m, k},
                             {lda, 1});
  auto tb = torch::from_blob(const_cast<float*>(b), trans_b ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n},
                             {ldb, 1});
  auto tc = torch::from_blob(c, {m, n}, {ldc, 1});
  if (trans_a) ta = ta.t();
  if (trans_b) tb = tb.t();
  if (beta == 0.0f) {
    at::mm_out(tc, ta, tb);
  } else {
    tc.mul_(beta).addmm_(ta, tb);
  }
}

// y = x W^T + b, optionally followed by ReLU, for fp32 tensors, with a hand-written
// backward: the masked gradient is formed once (ReLU backward fused with the bias
// gradient's input), then dW = gz^T x and dx = gz W as two GEMMs; dx is skipped when
// the input needs no gradient (the dense features). Saves x, W and (with ReLU) y.
class LinearFunction : public torch::autograd::Function<LinearFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& w, const torch::Tensor& b, bool relu) {
    auto x = x_in.contiguous();
    const int64_t rows = x.size(0), in = x.size(1), out = w.size(0);
    auto y = torch::empty({rows, out}, x.options());
    const float* bp = b.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    Sgemm(false, true, rows, out, in, x.data_ptr<float>(), in, w.data_ptr<float>(), in, 0.0f, yp, out);
    at::parallel_for(0, rows, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        float* row = yp + r * out;
        if (relu) {
          for (int64_t c = 0; c < out; ++c) {
            const float v = row[c] + bp[c];
            row[c] = v < 0.0f ? 0.0f : v;  // NaN propagates, as in torch::relu
          }
        } else {
          for (int64_t c = 0; c < out; ++c) row[c] += bp[c];
        }
      }
    });
    ctx->save_for_backward({x, w, relu ? y : torch::Tensor()});
    ctx->saved_data["relu"] = relu;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const bool relu = ctx->saved_data["relu"].toBool();
    const auto& x = saved[0];
    const auto& w = saved[1];
    auto gz = grads[0].contiguous();
    const int64_t rows = x.size(0), in = x.size(1), out = w.size(0);
    if (relu) {
      const auto& y = saved[2];
      auto masked = torch::empty_like(gz);
      const float* gp = gz.data_ptr<float>();
      const float* yp = y.data_ptr<float>();
      float* mp = masked.data_ptr<float>();
      // Branch-free (both values loaded) so that it vectorises: a branch here
      // mispredicts on about half of the ReLUs and cost ~10% of a step.
      at::parallel_for(0, rows * out, 16384, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          const float gv = gp[i];
          mp[i] = yp[i] <= 0.0f ? 0.0f : gv;  // as ATen's threshold_backward
        }
      });
      gz = masked;
    }
    const float* gp = gz.data_ptr<float>();
    torch::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) {
      gx = torch::empty({rows, in}, gz.options());
      Sgemm(false, false, rows, in, out, gp, out, w.data_ptr<float>(), in, 0.0f, gx.data_ptr<float>(), in);
    }
    if (ctx->needs_input_grad(1)) {
      gw = torch::empty({out, in}, gz.options());
      Sgemm(true, false, out, in, rows, gp, out, x.data_ptr<float>(), in, 0.0f, gw.data_ptr<float>(), in);
    }
    if (ctx->needs_input_grad(2)) gb = gz.sum(0);
    return {gx, gw, gb, torch::Tensor()};
  }
};

// One Linear (+ReLU) layer: the fused fp32 path above, or LibTorch's modules for other
// dtypes (the double-precision gradient checks).
torch::Tensor LinearLayer(torch::nn::Linear& l, const torch::Tensor& x, bool relu) {
  if (x.scalar_type() == torch::kFloat32 && l->weight.scalar_type() == torch::kFloat32 &&
      l->bias.defined() && x.dim() == 2) {
    return LinearFunction::apply(x, l->weight, l->bias, relu);
  }
  auto y = l->forward(x);
  return relu ? torch::relu(y) : y;
}

// Reference-DLRM initialisation: W ~ N(0, sqrt(2 / (fan_in + fan_out))), b ~ N(0, sqrt(1 / fan_out)).
torch::nn::Linear MakeLinear(int64_t in, int64_t out) {
  torch::nn::Linear l(torch::nn::LinearOptions(in, out));
  torch::NoGradGuard no_grad;
  l->weight.normal_(0.0, std::sqrt(2.0 / static_cast<double>(in + out)));
  l->bias.normal_(0.0, std::sqrt(1.0 / static_cast<double>(out)));
  return l;
}

// Bag [begin, end) of (table f, example b).
inline std::pair<int64_t, int64_t> Bag(const int32_t* offsets, int64_t f, int64_t b, int64_t batch) {
  if (offsets == nullptr) return {f * batch + b, f * batch + b + 1};
  return {offsets[f * batch + b], offsets[f * batch + b + 1]};
}

int64_t BatchSize(const torch::Tensor& indices, const torch::Tensor& offsets, int64_t f_count) {
  if (offsets.defined()) return (offsets.numel() - 1) / f_count;
  return indices.size(1);
}

class InteractionFunction : public torch::autograd::Function<InteractionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& dense,
                               const torch::Tensor& sparse, bool self) {
    auto d = dense.contiguous(), s = sparse.contiguous();
    ctx->save_for_backward({d, s});
    ctx->saved_data["self"] = self;
    const int64_t b = d.size(0), f = s.size(1), dim = d.size(1);
    auto out = torch::empty({b, dim + InteractionPairs(f, self)}, d.options());
    AT_DISPATCH_FLOATING_TYPES(d.scalar_type(), "interaction_forward", [&] {
      const scalar_t* dp = d.data_ptr<scalar_t>();
      const scalar_t* sp = s.data_ptr<scalar_t>();
      scalar_t* op = out.data_ptr<scalar_t>();
      at::parallel_for(0, b, 64, [&](int64_t lo, int64_t hi) {
        InteractionForward<scalar_t>(dp, sp, lo, hi, f, dim, self, op);
      });
    });
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const bool self = ctx->saved_data["self"].toBool();
    auto d = saved[0], s = saved[1];
    auto g = grads[0].contiguous();
    const int64_t b = d.size(0), f = s.size(1), dim = d.size(1);
    auto gd = torch::empty_like(d), gs = torch::empty_like(s);
    AT_DISPATCH_FLOATING_TYPES(d.scalar_type(), "interaction_backward", [&] {
      const scalar_t* gp = g.data_ptr<scalar_t>();
      const scalar_t* dp = d.data_ptr<scalar_t>();
      const scalar_t* sp = s.data_ptr<scalar_t>();
      scalar_t* gdp = gd.data_ptr<scalar_t>();
      scalar_t* gsp = gs.data_ptr<scalar_t>();
      at::parallel_for(0, b, 64, [&](int64_t lo, int64_t hi) {
        InteractionBackward<scalar_t>(gp, dp, sp, lo, hi, f, dim, self, gdp, gsp);
      });
    });
    return {gd, gs, torch::Tensor()};
  }
};

}  // namespace

// ---------------------------------------------------------------- DenseArch
DenseArchImpl::DenseArchImpl(int64_t in_features, const std::vector<int64_t>& widths) {
  TORCH_CHECK(in_features >= 1 && !widths.empty(), "DenseArch needs inputs and at least one layer");
  int64_t in = in_features;
  for (size_t i = 0; i < widths.size(); ++i) {
    TORCH_CHECK(widths[i] >= 1, "DenseArch layer ", i, " has width ", widths[i]);
    layers.push_back(register_module("linear" + std::to_string(i), MakeLinear(in, widths[i])));
    in = widths[i];
  }
}

torch::Tensor DenseArchImpl::forward(const torch::Tensor& dense) {
  torch::Tensor x = dense;
  for (auto& l : layers) x = LinearLayer(l, x, /*relu=*/true);
  return x;
}

// ---------------------------------------------------------------- SparseArch
SparseArchImpl::SparseArchImpl(const std::vector<int64_t>& table_sizes, int64_t dim, bool bf16)
    : sizes_(table_sizes), dim_(dim), bf16_(bf16) {
  TORCH_CHECK(!table_sizes.empty() && dim >= 1, "SparseArch needs tables and dim >= 1");
  torch::NoGradGuard no_grad;
  for (size_t f = 0; f < sizes_.size(); ++f) {
    TORCH_CHECK(sizes_[f] >= 1 && sizes_[f] < (int64_t{1} << 31), "table ", f, " has ", sizes_[f], " rows");
    auto t = torch::empty({sizes_[f], dim});
    const double bound = std::sqrt(1.0 / static_cast<double>(sizes_[f]));
    t.uniform_(-bound, bound);
    if (bf16_) {
      // Upper halves become the BF16 table, lower halves are kept for split-SGD.
      auto lower = torch::empty({sizes_[f], dim}, torch::kInt16);
      auto upper = torch::empty({sizes_[f], dim}, torch::kBFloat16);
      const float* src = t.data_ptr<float>();
      auto* up = reinterpret_cast<uint16_t*>(upper.data_ptr());
      auto* lo = reinterpret_cast<uint16_t*>(lower.data_ptr<int16_t>());
      for (int64_t i = 0; i < t.numel(); ++i) {
        up[i] = UpperHalf(src[i]);
        lo[i] = LowerHalf(src[i]);
      }
      tables_.push_back(register_buffer("table" + std::to_string(f), upper));
      lower_.push_back(register_buffer("table_lower" + std::to_string(f), lower));
    } else {
      tables_.push_back(register_buffer("table" + std::to_string(f), t));
    }
  }
}

void SparseArchImpl::ToDouble() {
  TORCH_CHECK(!bf16_, "ToDouble is not supported for BF16 tables");
  // In place, so the registered buffers (and a preceding module->to(kFloat64)) agree.
  torch::NoGradGuard no_grad;
  for (auto& t : tables_) {
    if (t.scalar_type() != torch::kFloat64) t.set_data(t.to(torch::kFloat64));
  }
}

torch::Tensor SparseArchImpl::table(int64_t f) const {
  const auto& t = tables_[static_cast<size_t>(f)];
  if (!bf16_) return t;
  auto out = torch::empty({sizes_[static_cast<size_t>(f)], dim_});
  const auto* up = reinterpret_cast<const uint16_t*>(t.data_ptr());
  float* o = out.data_ptr<float>();
  for (int64_t i = 0; i < out.numel(); ++i) o[i] = Bf16ToFloat(up[i]);
  return out;
}

torch::Tensor SparseArchImpl::forward(const torch::Tensor& indices, const torch::Tensor& offsets) {
  const int64_t f_count = num_tables();
  TORCH_CHECK(indices.scalar_type() == torch::kInt32 && indices.is_contiguous(),
              "SparseArch indices must be contiguous int32");
  if (offsets.defined()) {
    TORCH_CHECK(offsets.scalar_type() == torch::kInt32 && offsets.numel() >= 1 && (offsets.numel() - 1) % f_count == 0,
                "SparseArch offsets must be int32 [F * B + 1]");
  } else {
    TORCH_CHECK(indices.dim() == 2 && indices.size(0) == f_count, "SparseArch indices must be [F=", f_count,
                ", B], got ", indices.sizes());
  }
  const int64_t batch = BatchSize(indices, offsets, f_count);
  const int32_t* idx = indices.data_ptr<int32_t>();
  const int32_t* off = offsets.defined() ? offsets.data_ptr<int32_t>() : nullptr;
  const auto dtype = bf16_ ? torch::kFloat32 : tables_[0].scalar_type();
  auto out = torch::zeros({batch, f_count, dim_}, torch::TensorOptions().dtype(dtype));
  const int64_t d = dim_;
  // Validate rows first so that an error leaves nothing half-done and the message
  // names the table.
  for (int64_t f = 0; f < f_count && batch > 0; ++f) {
    const auto [lo, hi] = std::make_pair(Bag(off, f, 0, batch).first, Bag(off, f, batch - 1, batch).second);
    for (int64_t i = lo; i < hi; ++i) {
      TORCH_CHECK(idx[i] >= 0 && idx[i] < sizes_[static_cast<size_t>(f)], "row ", idx[i],
                  " out of range for embedding table ", f, " of ", sizes_[static_cast<size_t>(f)], " rows");
    }
  }
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "sparse_arch_forward", [&] {
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, batch, 256, [&](int64_t b_lo, int64_t b_hi) {
      for (int64_t b = b_lo; b < b_hi; ++b) {
        for (int64_t f = 0; f < f_count; ++f) {
          scalar_t* dst = o + (b * f_count + f) * d;
          const auto [lo, hi] = Bag(off, f, b, batch);
          for (int64_t i = lo; i < hi; ++i) {
            if (bf16_) {
              const auto* row = reinterpret_cast<const uint16_t*>(tables_[static_cast<size_t>(f)].data_ptr()) + int64_t{idx[i]} * d;
              for (int64_t k = 0; k < d; ++k) dst[k] += Bf16ToFloat(row[k]);
            } else {
              const scalar_t* row = tables_[static_cast<size_t>(f)].data_ptr<scalar_t>() + int64_t{idx[i]} * d;
              for (int64_t k = 0; k < d; ++k) dst[k] += row[k];
            }
          }
        }
      }
    });
  });
  return out;
}

void SparseArchImpl::ApplyGradient(const torch::Tensor& grad_in, const torch::Tensor& indices,
                                   const torch::Tensor& offsets, const SparseUpdate& u) {
  TORCH_CHECK(grad_in.defined(), "SparseArch::ApplyGradient without a gradient");
  TORCH_CHECK(grad_in.scalar_type() == torch::kFloat32, "sparse updates are implemented for float tables");
  const int64_t f_count = num_tables();
  const int64_t batch = BatchSize(indices, offsets, f_count);
  auto grad = grad_in.contiguous();
  const float* g = grad.data_ptr<float>();
  const int32_t* idx = indices.data_ptr<int32_t>();
  const int32_t* off = offsets.defined() ? offsets.data_ptr<int32_t>() : nullptr;
  const int64_t d = dim_;
  const bool aggregate = u.kind == SparseUpdate::Kind::kAdagrad || u.kind == SparseUpdate::Kind::kLamb;
  if (aggregate && state1_.empty()) {
    for (size_t f = 0; f < sizes_.size(); ++f) {
      state1_.push_back(torch::full({sizes_[f], d}, u.kind == SparseUpdate::Kind::kAdagrad ? u.adagrad_init : 0.0f));
      if (u.kind == SparseUpdate::Kind::kLamb) state2_.push_back(torch::zeros({sizes_[f], d}));
    }
  }
  TORCH_CHECK(!(u.kind == SparseUpdate::Kind::kSplitSgd) || bf16_, "split-SGD needs BF16 tables");
  TORCH_CHECK(!(u.kind != SparseUpdate::Kind::kSplitSgd) || !bf16_, "BF16 tables need split-SGD");
  // Tables are independent: one table per task, so no two threads touch the same row
  // and the result does not depend on the thread count.
  at::parallel_for(0, f_count, 1, [&](int64_t f_lo, int64_t f_hi) {
    std::vector<std::pair<int32_t, int32_t>> occ;  // (row, example)
    std::vector<float> rows_w, rows_g, rows_1, rows_2;
    for (int64_t f = f_lo; f < f_hi; ++f) {
      const size_t fs = static_cast<size_t>(f);
      if (!aggregate) {
        // SGD is linear in the gradient: apply each occurrence directly, no sorting.
        for (int64_t b = 0; b < batch; ++b) {
          const float* gb = g + (b * f_count + f) * d;
          const auto [lo, hi] = Bag(off, f, b, batch);
          for (int64_t i = lo; i < hi; ++i) {
            const int64_t r = idx[i];
            if (u.kind == SparseUpdate::Kind::kSplitSgd) {
              auto* up = reinterpret_cast<uint16_t*>(tables_[fs].data_ptr()) + r * d;
              auto* lw = reinterpret_cast<uint16_t*>(lower_[fs].data_ptr<int16_t>()) + r * d;
              SplitSgdUpdate({up, static_cast<size_t>(d)}, {lw, static_cast<size_t>(d)}, {gb, static_cast<size_t>(d)}, u.lr);
            } else {
              float* w = tables_[fs].data_ptr<float>() + r * d;
              for (int64_t k = 0; k < d; ++k) w[k] -= u.lr * gb[k];
            }
          }
        }
        continue;
      }
      // Adagrad and LAMB: sum the gradient of each distinct row first.
      occ.clear();
      for (int64_t b = 0; b < batch; ++b) {
        const auto [lo, hi] = Bag(off, f, b, batch);
        for (int64_t i = lo; i < hi; ++i) occ.push_back({idx[i], static_cast<int32_t>(b)});
      }
      std::sort(occ.begin(), occ.end());
      rows_g.clear();
      std::vector<int32_t> rows;
      for (size_t i = 0; i < occ.size(); ++i) {
        if (i == 0 || occ[i].first != occ[i - 1].first) {
          rows.push_back(occ[i].first);
          rows_g.resize(rows_g.size() + static_cast<size_t>(d), 0.0f);
        }
        float* dst = rows_g.data() + rows_g.size() - static_cast<size_t>(d);
        const float* gb = g + (int64_t{occ[i].second} * f_count + f) * d;
        for (int64_t k = 0; k < d; ++k) dst[k] += gb[k];
      }
      float* w = tables_[fs].data_ptr<float>();
      float* s1 = state1_[fs].data_ptr<float>();
      if (u.kind == SparseUpdate::Kind::kAdagrad) {
        for (size_t r = 0; r < rows.size(); ++r) {
          const int64_t row = rows[r];
          AdagradUpdate({w + row * d, static_cast<size_t>(d)}, {rows_g.data() + r * static_cast<size_t>(d), static_cast<size_t>(d)},
                        {s1 + row * d, static_cast<size_t>(d)}, u.lr, u.adagrad_eps);
        }
        continue;
      }
      // LAMB on a table: lazy Adam moments on the touched rows, and one trust ratio
      // over those rows (the layer-wise norm of LAMB restricted to what this step
      // changes), computed on gathered copies.
      float* s2 = state2_[fs].data_ptr<float>();
      const size_t n = rows.size() * static_cast<size_t>(d);
      rows_w.resize(n);
      rows_1.resize(n);
      rows_2.resize(n);
      for (size_t r = 0; r < rows.size(); ++r) {
        const int64_t row = rows[r];
        std::copy_n(w + row * d, d, rows_w.data() + r * static_cast<size_t>(d));
        std::copy_n(s1 + row * d, d, rows_1.data() + r * static_cast<size_t>(d));
        std::copy_n(s2 + row * d, d, rows_2.data() + r * static_cast<size_t>(d));
      }
      LambUpdate(absl::MakeSpan(rows_w), rows_g, absl::MakeSpan(rows_1), absl::MakeSpan(rows_2), u.step, u.lr, u.lamb);
      for (size_t r = 0; r < rows.size(); ++r) {
        const int64_t row = rows[r];
        std::copy_n(rows_w.data() + r * static_cast<size_t>(d), d, w + row * d);
        std::copy_n(rows_1.data() + r * static_cast<size_t>(d), d, s1 + row * d);
        std::copy_n(rows_2.data() + r * static_cast<size_t>(d), d, s2 + row * d);
      }
    }
  });
}

// ---------------------------------------------------------------- InteractionArch
InteractionArchImpl::InteractionArchImpl(int64_t num_sparse, bool self) : num_sparse_(num_sparse), self_(self) {
  TORCH_CHECK(num_sparse >= 1, "InteractionArch needs at least one sparse feature");
}

int64_t InteractionArchImpl::output_dim(int64_t dim) const { return dim + InteractionPairs(num_sparse_, self_); }

torch::Tensor InteractionArchImpl::forward(const torch::Tensor& dense, const torch::Tensor& sparse) {
  TORCH_CHECK(dense.dim() == 2 && sparse.dim() == 3 && sparse.size(0) == dense.size(0) &&
                  sparse.size(1) == num_sparse_ && sparse.size(2) == dense.size(1),
              "InteractionArch expects dense [B, D] and sparse [B, F=", num_sparse_, ", D], got ",
              dense.sizes(), " and ", sparse.sizes());
  TORCH_CHECK(dense.scalar_type() == sparse.scalar_type(), "InteractionArch: dtype mismatch");
  return InteractionFunction::apply(dense, sparse, self_);
}

// ---------------------------------------------------------------- OverArch
OverArchImpl::OverArchImpl(int64_t in_features, const std::vector<int64_t>& widths) {
  TORCH_CHECK(!widths.empty() && widths.back() == 1, "OverArch must end in width 1");
  int64_t in = in_features;
  for (size_t i = 0; i < widths.size(); ++i) {
    TORCH_CHECK(widths[i] >= 1, "OverArch layer ", i, " has width ", widths[i]);
    layers.push_back(register_module("linear" + std::to_string(i), MakeLinear(in, widths[i])));
    in = widths[i];
  }
}

torch::Tensor OverArchImpl::forward(const torch::Tensor& input) {
  torch::Tensor x = input;
  for (size_t i = 0; i < layers.size(); ++i) {
    x = LinearLayer(layers[i], x, /*relu=*/i + 1 < layers.size());
  }
  return x.squeeze(1);
}

// ---------------------------------------------------------------- DLRM
DLRMImpl::DLRMImpl(const DlrmOptions& options) : options_(options) {
  const absl::Status valid = ValidateDlrmOptions(options);
  TORCH_CHECK(valid.ok(), std::string(valid.message()));
  const int64_t f = static_cast<int64_t>(options.table_sizes().size());
  dense_arch = register_module("dense_arch", DenseArch(options.num_dense_features(), options.bottom_mlp()));
  sparse_arch = register_module("sparse_arch", SparseArch(options.table_sizes(), options.embedding_dim(), options.bf16()));
  interaction_arch = register_module("interaction_arch", InteractionArch(f, options.interaction_self()));
  over_arch = register_module("over_arch",
                              OverArch(interaction_arch->output_dim(options.embedding_dim()), options.top_mlp()));
}

torch::Tensor DLRMImpl::forward(const torch::Tensor& dense, const torch::Tensor& pooled) {
  TORCH_CHECK(dense.dim() == 2 && dense.size(1) == options_.num_dense_features(), "DLRM expects dense [B, ",
              options_.num_dense_features(), "], got ", dense.sizes());
  auto x = dense_arch->forward(dense);
  return over_arch->forward(interaction_arch->forward(x, pooled));
}

torch::Tensor DLRMImpl::Predict(const torch::Tensor& dense, const torch::Tensor& indices) {
  return forward(dense, sparse_arch->forward(indices));
}

int64_t DLRMImpl::NumParameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  for (int64_t s : options_.table_sizes()) n += s * options_.embedding_dim();
  return n;
}

}  // namespace hpo::trainer
