"""One local Ray cluster with 2 workers for the whole test session (Ray starts once)."""
import pytest


@pytest.fixture(scope="session")
def strategy():
    pytest.importorskip("ray", reason="the `distributed` extra (Ray) is not installed: "
                                      "pip install graphkeras[distributed]")
    import graphkeras as gk
    strategy = gk.distribute.DataParallel(num_workers=2, timeout=60)
    strategy.workers()  # start them now: tests time their own work
    yield strategy
    strategy.shutdown()
