"""The STS room (API 2015-04-01): AssumeRole, for the roles a test configures per account
(``EcsEmulator.add_role``; :mod:`ecs_emulator.iam` keeps them and the sessions issued).

As documented (AssumeRole, https://help.aliyun.com/zh/ram/developer-reference/api-sts-2015-04-01-assumerole,
and the STS common errors, https://www.alibabacloud.com/help/doc-detail/42775.htm): parameters
``RoleArn`` (``acs:ram::<account>:role/<name>``) and ``RoleSessionName`` (letters, digits,
``. @ - _``, 2-64 characters) required; ``DurationSeconds`` 900 up to the role's maximum session
(3600 by default; the default too); ``Policy`` an optional session policy (JSON) that narrows
the role's; ``ExternalId`` optional, checked by the role's trust policy. The answer:
``Credentials`` (``AccessKeyId``, ``AccessKeySecret``, ``SecurityToken``, ``Expiration`` as
``yyyy-MM-ddTHH:mm:ssZ`` UTC) and ``AssumedRoleUser`` (``Arn``, ``AssumedRoleId``).

Errors, with the documented codes and messages: ``InvalidParameter.RoleSessionName`` "The
parameter RoleSessionName is wrongly formed."; ``InvalidParameter.DurationSeconds`` "The Min/Max
value of DurationSeconds is 15min/1hr."; ``InvalidParameter.PolicyGrammar`` "The parameter Policy
has not passed grammar check."; ``NoPermission`` "No permission perform sts:AssumeRole on this
Role." where the role does not trust the caller's account. UNCONFIRMED, and chosen here: every
HTTP status (400 for parameters, 403 NoPermission, 404 EntityNotExist.Role); a wrong or missing
ExternalId answering the same NoPermission (the trust policy's condition fails, so the role does
not trust the caller); ``InvalidParameter.RoleArn`` and ``EntityNotExist.Role`` with their
messages; ``AssumedRoleUser.Arn`` as ``acs:ram::<account>:assumed-role/<role>/<session>`` and
``AssumedRoleId`` as ``<role id>:<session>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING, Final

from ecs_emulator.errors import ApiError
from ecs_emulator.iam import parse_role_arn
from ecs_emulator.service import Body, Call, Service
from ecs_emulator.wire import format_seconds

if TYPE_CHECKING:
    from ecs_emulator.state import FleetState

API_VERSION: Final = "2015-04-01"
MIN_DURATION: Final = 900
DEFAULT_DURATION: Final = 3600
MAX_POLICY_CHARS: Final = 2048
_SESSION_NAME: Final = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")


def _invalid(name: str, message: str) -> ApiError:
    return ApiError(f"InvalidParameter.{name}", 400, message)


def _no_permission() -> ApiError:
    return ApiError("NoPermission", 403, "No permission perform sts:AssumeRole on this Role.")


def assume_role(state: FleetState, call: Call) -> Body:
    """AssumeRole: temporary keys acting as the role, in the role's account."""
    del state  # a session is the cloud's, not one account's fleet
    params = call.params
    arn = params.require("RoleArn")
    session_name = params.require("RoleSessionName")
    if not _SESSION_NAME.match(session_name):
        raise _invalid("RoleSessionName", "The parameter RoleSessionName is wrongly formed.")
    duration = params.integer("DurationSeconds", default=DEFAULT_DURATION)
    policy = params.get("Policy") or None
    if policy is not None and not _policy_parses(policy):
        raise _invalid("PolicyGrammar", "The parameter Policy has not passed grammar check.")
    if parse_role_arn(arn) is None:
        raise _invalid("RoleArn", "The parameter RoleArn is wrongly formed.")
    if call.iam is None or call.caller is None:
        raise RuntimeError("the server passes STS the cloud's identities and the caller")
    role = call.iam.role(arn)
    if role is None:
        raise ApiError("EntityNotExist.Role", 404, f"The role not exists: {arn}.")
    if not MIN_DURATION <= duration <= role.max_session_seconds:
        raise _invalid("DurationSeconds", "The Min/Max value of DurationSeconds is 15min/1hr.")
    if call.caller.account not in role.trusted_accounts:
        raise _no_permission()
    if role.external_id is not None and not hmac.compare_digest(
        role.external_id, params.text("ExternalId")
    ):
        raise _no_permission()
    session = call.iam.issue(role, session_name, duration, policy, call.now)
    role_id = str(int(hashlib.sha256(role.arn.encode()).hexdigest()[:15], 16))
    return {
        "AssumedRoleUser": {
            "Arn": f"acs:ram::{role.account}:assumed-role/{role.name}/{session_name}",
            "AssumedRoleId": f"{role_id}:{session_name}",
        },
        "Credentials": {
            "AccessKeyId": session.credentials.access_key_id,
            "AccessKeySecret": session.credentials.access_key_secret,
            "SecurityToken": session.credentials.security_token,
            "Expiration": format_seconds(session.expires),
        },
    }


def _policy_parses(policy: str) -> bool:
    if len(policy) > MAX_POLICY_CHARS:
        return False
    try:
        document = json.loads(policy)
    except ValueError:
        return False
    return isinstance(document, dict) and isinstance(document.get("Statement"), list)


SERVICE: Final = Service(
    name="Sts", api_version=API_VERSION, operations={"AssumeRole": assume_role}
)
