#include "trainer/dlrm/interaction_arch.h"

#include <cstring>
#include <vector>

namespace hpo::trainer {
namespace {

// kD > 0 fixes the vector width at compile time (16 for Criteo) so the dot products
// unroll and vectorise; kD == 0 handles any width.
template <typename T, int kD>
void ForwardImpl(const T* dense, const T* sparse, int64_t b_begin, int64_t b_end, int64_t f_count,
                 int64_t dyn_dim, bool self, T* out) {
  const int64_t d = kD > 0 ? kD : dyn_dim;
  const int64_t n = f_count + 1;
  const int64_t width = d + InteractionPairs(f_count, self);
  std::vector<const T*> z(static_cast<size_t>(n));
  for (int64_t b = b_begin; b < b_end; ++b) {
    z[0] = dense + b * d;
    for (int64_t f = 0; f < f_count; ++f) z[static_cast<size_t>(f + 1)] = sparse + (b * f_count + f) * d;
    T* o = out + b * width;
    std::memcpy(o, z[0], sizeof(T) * static_cast<size_t>(d));
    T* dots = o + d;
    for (int64_t i = 0; i < n; ++i) {
      const T* zi = z[static_cast<size_t>(i)];
      const int64_t j_end = self ? i + 1 : i;
      for (int64_t j = 0; j < j_end; ++j) {
        const T* zj = z[static_cast<size_t>(j)];
        T acc = 0;
        for (int64_t k = 0; k < d; ++k) acc += zi[k] * zj[k];
        *dots++ = acc;
      }
    }
  }
}

template <typename T, int kD>
void BackwardImpl(const T* grad_out, const T* dense, const T* sparse, int64_t b_begin,
                  int64_t b_end, int64_t f_count, int64_t dyn_dim, bool self, T* grad_dense,
                  T* grad_sparse) {
  const int64_t d = kD > 0 ? kD : dyn_dim;
  const int64_t n = f_count + 1;
  const int64_t width = d + InteractionPairs(f_count, self);
  std::vector<const T*> z(static_cast<size_t>(n));
  std::vector<T*> gz(static_cast<size_t>(n));
  for (int64_t b = b_begin; b < b_end; ++b) {
    z[0] = dense + b * d;
    gz[0] = grad_dense + b * d;
    for (int64_t f = 0; f < f_count; ++f) {
      z[static_cast<size_t>(f + 1)] = sparse + (b * f_count + f) * d;
      gz[static_cast<size_t>(f + 1)] = grad_sparse + (b * f_count + f) * d;
    }
    const T* g = grad_out + b * width;
    // The dense vector is also passed through: its gradient starts from that slice.
    std::memcpy(gz[0], g, sizeof(T) * static_cast<size_t>(d));
    if (f_count > 0) std::memset(gz[1], 0, sizeof(T) * static_cast<size_t>(f_count * d));
    const T* gd = g + d;
    // d(zi.zj)/dzi = zj and /dzj = zi; a self term zi.zi contributes 2 g zi.
    for (int64_t i = 0; i < n; ++i) {
      const T* zi = z[static_cast<size_t>(i)];
      T* gi = gz[static_cast<size_t>(i)];
      for (int64_t j = 0; j < i; ++j) {
        const T gv = *gd++;
        const T* zj = z[static_cast<size_t>(j)];
        T* gj = gz[static_cast<size_t>(j)];
        for (int64_t k = 0; k < d; ++k) {
          gi[k] += gv * zj[k];
          gj[k] += gv * zi[k];
        }
      }
      if (self) {
        const T gv = *gd++;
        for (int64_t k = 0; k < d; ++k) gi[k] += 2 * gv * zi[k];
      }
    }
  }
}

}  // namespace

template <typename T>
void InteractionForward(const T* dense, const T* sparse, int64_t b_begin, int64_t b_end,
                        int64_t num_sparse, int64_t dim, bool self, T* out) {
  if (dim == 16) ForwardImpl<T, 16>(dense, sparse, b_begin, b_end, num_sparse, dim, self, out);
  else ForwardImpl<T, 0>(dense, sparse, b_begin, b_end, num_sparse, dim, self, out);
}

template <typename T>
void InteractionBackward(const T* grad_out, const T* dense, const T* sparse, int64_t b_begin,
                         int64_t b_end, int64_t num_sparse, int64_t dim, bool self,
                         T* grad_dense, T* grad_sparse) {
  if (dim == 16) {
    BackwardImpl<T, 16>(grad_out, dense, sparse, b_begin, b_end, num_sparse, dim, self, grad_dense, grad_sparse);
  } else {
    BackwardImpl<T, 0>(grad_out, dense, sparse, b_begin, b_end, num_sparse, dim, self, grad_dense, grad_sparse);
  }
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
