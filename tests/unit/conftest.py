"""Unit tests import the collection as ansible_collections.meridian.observability, the way Ansible loads it."""

import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "collections"
LINK = COLLECTIONS / "ansible_collections" / "meridian" / "observability"

if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to("../../..")
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
