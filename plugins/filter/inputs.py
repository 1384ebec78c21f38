# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Input checks the roles share (module_utils/inputs.py), as filters."""

from __future__ import annotations

from ansible_collections.geostack.cluster.plugins.module_utils.inputs import invalid_cidrs, password_errors


class FilterModule:
    def filters(self):
        return {"password_errors": password_errors, "invalid_cidrs": invalid_cidrs}
