// File: trainer/dlrm/interaction_arch.h
//
// The fused pairwise-dot interaction of DLRM on raw arrays (no LibTorch), used by
// InteractionArch (trainer/dlrm/dlrm.h) for its forward and backward.
//
// For each example b, the F+1 vectors z_0 = dense[b] (the bottom MLP output) and
// z_1..z_F = sparse[b, 0..F-1] (pooled embeddings), all of width D, produce
//   out[b] = [ z_0 (D values), z_i . z_j for i = 1..F, j = 0..i-1 (or j = 0..i with
//             self terms) ]
// in the reference DLRM's order (row-major lower triangle). That is P = (F+1)F/2 dot
// products (P = (F+1)(F+2)/2 with self terms) of length D: 351 for Criteo, instead of a
// (F+1)x(F+1) batched GEMM followed by a gather, which is what makes the Python
// reference spend ~44% of its time here.
#ifndef HPO_TRAINER_DLRM_INTERACTION_ARCH_H_
#define HPO_TRAINER_DLRM_INTERACTION_ARCH_H_

#include <cstdint>

namespace hpo::trainer {

// Number of dot products for F sparse features (plus the dense vector).
inline int64_t InteractionPairs(int64_t num_sparse, bool self) {
  const int64_t n = num_sparse + 1;
  return self ? n * (n + 1) / 2 : n * (n - 1) / 2;
}

// Forward for examples [b_begin, b_end):
//   dense [B, D], sparse [B, F, D] -> out [B, D + P].
template <typename T>
void InteractionForward(const T* dense, const T* sparse, int64_t b_begin, int64_t b_end,
                        int64_t num_sparse, int64_t dim, bool self, T* out);

// Backward for examples [b_begin, b_end): given grad_out [B, D + P], writes (does not
// accumulate) grad_dense [B, D] and grad_sparse [B, F, D].
template <typename T>
void InteractionBackward(const T* grad_out, const T* dense, const T* sparse, int64_t b_begin,
                         int64_t b_end, int64_t num_sparse, int64_t dim, bool self,
                         T* grad_dense, T* grad_sparse);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_DLRM_INTERACTION_ARCH_H_
