import sys
from pathlib import Path

# The shared helpers live with the other tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "helpers"))
