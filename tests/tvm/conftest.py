import os
import tempfile

# compiled libraries of the test graphs go to a folder of this test run, not the user's cache
os.environ.setdefault("GRAPHKERAS_TVM_CACHE", tempfile.mkdtemp(prefix="graphkeras-tvm-test-"))
