"""``python -m rxbatch``, and the ``rxbatch`` command: both start here.

``import rxbatch`` loads nothing heavy, so the command's own imports happen
inside ``run``, where a Ctrl-C that comes while they are still going on ends
the command with status 130 and no traceback.
"""

import sys


def run() -> None:
    """Start the ``rxbatch`` command."""
    try:
        from .cli import main
    except KeyboardInterrupt:  # Ctrl-C while starting
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
