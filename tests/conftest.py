"""Shared test set-up: this checkout as the collection geostack.cluster, no cloud metadata lookups."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".collections"

# Never let botocore look for credentials on 169.254.169.254 from a test.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
