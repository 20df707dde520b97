"""neuroCombat (PyPI) on a test's data, for combat_tests.rs.

Usage: neurocombat_reference.py DATA.csv COVARS.csv OUT.csv PARAMETRIC EB MEAN_ONLY
DATA.csv: features × samples, no header. COVARS.csv: header batch,sex,age, one row per sample.
Writes the harmonised features × samples with 17 significant digits.
"""
import sys

import numpy as np
import pandas as pd
from neuroCombat import neuroCombat

data, covars, out, parametric, eb, mean_only = sys.argv[1:7]
dat = np.loadtxt(data, delimiter=",", ndmin=2)
cov = pd.read_csv(covars, dtype={"batch": str, "sex": str})
res = neuroCombat(dat=dat, covars=cov, batch_col="batch", categorical_cols=["sex"],
                  continuous_cols=["age"], parametric=parametric == "1", eb=eb == "1",
                  mean_only=mean_only == "1")
np.savetxt(out, res["data"], delimiter=",", fmt="%.17g")
