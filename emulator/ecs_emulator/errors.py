"""ECS / POP gateway errors as the real service answers them.

Codes, HTTP statuses and messages come from each operation's page in Alibaba's ECS API reference
(https://www.alibabacloud.com/help/en/ecs/developer-reference/, "Error codes") and the common
error codes (https://help.aliyun.com/document_detail/51132.html), unless a comment says
otherwise. Every error the emulator sends goes through :class:`ApiError` so the body always
has the documented shape ``{RequestId, HostId, Code, Message, Recommend}``.
"""

from __future__ import annotations

from typing import Final


class ApiError(Exception):
    """An API call refused with an error body and a 4xx/5xx status."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.code = code
        self.status = status
        self.message = message


# Code -> (HTTP status, message) for errors whose text does not depend on the call.
_CATALOGUE: Final[dict[str, tuple[int, str]]] = {
    # Gateway / authentication (public POP codes; see auth.py for which are confirmed).
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    # The RPC v2 gateway's wording; ACS3 words it otherwise (auth.py; UNCONFIRMED in the docs).
    "SignatureDoesNotMatch": (400, "Specified signature is not matched with our calculation."),
    "MissingSecurityToken": (400, "SecurityToken is mandatory for this action."),
    "InvalidSecurityToken.Malformed": (400, "Specified SecurityToken is malformed."),
    "InvalidSecurityToken.MismatchWithAccessKey": (
        400,
        "Specified SecurityToken mismatch with the AccessKey.",
    ),
    "MissingAccessKeyId": (400, "AccessKeyId is mandatory for this action."),
    "IncompleteSignature": (400, "The request signature does not conform to Aliyun standards."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "InvalidAction.NotFound": (
        404,
        "Specified api is not found, please check your url and method.",
    ),
    # Faults.
    "Throttling": (400, "Request was denied due to request throttling."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "Throttling.Api": (400, "Request was denied due to api flow control."),
    # UNCONFIRMED message: the reference lists the code and its 429 status only.
    "Throttling.Resource": (429, "Request was denied due to resource flow control."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
    "InternalError": (500, "The request processing has failed due to some unknown error."),
    # DryRun successes.
    "DryRunOperation": (400, "Request validation has been passed with DryRun flag set."),
    "DRYRUN.SUCCESS": (400, "This request is a dryrun request with successful result."),
    # Instances.
    "IncorrectInstanceStatus": (
        403,
        "The current status of the resource does not support this operation.",
    ),
    "IncorrectInstanceStatus.Initializing": (
        403,
        "The specified instance is in the initialization state.",
    ),
    "InvalidInstanceId.NotFound": (404, "The specified InstanceId does not exist."),
    # DeleteInstances' (and StopInstances') plural form for an unknown id (reference 4.1, 18).
    "InvalidInstanceIds.NotFound": (404, "The specified InstanceIds does not exist."),
    "InstanceLockedForSecurity": (
        403,
        "The specified operation is denied as your instance is locked for security reasons.",
    ),
    "InvalidParameter.TooManyInstanceIds": (403, "Instance ids cannot be more than 100."),
    "InvalidOperation.DeletionProtection": (
        403,
        "The operation is not allowed due to deletion protection.",
    ),
    "ChargeTypeViolation": (
        403,
        "The operation is not permitted due to charge type of the instance.",
    ),
    "InvalidAutoReleaseTime.Malformed": (
        400,
        # The typo "paramter" is in the real ECS message.
        "The specified paramter autoReleaseTime is not valid.",
    ),
    "NoSuchResource": (404, "The specified resource is not found."),
    "InvalidChargeType.ValueNotSupported": (
        403,
        "Deletion protection is only valid for postPaid instance, "
        "not for prePaid or spot instance.",
    ),
    "IdempotentParameterMismatch": (
        403,
        "The specified parameter has changed while using an already used clientToken.",
    ),
    "InvalidStatus.NotFound": (404, "The specified Status is not found."),
    "InvalidInstanceChargeType.NotFound": (
        404,
        "The InstanceChargeType does not exist in our records.",
    ),
    # UNCONFIRMED message: the reference lists the code (404) for DescribeInstances only.
    "InvalidLockReason.NotFound": (404, "The specified LockReason is not found."),
    "InvalidTag.Mismatch": (400, "The specified Tag.n.Key and Tag.n.Value are not match."),
    "InvalidTagCount": (400, "The specified tags are beyond the permitted range."),
    # UNCONFIRMED, invented: the service's answer to a tag filter matching more than 1,000
    # instances is not documented (reference 18). It stands for "some refusal"; a client must not
    # depend on its name.
    "InvalidParameter.TagFilterResourceLimit": (
        400,
        "Too many resources match the specified tags; use ListTagResources.",
    ),
    # Disks and snapshots.
    "InvalidDiskId.NotFound": (404, "The specified disk does not exist."),
    "IncorrectDiskStatus.CreatingSnapshot": (403, "A previous snapshot creation is in process."),
    "QuotaExceed.Snapshot": (403, "The snapshot quota of the disk exceeds the limit."),
    "Forbidden.RAM": (
        403,
        "User not authorized to operate on the specified resource, "
        "or this API doesn't support RAM.",
    ),
    "InvalidSnapshotName.Malformed": (400, "Specified snapshot name is not valid."),
    "InvalidDescription.Malformed": (400, "Specified description is not valid."),
    "InvalidRetentionDays.Malformed": (400, "The specified parameter RetentionDays is not valid."),
    # Tags.
    "NumberExceed.ResourceIds": (400, "The maximum number of ResourceIds is exceeded."),
    "NumberExceed.Tags": (400, "The maximum number of Tags is exceeded."),
    "Duplicate.TagKey": (400, "The Tag.N.Key contains duplicate key."),
    "InvalidTagKey.Malformed": (400, "The specified Tag.n.Key is not valid."),
    "InvalidTagValue.Malformed": (400, "The specified Tag.n.Value is not valid."),
    "QuotaExceed.Tags": (403, "The maximum number of tags per resource is exceeded."),
    "InvalidResourceId.NotFound": (404, "The specified ResourceIds are not found in our records."),
    "InvalidResourceType.NotFound": (
        404,
        "The ResourceType provided does not exist in our records.",
    ),
    "InvalidParameter.TagValue": (400, "The specified tag value requires a tag key."),
    "BothEmpty.TagsAndResources": (
        403,
        "The specified Tags and ResourceIds are not allowed to be both empty.",
    ),
    "Param.Conflict": (400, "The specified parameters TagKey and All conflict."),
}


def api_error(code: str, *, status: int | None = None, message: str | None = None) -> ApiError:
    """Build the error for ``code`` with its documented status and message.

    ``status``/``message`` override the catalogue where one operation documents a different
    status for the same code (for example ``InvalidInstanceId.NotFound`` is 403 in some places).
    """
    known_status, known_message = _CATALOGUE.get(code, (400, code))
    return ApiError(code, status or known_status, message or known_message)


def missing_parameter(name: str) -> ApiError:
    """The gateway's answer to a required parameter that is absent (``Missing{Name}``)."""
    return ApiError(f"Missing{name}", 400, f"{name} is mandatory for this action.")


def invalid_parameter(name: str, detail: str = "is not valid") -> ApiError:
    """A parameter whose value cannot be used (the exact per-parameter code is not documented)."""
    return ApiError("InvalidParameter", 400, f'The specified parameter "{name}" {detail}.')
