"""``python -m bayes_scaling.cli``: the same as the ``bayes-scaling`` console script."""

import sys

from .main import main

sys.exit(main())
