"""Reference fits for corelab's elastic-net logistic and Cox regression (predict_tests.rs).

Usage: glmnet_reference.py logistic|cox DATA.csv LAMBDA ALPHA
DATA.csv has columns x0..x{p-1} and y (logistic) or time, event (cox). Prints JSON
{"intercept": ..., "beta": [...]}.

- logistic: scikit-learn's LogisticRegression(penalty="elasticnet", solver="saga"), whose
  objective (1-a)/2 |w|^2 + a |w|_1 + C sum(logloss) is corelab's times C n when C = 1/(n lambda);
  without a penalty, penalty=None with lbfgs.
- cox: statsmodels' PHReg with Breslow ties; unpenalised by maximum likelihood, penalised by
  fit_regularized(alpha=lambda, L1_wt=alpha), whose objective is corelab's.
"""
import json
import sys

import numpy as np
import pandas as pd

kind, path, lam, alpha = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
d = pd.read_csv(path)
x = d[[c for c in d.columns if c.startswith("x")]].to_numpy()
n = len(d)
if kind == "logistic":
    from sklearn.linear_model import LogisticRegression

    y = d["y"].to_numpy()
    if lam == 0:
        m = LogisticRegression(penalty=None, solver="lbfgs", tol=1e-12, max_iter=100000)
    else:
        m = LogisticRegression(penalty="elasticnet", solver="saga", l1_ratio=alpha,
                               C=1.0 / (n * lam), tol=1e-12, max_iter=1000000)
    m.fit(x, y)
    out = {"intercept": float(m.intercept_[0]), "beta": [float(b) for b in m.coef_[0]]}
else:
    from statsmodels.duration.hazard_regression import PHReg

    model = PHReg(d["time"].to_numpy(), x, status=d["event"].to_numpy(), ties="breslow")
    if lam == 0:
        r = model.fit(gtol=1e-12)
        beta = r.params
    else:
        r = model.fit_regularized(alpha=lam, L1_wt=alpha, cnvrg_tol=1e-12, maxiter=10000)
        beta = r.params
    out = {"intercept": 0.0, "beta": [float(b) for b in beta]}
print(json.dumps(out))
