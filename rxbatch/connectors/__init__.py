"""Connectors to the systems events come from and go to, one module each.

Each imports its optional dependency itself (``rxbatch.connectors.nats``
needs ``pip install 'rxbatch[nats]'``), so ``import rxbatch`` never does.
"""
