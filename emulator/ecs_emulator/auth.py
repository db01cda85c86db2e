"""Request authentication: the ACS3-HMAC-SHA256 signature (and the legacy RPC v2 signature).

Written from the published algorithms, not from the SDK's signing code, so that the SDK and
the emulator check each other:

* ACS3-HMAC-SHA256 (the SDK's default): the canonical request is the method, the canonical URI,
  the canonical query string (pairs sorted, key and value percent-encoded per RFC 3986, which is
  ``quote(safe="~")`` - the URL itself uses the ``+`` form, so it is decoded first), the signed
  headers as ``name:trimmed value`` lines, the ``SignedHeaders`` list, and the hex SHA-256 of the
  body. String to sign = ``"ACS3-HMAC-SHA256\\n" + hex(sha256(canonical request))``; signature =
  ``hex(hmac_sha256(secret, string to sign))``.
* RPC v2 (``Config(signature_algorithm="v2")``): string to sign =
  ``"POST&%2F&" + percent(canonical query)`` over every parameter but ``Signature``; signature =
  ``base64(hmac_sha1(secret + "&", string to sign))``.

Error codes (checked in this order, each refusal has its real POP code and status):

* no ``Authorization`` header and no ``Signature`` parameter -> 400 ``MissingAccessKeyId``
  (the code appears in Alibaba's public gateway code lists; the message is written by analogy
  with ``MissingSecurityToken`` - UNCONFIRMED text);
* an ``Authorization`` header the emulator cannot parse -> 400 ``IncompleteSignature``;
* unknown access key id -> 404 ``InvalidAccessKeyId.NotFound`` "Specified access key is not
  found." (confirmed: Alibaba's common error codes,
  https://help.aliyun.com/document_detail/51132.html, and official product error tables);
* STS credentials but no token -> 400 ``MissingSecurityToken`` "SecurityToken is mandatory for
  this action." (confirmed: many real SDK error reports quote exactly this);
* a token that belongs to another configured access key -> 400
  ``InvalidSecurityToken.MismatchWithAccessKey``; any other wrong token -> 400
  ``InvalidSecurityToken.Malformed`` (codes, statuses and messages confirmed from an official
  Alibaba Cloud error table; how POP picks between the two for a random string is UNCONFIRMED -
  a real token embeds its key, so a string that is not a token cannot be decoded: Malformed);
* a token sent with a long-term access key -> ``InvalidSecurityToken.MismatchWithAccessKey``
  (UNCONFIRMED);
* wrong signature -> 400 ``SignatureDoesNotMatch``: for ACS3 "Specified signature does not match
  our calculation. server StringToSign is [...]" with the server's string to sign in the brackets,
  as the ACS3 service words it (UNCONFIRMED in Alibaba's docs, quoted by public code; the string
  to sign is only an algorithm name and a hash: no secret and no token can appear in it); for
  RPC v2 the older "Specified signature is not matched with our calculation." without the string
  to sign, which holds the query and so the token;
* a reused signature nonce -> 400 ``SignatureNonceUsed``.

Timestamps are not checked against the clock: tests run on a fake clock while the SDK stamps
real time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from ecs_emulator.errors import ApiError, api_error

ACS3_ALGORITHM: Final = "ACS3-HMAC-SHA256"
_EMPTY_BODY_SHA256: Final = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class EmulatorCredentials:
    """The access key (and optional STS token) the emulator accepts.

    The secret and the token are kept out of ``repr`` so they never land in a log line.
    """

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    @classmethod
    def default(cls) -> EmulatorCredentials:
        """Obviously fake credentials, safe to print in a README or a demo."""
        return cls(access_key_id="emulator-ak", access_key_secret="emulator-secret-not-real")  # noqa: S106 - fake by design

    @classmethod
    def default_sts(cls) -> EmulatorCredentials:
        """Fake STS credentials (an access key, a secret and a security token)."""
        return cls(
            access_key_id="STS.emulator-ak",
            # pragma: allowlist nextline secret - fake by design, for the secret scanner
            access_key_secret="emulator-sts-secret-not-real",  # noqa: S106 - fake by design
            security_token="emulator-security-token-not-real",  # noqa: S106 - fake by design
        )


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs from an HTTP request. Header names are lower case."""

    method: str
    path: str
    query_pairs: Sequence[tuple[str, str]]
    headers: Mapping[str, Sequence[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


class NonceRegistry:
    """Signature nonces already used, so a replayed request is refused as POP refuses it."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, nonce: str) -> bool:
        """Record ``nonce``; False if it was used before."""
        with self._lock:
            if nonce in self._seen:
                return False
            self._seen.add(nonce)
            return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as both signature algorithms define it."""
    return quote(value, safe="~", encoding="utf-8")


def canonical_query_string(pairs: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((percent_encode(key), percent_encode(value)) for key, value in pairs)
    return "&".join(f"{key}={value}" for key, value in encoded)


def acs3_string_to_sign(request: SignedRequest, signed_headers: Sequence[str]) -> str:
    canonical_headers = "".join(
        f"{name}:{','.join(sorted(value.strip() for value in request.headers.get(name, ())))}\n"
        for name in signed_headers
    )
    payload_hash = hashlib.sha256(request.body).hexdigest() if request.body else _EMPTY_BODY_SHA256
    canonical_request = "\n".join(
        [
            request.method.upper(),
            quote(request.path or "/", safe="/~"),
            canonical_query_string(request.query_pairs),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ACS3_ALGORITHM}\n{digest}"


def acs3_signature(secret: str, string_to_sign: str) -> str:
    return hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def rpc_v2_signature(secret: str, method: str, pairs: Iterable[tuple[str, str]]) -> str:
    unsigned = [(key, value) for key, value in pairs if key != "Signature"]
    string_to_sign = (
        f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query_string(unsigned))}"
    )
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def _parse_authorization(header: str) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ACS3_ALGORITHM:
        raise api_error(
            "IncompleteSignature",
            message=f"The request signature does not conform to Aliyun standards. "
            f"The emulator verifies {ACS3_ALGORITHM} only.",
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key] = value
    try:
        return _Authorization(
            access_key_id=fields["Credential"],
            signed_headers=tuple(name for name in fields["SignedHeaders"].split(";") if name),
            signature=fields["Signature"],
        )
    except KeyError:
        raise api_error("IncompleteSignature") from None


class RequestVerifier:
    """Checks each request against the configured credentials (one or several access keys)."""

    def __init__(
        self,
        credentials: Iterable[EmulatorCredentials],
        issued: Callable[[str], EmulatorCredentials | None] | None = None,
    ) -> None:
        self._by_key: dict[str, EmulatorCredentials] = {c.access_key_id: c for c in credentials}
        # Keys issued while the emulator runs (STS sessions, ecs_emulator.iam), looked up second.
        self._issued = issued
        self.nonces = NonceRegistry()

    def verify(self, request: SignedRequest) -> str:
        """Return the access key id the request was signed with.

        Raises:
            ApiError: the gateway's refusal (see the module docstring for the codes).
        """
        authorization = request.header("authorization")
        query = dict(request.query_pairs)
        if authorization:
            return self._verify_acs3(request, _parse_authorization(authorization))
        if "Signature" in query:
            return self._verify_rpc_v2(request, query)
        raise api_error("MissingAccessKeyId")

    def _credentials_for(self, access_key_id: str, token: str | None) -> EmulatorCredentials:
        credentials = self._by_key.get(access_key_id)
        if credentials is None and self._issued is not None:
            credentials = self._issued(access_key_id)
        if credentials is None:
            raise api_error("InvalidAccessKeyId.NotFound")
        if credentials.security_token is None:
            if token:
                raise api_error("InvalidSecurityToken.MismatchWithAccessKey")
            return credentials
        if not token:
            raise api_error("MissingSecurityToken")
        if not hmac.compare_digest(token, credentials.security_token):
            if any(other.security_token == token for other in self._by_key.values()):
                raise api_error("InvalidSecurityToken.MismatchWithAccessKey")
            raise api_error("InvalidSecurityToken.Malformed")
        return credentials

    def _verify_acs3(self, request: SignedRequest, authorization: _Authorization) -> str:
        credentials = self._credentials_for(
            authorization.access_key_id, request.header("x-acs-security-token")
        )
        unsigned = [
            name
            for name in request.headers
            if name.startswith("x-acs-") and name not in authorization.signed_headers
        ]
        if unsigned or "host" not in authorization.signed_headers:
            # Every x-acs-* header (the token above all) must be covered by the signature,
            # otherwise it could be swapped in transit.
            raise api_error("IncompleteSignature")
        string_to_sign = acs3_string_to_sign(request, authorization.signed_headers)
        expected = acs3_signature(credentials.access_key_secret, string_to_sign)
        if not hmac.compare_digest(expected, authorization.signature):
            raise ApiError(
                "SignatureDoesNotMatch",
                400,
                # The ACS3 service's words (UNCONFIRMED, quoted by public code: "Specified
                # signature does not match our calculation. server StringToSign is [...]");
                # RPC v2 keeps the older "is not matched with our calculation" of the error
                # catalogue.
                "Specified signature does not match our calculation. "
                f"server StringToSign is [{string_to_sign}]",
            )
        self._claim_nonce(request.header("x-acs-signature-nonce"))
        return credentials.access_key_id

    def _verify_rpc_v2(self, request: SignedRequest, query: Mapping[str, str]) -> str:
        credentials = self._credentials_for(
            query.get("AccessKeyId", ""), query.get("SecurityToken")
        )
        expected = rpc_v2_signature(
            credentials.access_key_secret, request.method, request.query_pairs
        )
        if not hmac.compare_digest(expected, query.get("Signature", "")):
            # The v2 string to sign contains the query, token included: never echo it.
            raise api_error("SignatureDoesNotMatch")
        self._claim_nonce(query.get("SignatureNonce"))
        return credentials.access_key_id

    def _claim_nonce(self, nonce: str | None) -> None:
        if nonce and not self.nonces.claim(nonce):
            raise api_error("SignatureNonceUsed")
