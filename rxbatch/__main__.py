"""``python -m rxbatch``: the same as the ``rxbatch`` command."""

from .cli import main

main()
