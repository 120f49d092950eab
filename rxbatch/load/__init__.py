"""The engine of ``rxbatch load``: JSON lines into SQLite, nothing lost, nothing twice.

Modules: ``_lines`` (bytes to numbered lines with offsets), ``_records``
(a line to a record or a dead letter), ``_table`` (the target table and one
batch's transaction), ``_checkpoint`` (``resume``), ``_dead`` (where dead
letters go), ``_source`` (a broker as the source: ``LineSource``), ``_loader``
(the pipeline that ties them together).
"""

from ._errors import LoadError
from ._loader import LoadedBatch, Loader, LoadSummary
from ._records import DeadLetter
from ._source import LineSource

__all__ = ["DeadLetter", "LineSource", "LoadError", "LoadSummary", "LoadedBatch", "Loader"]
