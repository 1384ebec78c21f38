"""Added to the rides app in version 3 (test app): /deps needs a new requirement (six)."""

import six
from flask import Blueprint, jsonify

deps = Blueprint("deps", __name__)


@deps.get("/deps")
def versions():
    # Only a rebuilt virtualenv has six.
    return jsonify(service="rides", six=six.__version__)
