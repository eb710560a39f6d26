#!/usr/bin/env python3
"""Write test/golden/linalg.json: small fixed matrices and NumPy's decompositions of them.

The inputs are stored next to the expected outputs, so the TypeScript tests need no RNG parity.
Sign conventions are fixed here the same way the tests fix them:
  QR:  diag(R) >= 0 (flip rows of R and the matching columns of Q);
  SVD: each left singular vector's largest-magnitude entry is positive (flip u[:, i] and vt[i, :]).
Run from the repository root: python3 tools/make_linalg_golden.py
"""
import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "linalg.json"


def fix_qr_signs(q, r):
    k = min(r.shape)
    signs = np.where(np.diag(r[:k, :k]) < 0, -1.0, 1.0)
    q = q.copy()
    r = r.copy()
    q[:, :k] *= signs
    r[:k, :] *= signs[:, None]
    return q, r


def fix_svd_signs(u, vt):
    u = u.copy()
    vt = vt.copy()
    for i in range(u.shape[1]):
        if u[np.argmax(np.abs(u[:, i])), i] < 0:
            u[:, i] *= -1
            vt[i, :] *= -1
    return u, vt


def main():
    rng = np.random.default_rng(20240607)

    m = rng.standard_normal((5, 5))
    spd = m @ m.T + 5 * np.eye(5)
    lower = np.linalg.cholesky(spd)
    inverse = np.linalg.inv(spd)
    rhs = rng.standard_normal((5, 3))
    cholesky = {
        "a": spd,
        "l": lower,
        "inverse": inverse,
        # SparseGPT's Hinv: the upper factor U of A^-1 = U^T U.
        "inverse_cholesky_upper": np.linalg.cholesky(inverse).T,
        "b": rhs,
        "solve_l": np.linalg.solve(lower, rhs),
        "solve_lt": np.linalg.solve(lower.T, rhs),
    }

    qr_cases = []
    for name, shape in [("tall", (6, 4)), ("wide", (4, 6)), ("square", (5, 5))]:
        a = rng.standard_normal(shape)
        q, r = fix_qr_signs(*np.linalg.qr(a, mode="reduced"))
        qc, rc = fix_qr_signs(*np.linalg.qr(a, mode="complete"))
        k = min(shape)
        # Columns of the complete Q past k are not unique, so only the first k are stored.
        qr_cases.append({"name": name, "a": a, "q": q, "r": r, "complete_r": rc, "complete_q_first": qc[:, :k]})

    low_rank = rng.standard_normal((6, 2)) @ rng.standard_normal((2, 5))
    svd_cases = []
    for name, a, rank in [
        ("tall", rng.standard_normal((7, 4)), 4),
        ("wide", rng.standard_normal((3, 6)), 3),
        ("rank_deficient", low_rank, 2),
    ]:
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        # Singular vectors of zero singular values are not unique: keep the top `rank` only.
        u, vt = fix_svd_signs(u[:, :rank], vt[:rank, :])
        svd_cases.append({"name": name, "a": a, "rank": rank, "s": s, "u": u, "vt": vt})

    golden = {"numpy": np.__version__, "cholesky": cholesky, "qr": qr_cases, "svd": svd_cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(golden, default=lambda x: x.tolist(), indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
