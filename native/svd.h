// Singular value decomposition in f64 (Golub-Kahan-Reinsch), the native twin of
// src/backends/ts/svd.ts: Householder QR first for tall matrices (rows >= 1.6 cols, as LAPACK's
// dgesvd; in panels of 32 columns with a compact-WY trailing update), Householder bidiagonalisation
// with one pass over the trailing block per step, the reflectors applied to the singular vectors 32
// at a time (compact WY), and implicit-shift bidiagonal QR with the rotations applied four at a
// time to singular vectors stored as rows. Batches run one matrix per pool thread, so a matrix's
// result does not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

namespace lithe {

// One decomposition of a: [m, n] row-major. s: [min(m, n)] descending. With vectors (u and vt not
// null): u: [m, full ? m : k] and vt: [full ? n : k, n], row-major.
struct SvdJob {
  const double* a;
  int64_t m;
  int64_t n;
  bool full;
  double* s;
  double* u;
  double* vt;
};

// Runs every job; returns the index of the first job whose QR iteration did not converge, or -1.
int64_t svd_f64_batch(const std::vector<SvdJob>& jobs);

}  // namespace lithe
