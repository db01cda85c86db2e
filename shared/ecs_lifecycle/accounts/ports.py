"""The seams between the hub and the cloud: the account directory and FC's async invocation.

Real gateways (Resource Directory, FC 3.0 InvokeFunction) and the emulator's services implement
these; tests/twin_accounts.py has in-memory twins. The hub's rules see only these types.
"""

from dataclasses import dataclass
from typing import Iterator, Protocol

@dataclass(frozen=True)
class Account:
    account_id: str          # 16 digits
    display_name: str
    status: str              # as Resource Directory returns it, e.g. "CreateSuccess"
    folder_id: str | None
    is_management: bool
    account_type: str = ""   # "CloudAccount" or "ResourceAccount" (Resource Directory's Type)
    join_method: str = ""    # "created" or "invited"

class AccountDirectory(Protocol):
    def accounts_under(self, folder_id: str) -> Iterator[Account]: ...
    def management_account_id(self) -> str | None: ...

@dataclass(frozen=True)
class AsyncInvocation:
    function_name: str
    qualifier: str | None
    payload: bytes
    task_id: str

@dataclass(frozen=True)
class Dispatched:
    task_id: str
    request_id: str
    duplicate: bool

class AsyncInvoker(Protocol):
    def invoke_async(self, invocation: AsyncInvocation) -> Dispatched: ...
