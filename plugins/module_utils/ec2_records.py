# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""What the collection's EC2 modules share: records in Ansible's shape, and deletions that wait out dependencies."""

from __future__ import annotations

import time

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict


def snake(record):
    """An EC2 record with snake_case keys and its tags as a dict, as the amazon.aws info modules return them."""
    out = camel_dict_to_snake_dict(record, ignore_list=["Tags"])
    out["tags"] = boto3_tag_list_to_ansible_dict(record.get("Tags", []))
    return out


def delete_patiently(call, timeout, **kwargs):
    """Run an EC2 deletion, and again every 5 s for up to timeout seconds while EC2 answers DependencyViolation
    (the network interfaces of instances just terminated are released some time after them)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call(**kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "DependencyViolation" or time.monotonic() > deadline:
                raise
            time.sleep(5)
