"""``gk.distribute``: data-parallel training on Ray (the ``distributed`` extra).

    strategy = gk.distribute.DataParallel(num_workers=4)   # address="auto" joins a cluster
    with strategy.scope():
        model = ...
        model.compile(...)
    model.fit(x, y, batch_size=256)    # each step: N workers, one global batch

See :mod:`graphkeras.distribute.strategy` for how a step runs and what is
guaranteed (numerics, Dropout seeds, faults). Importing this package does not
import Ray; creating a strategy does.
"""
from graphkeras.distribute.strategy import DataParallel, WorkerError, current_strategy  # noqa: F401

__all__ = ["DataParallel", "WorkerError", "current_strategy"]
