"""``python -m rxbatch``: the same as the ``rxbatch`` command."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while starting: no traceback
    sys.exit(130)

if __name__ == "__main__":
    main()
