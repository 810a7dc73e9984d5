"""``python -m physlearn`` is the ``physlearn`` command line."""

import sys

from physlearn.experiment.cli import main

sys.exit(main())
