"""``python -m churnmodel.bench``: the benchmark (see :mod:`churnmodel.bench`)."""

import sys

from churnmodel.bench.command import main

if __name__ == "__main__":
    sys.exit(main())
