"""scipy's quasi-Newton, conjugate-gradient and trust-region methods on Rosenbrock, for
`downhill bench quasi-newton` (run in the same process tree, numbers side by side) and for the
test fixture crates/downhill/tests/fixtures/scipy_trust_ncg.json.

    python3 crates/downhill-cli/scripts/scipy_quasi_newton.py bench 2,100 1e-9     # JSON on stdout: nfev per method
    python3 crates/downhill-cli/scripts/scipy_quasi_newton.py fixture > crates/downhill/tests/fixtures/scipy_trust_ncg.json

Rosenbrock is scipy's `rosen` (the chained form, as downhill's `rosenbrock:dim=N`; in 2-D it is
downhill's `rosenbrock:a=1,b=100`), from (-1.2, 1, -1.2, 1, ...). `gtol` is scipy's gradient
tolerance: the infinity norm for BFGS and CG, the projected-gradient infinity norm for L-BFGS-B
(run with ftol=0 so that it stops on gtol), the Euclidean norm for trust-ncg.
"""
import json
import sys

import numpy as np
import scipy
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess


def start(n):
    return np.array([-1.2 if i % 2 == 0 else 1.0 for i in range(n)])


def bench(dims, gtol):
    rows = []
    for n in dims:
        for method in ["L-BFGS-B", "BFGS", "CG", "trust-ncg"]:
            kwargs = {"hess": rosen_hess} if method == "trust-ncg" else {}
            options = {"gtol": gtol}
            if method == "L-BFGS-B":
                options["ftol"] = 0.0
            r = minimize(rosen, start(n), jac=rosen_der, method=method, options=options, **kwargs)
            rows.append({
                "method": method,
                "dim": n,
                "nfev": int(r.nfev),
                "njev": int(getattr(r, "njev", 0) or 0),
                "nhev": int(getattr(r, "nhev", 0) or 0),
                "nit": int(r.nit),
                "loss": float(r.fun),
                "success": bool(r.success),
            })
    return {"scipy": scipy.__version__, "numpy": np.__version__, "gtol": gtol, "rows": rows}


def fixture():
    """trust-ncg's accepted iterates, with the Euclidean gradient tolerance 1e-8 that
    `downhill run --tol 1e-8` uses, on 2-D and 5-D Rosenbrock."""
    runs = []
    for n in [2, 5]:
        points = [start(n).tolist()]
        r = minimize(rosen, start(n), jac=rosen_der, hess=rosen_hess, method="trust-ncg",
                     options={"gtol": 1e-8}, callback=lambda xk: points.append(xk.tolist()))
        runs.append({"dim": n, "start": start(n).tolist(), "gtol": 1e-8, "nfev": int(r.nfev),
                     "nhev": int(r.nhev), "nit": int(r.nit), "loss": float(r.fun), "iterates": points})
    return {"generator": "crates/downhill-cli/scripts/scipy_quasi_newton.py fixture", "scipy": scipy.__version__,
            "method": "trust-ncg", "runs": runs}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fixture":
        print(json.dumps(fixture(), indent=1))
    else:
        dims = [int(d) for d in (sys.argv[2] if len(sys.argv) > 2 else "2,100").split(",")]
        gtol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-9
        print(json.dumps(bench(dims, gtol)))
