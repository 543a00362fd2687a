"""StepExecutor: a step reads state and writes new state through double buffers;
other executors and host reads see the new values; nothing is copied per step."""
import numpy as np

from graphkeras.compiler import Trace, ops
from graphkeras.compiler.lower_onnx import lower
from graphkeras.runtime import DeviceState, GraphExecutor
from graphkeras.runtime.executor import StepExecutor


def accumulate_step():
    """total <- total + sum(x); count <- count + 1; logs: the new total."""
    trace = Trace("step")
    with trace:
        x = trace.input((None, 3), "float32", "x")
        total = trace.input((3,), "float32", "total")
        count = trace.input((), "int64", "count")
        new_total = ops.add(total, ops.sum(x, axis=0))
        new_count = ops.add(count, np.int64(1))
        loss = ops.sum(new_total)
    trace.graph.outputs = [new_total.value, new_count.value, loss.value]
    return lower(trace.graph, output_names=["total_out", "count_out", "loss"])


def make(state):
    state.set("t", np.zeros(3, np.float32))
    state.set("c", np.zeros((), np.int64))
    return StepExecutor(accumulate_step().SerializeToString(), ["x"], {"total": "t", "count": "c"},
                        {"total_out": "t", "count_out": "c"}, ["loss"], state)


def test_steps_update_state_in_place():
    state = DeviceState()
    step = make(state)
    x = np.ones((4, 3), np.float32)
    for i in range(5):
        step([x * i])
    np.testing.assert_allclose(state.get("t"), [40, 40, 40])
    assert int(state.get("c")) == 5
    assert float(step.logs()[0]) == 120.0


def test_host_writes_between_steps_are_read_by_the_next_step():
    state = DeviceState()
    step = make(state)
    x = np.ones((2, 3), np.float32)
    step([x])
    state.set("t", np.full(3, 100, np.float32))
    step([x])
    np.testing.assert_allclose(state.get("t"), [102, 102, 102])


def test_revisions_change_with_steps_and_other_executors_rebind():
    state = DeviceState()
    step = make(state)
    trace = Trace("read")
    with trace:
        x = trace.input((None, 1), "float32", "x")
        total = trace.input((3,), "float32", "total")
        y = ops.multiply(x, total)
    trace.graph.outputs = [y.value]
    model = lower(trace.graph).SerializeToString()
    bound = GraphExecutor(model, ["x"], {"total": "t"}, state)
    frozen = GraphExecutor(model, ["x"], {"total": "t"}, state, frozen=True)
    one = np.ones((1, 1), np.float32)
    before = state.revision_of("t")
    step([np.ones((2, 3), np.float32)])
    assert state.revision_of("t") != before
    np.testing.assert_allclose(bound([one])[0], [[2, 2, 2]])
    np.testing.assert_allclose(frozen([one])[0], [[2, 2, 2]])
    step([np.ones((2, 3), np.float32)])
    np.testing.assert_allclose(bound([one])[0], [[4, 4, 4]])
    np.testing.assert_allclose(frozen([one])[0], [[4, 4, 4]])


def test_close_gives_back_single_buffers():
    state = DeviceState()
    step = make(state)
    step([np.ones((1, 3), np.float32)])
    step.close()
    assert len(state.slots["t"].buffers) == 1 and state.slots["t"].owner is None
    np.testing.assert_allclose(state.get("t"), [1, 1, 1])
    step([np.ones((1, 3), np.float32)])  # takes the keys again
    np.testing.assert_allclose(state.get("t"), [2, 2, 2])
