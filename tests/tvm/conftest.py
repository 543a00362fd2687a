import atexit
import os
import shutil
import tempfile

# the libraries compiled for the test graphs go to a folder of this test run (removed at
# exit), not to the user's cache
if "GRAPHKERAS_TVM_CACHE" not in os.environ:
    _folder = tempfile.mkdtemp(prefix="graphkeras-tvm-test-")
    os.environ["GRAPHKERAS_TVM_CACHE"] = _folder
    atexit.register(shutil.rmtree, _folder, True)
