#include "trainer/dlrm/interaction_arch.h"

#include <cstring>
#include <vector>

namespace hpo::trainer {
namespace {

// The kernels are compiled twice, for AVX2+FMA ("arch=haswell": this project's AMD Zen 3
// machines) and for baseline x86-64, and picked at load time (GCC function
// multiversioning); elsewhere they are compiled once.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define HPO_MULTIVERSION __attribute__((target_clones("arch=haswell", "default")))
#else
#define HPO_MULTIVERSION
#endif
#define HPO_ALWAYS_INLINE inline __attribute__((always_inline))

constexpr int64_t kLanes = 8;  // pad rows of the transposed block to whole AVX vectors

int64_t RoundUp(int64_t x) { return (x + kLanes - 1) / kLanes * kLanes; }

// Per example, the n = F+1 vectors are first copied transposed into zt [D, n_pad], so
// that the dots of z_i with all z_j, j < i, are one vectorised sweep over j:
//   acc[j] += z_i[k] * zt[k][j]  for k < D.
// kD > 0 fixes the width at compile time (16 for Criteo); kD == 0 handles any width.
template <typename T, int kD>
HPO_ALWAYS_INLINE void ForwardImpl(const T* dense, const T* sparse, int64_t b_begin, int64_t b_end,
                                   int64_t f_count, int64_t dyn_dim, bool self, T* out) {
  const int64_t d = kD > 0 ? kD : dyn_dim;
  const int64_t n = f_count + 1;
  const int64_t n_pad = RoundUp(n);
  const int64_t width = d + InteractionPairs(f_count, self);
  std::vector<T> zt(static_cast<size_t>(d * n_pad), T(0)), acc(static_cast<size_t>(n_pad));
  std::vector<const T*> z(static_cast<size_t>(n));
  for (int64_t b = b_begin; b < b_end; ++b) {
    z[0] = dense + b * d;
    for (int64_t f = 0; f < f_count; ++f) z[static_cast<size_t>(f + 1)] = sparse + (b * f_count + f) * d;
    for (int64_t j = 0; j < n; ++j) {
      const T* zj = z[static_cast<size_t>(j)];
      for (int64_t k = 0; k < d; ++k) zt[static_cast<size_t>(k * n_pad + j)] = zj[k];
    }
    T* o = out + b * width;
    std::memcpy(o, z[0], sizeof(T) * static_cast<size_t>(d));
    T* dots = o + d;
    T* a = acc.data();
    for (int64_t i = self ? 0 : 1; i < n; ++i) {
      const T* zi = z[static_cast<size_t>(i)];
      const int64_t j_end = self ? i + 1 : i;
      const int64_t j_pad = RoundUp(j_end);
      for (int64_t j = 0; j < j_pad; ++j) a[j] = 0;
      for (int64_t k = 0; k < d; ++k) {
        const T s = zi[k];
        const T* row = zt.data() + k * n_pad;
        for (int64_t j = 0; j < j_pad; ++j) a[j] += s * row[j];
      }
      for (int64_t j = 0; j < j_end; ++j) *dots++ = a[j];
    }
  }
}

// The gradient of the n vectors is G Z with G the symmetric n x n matrix of the dot
// products' gradients (G[i][j] = G[j][i] = g_ij, G[i][i] = 2 g_ii for self terms), so
// each row is a vectorised sweep over the D lanes: gz_i[k] += G[i][j] * z_j[k].
template <typename T, int kD>
HPO_ALWAYS_INLINE void BackwardImpl(const T* grad_out, const T* dense, const T* sparse, int64_t b_begin,
                                    int64_t b_end, int64_t f_count, int64_t dyn_dim, bool self,
                                    T* grad_dense, T* grad_sparse) {
  const int64_t d = kD > 0 ? kD : dyn_dim;
  const int64_t n = f_count + 1;
  const int64_t width = d + InteractionPairs(f_count, self);
  std::vector<const T*> z(static_cast<size_t>(n));
  std::vector<T> gm(static_cast<size_t>(n * n));
  for (int64_t b = b_begin; b < b_end; ++b) {
    z[0] = dense + b * d;
    for (int64_t f = 0; f < f_count; ++f) z[static_cast<size_t>(f + 1)] = sparse + (b * f_count + f) * d;
    const T* g = grad_out + b * width;
    const T* gd = g + d;
    T* G = gm.data();
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < i; ++j) {
        const T gv = *gd++;
        G[i * n + j] = gv;
        G[j * n + i] = gv;
      }
      G[i * n + i] = self ? 2 * *gd++ : T(0);
    }
    for (int64_t i = 0; i < n; ++i) {
      T* gi = i == 0 ? grad_dense + b * d : grad_sparse + (b * f_count + i - 1) * d;
      T acc[kD > 0 ? kD : 1];
      T* a = kD > 0 ? acc : gi;
      // The dense vector is also passed through: its gradient starts from that slice.
      if (i == 0) {
        for (int64_t k = 0; k < d; ++k) a[k] = g[k];
      } else {
        for (int64_t k = 0; k < d; ++k) a[k] = 0;
      }
      const T* Gi = G + i * n;
      for (int64_t j = 0; j < n; ++j) {
        const T gv = Gi[j];
        const T* zj = z[static_cast<size_t>(j)];
        for (int64_t k = 0; k < d; ++k) a[k] += gv * zj[k];
      }
      if (kD > 0) {
        for (int64_t k = 0; k < d; ++k) gi[k] = a[k];
      }
    }
  }
}

template <typename T>
HPO_MULTIVERSION void ForwardDispatch(const T* dense, const T* sparse, int64_t b_begin, int64_t b_end,
                                      int64_t num_sparse, int64_t dim, bool self, T* out) {
  if (dim == 16) ForwardImpl<T, 16>(dense, sparse, b_begin, b_end, num_sparse, dim, self, out);
  else ForwardImpl<T, 0>(dense, sparse, b_begin, b_end, num_sparse, dim, self, out);
}

template <typename T>
HPO_MULTIVERSION void BackwardDispatch(const T* grad_out, const T* dense, const T* sparse, int64_t b_begin,
                                       int64_t b_end, int64_t num_sparse, int64_t dim, bool self,
                                       T* grad_dense, T* grad_sparse) {
  if (dim == 16) {
    BackwardImpl<T, 16>(grad_out, dense, sparse, b_begin, b_end, num_sparse, dim, self, grad_dense, grad_sparse);
  } else {
    BackwardImpl<T, 0>(grad_out, dense, sparse, b_begin, b_end, num_sparse, dim, self, grad_dense, grad_sparse);
  }
}

}  // namespace

template <typename T>
void InteractionForward(const T* dense, const T* sparse, int64_t b_begin, int64_t b_end,
                        int64_t num_sparse, int64_t dim, bool self, T* out) {
  ForwardDispatch<T>(dense, sparse, b_begin, b_end, num_sparse, dim, self, out);
}

template <typename T>
void InteractionBackward(const T* grad_out, const T* dense, const T* sparse, int64_t b_begin,
                         int64_t b_end, int64_t num_sparse, int64_t dim, bool self,
                         T* grad_dense, T* grad_sparse) {
  BackwardDispatch<T>(grad_out, dense, sparse, b_begin, b_end, num_sparse, dim, self, grad_dense, grad_sparse);
}

template void InteractionForward<float>(const float*, const float*, int64_t, int64_t, int64_t,
                                        int64_t, bool, float*);
template void InteractionForward<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                         int64_t, bool, double*);
template void InteractionBackward<float>(const float*, const float*, const float*, int64_t, int64_t,
                                         int64_t, int64_t, bool, float*, float*);
template void InteractionBackward<double>(const double*, const double*, const double*, int64_t,
                                          int64_t, int64_t, int64_t, bool, double*, double*);

}  // namespace hpo::trainer
