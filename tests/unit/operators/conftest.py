"""The operators live outside the collection: put operators/tenant-operator on sys.path."""

import pathlib
import sys

OPERATOR_DIR = pathlib.Path(__file__).resolve().parents[3] / "operators" / "tenant-operator"
if str(OPERATOR_DIR) not in sys.path:
    sys.path.insert(0, str(OPERATOR_DIR))
