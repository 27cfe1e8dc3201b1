# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calls, waiting and tag reconciliation shared by the meridian AWS services, on amazon.aws' error handling.

Services receive a boto3 client already wrapped by amazon.aws' RetryingBotoClientWrapper (jittered backoff)
and raise amazon.aws' :class:`AnsibleAWSError`: botocore errors are translated by its ``AWSErrorHandler``, and
a state a service refuses to change is an ``AnsibleAWSError`` without a cause. Only a module's ``main()`` turns
it into a failure, with ``AnsibleAWSModule.fail_json_aws_error``.
"""

from __future__ import annotations

import time

from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import is_ansible_aws_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

# The options of amazon.aws' `amazon.aws.tags` documentation fragment, which every module here that tags extends.
TAGS_ARGUMENT_SPEC = dict(
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
)


def call(client, operation: str, description: str, **kwargs):
    """``client.<operation>(**kwargs)`` with retries; a botocore error raises AnsibleAWSError "Failed to <description>"."""
    return AWSErrorHandler.common_error_handler(description)(getattr(client, operation))(aws_retry=True, **kwargs)


def call_or_none(client, operation: str, description: str, not_found: tuple[str, ...], **kwargs):
    """Like :func:`call`, but an AWS error code in ``not_found`` returns None (the resource is absent)."""
    try:
        return call(client, operation, description, **kwargs)
    except is_ansible_aws_error_code(not_found):
        return None


def wait_for(read, ready, timeout: int, what: str, delay: float = 5.0):
    """Poll ``read()`` until ``ready(value)`` is true; return the value or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ready(value):
            return value
        if time.monotonic() >= deadline:
            raise AnsibleAWSError(message=f"Timed out after {timeout}s waiting for {what}.")
        time.sleep(delay)


def tag_changes(current: dict, desired: dict | None, purge: bool) -> tuple[dict, list]:
    """Tags to set and tag keys to remove so ``current`` becomes ``desired``; ``desired=None`` leaves tags alone."""
    if desired is None:
        return {}, []
    to_set, to_remove = compare_aws_tags(current or {}, desired, purge_tags=purge)
    return to_set, sorted(to_remove)
