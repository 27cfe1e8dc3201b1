# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Error translation, waiting and tag reconciliation shared by the meridian AWS services.

Services receive a boto3 client already wrapped by amazon.aws' RetryingBotoClientWrapper (jittered
backoff), call it with ``aws_retry=True``, and raise :class:`AwsServiceError`; only a module's
``main()`` turns that into ``fail_json_aws``.
"""

from __future__ import annotations

import time

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library before any service runs.

from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags


class AwsServiceError(Exception):
    """An AWS call that failed, or a state the service refuses to change; ``cause`` is the botocore error."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def call(client, operation: str, message: str, **kwargs):
    """Call ``client.<operation>(**kwargs)`` with retries; translate botocore errors into AwsServiceError."""
    try:
        return getattr(client, operation)(aws_retry=True, **kwargs)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise AwsServiceError(message, error) from error


def error_code(error: BaseException) -> str:
    """The AWS error code of a ClientError, or an empty string."""
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def call_or_none(client, operation: str, message: str, not_found: tuple[str, ...], **kwargs):
    """Like :func:`call`, but an error whose code is in ``not_found`` returns None (the resource is absent)."""
    try:
        return call(client, operation, message, **kwargs)
    except AwsServiceError as error:
        if error_code(error.cause) in not_found:
            return None
        raise


def wait_for(read, ready, timeout: int, what: str, delay: float = 5.0):
    """Poll ``read()`` until ``ready(value)`` is true; return the value or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ready(value):
            return value
        if time.monotonic() >= deadline:
            raise AwsServiceError(f"Timed out after {timeout}s waiting for {what}.")
        time.sleep(delay)


def tag_changes(current: dict, desired: dict | None, purge: bool) -> tuple[dict, list]:
    """Tags to set and tag keys to remove so ``current`` becomes ``desired``; ``desired=None`` leaves tags alone."""
    if desired is None:
        return {}, []
    to_set, to_remove = compare_aws_tags(current or {}, desired, purge_tags=purge)
    return to_set, sorted(to_remove)
