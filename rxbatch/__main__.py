"""``python -m rxbatch``: the same as the ``rxbatch`` command."""

from .cli import main

if __name__ == "__main__":
    main()
