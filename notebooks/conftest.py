"""pytest --nbval: the stored outputs come from the bundled set, so test on it even where the real set
is downloaded (the notebooks themselves prefer the real one)."""

import os

from speechlib.data import BUNDLED_ROOT

os.environ["SPEECHLIB_DATA"] = str(BUNDLED_ROOT)
