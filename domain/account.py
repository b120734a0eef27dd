"""Staff accounts (账号): roles over grid cells, granted and revoked over time, so an audit can
answer who held which role over which cell on any date; and the hashes of their secrets (bearer
tokens, the sign-in password), made at the edge (`api.auth`): the domain never sees a secret."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args
from uuid import NAMESPACE_URL, UUID, uuid5

from domain import errors
from domain.chain import ChainedAggregate

Role = Literal["worker", "supervisor", "reviewer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)


def account_id(username: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"minqing:account:{username}")


class Account(ChainedAggregate):
    """A member of staff and the roles they hold."""

    def __init__(self) -> None:
        super().__init__()
        self.username: str = ""
        self.display_name: str = ""
        self.grants: list[list[str]] = []   # [role, cell id] pairs (lists, as a snapshot returns them)
        self.tokens: dict[str, str] = {}    # token id → sha256 of the secret, which is never stored
        self.tokens_issued: dict[str, datetime] = {}  # token id → when it was issued (tokens expire)
        self.password_hash: str = ""        # Argon2 hash of the sign-in password; "" while none is set
        self.password_version: int | None = None  # the version that set it: sessions end when it moves

    class Opened(ChainedAggregate.Created):
        username: str
        display_name: str

        def apply(self, a: Account) -> None:
            a.username, a.display_name = self.username, self.display_name

    class RoleGranted(ChainedAggregate.Event):
        role: str
        cell_id: str

        def apply(self, a: Account) -> None:
            a.grants.append([self.role, self.cell_id])

    class RoleRevoked(ChainedAggregate.Event):
        role: str
        cell_id: str

        def apply(self, a: Account) -> None:
            a.grants.remove([self.role, self.cell_id])

    class TokenIssued(ChainedAggregate.Event):
        token_id: str
        secret_hash: str
        label: str

        def apply(self, a: Account) -> None:
            a.tokens[self.token_id] = self.secret_hash
            a.tokens_issued[self.token_id] = self.occurred_at

    class TokenRevoked(ChainedAggregate.Event):
        token_id: str

        def apply(self, a: Account) -> None:
            del a.tokens[self.token_id]
            a.tokens_issued.pop(self.token_id, None)

    class PasswordSet(ChainedAggregate.Event):
        password_hash: str

        def apply(self, a: Account) -> None:
            a.password_hash, a.password_version = self.password_hash, self.originator_version

    @staticmethod
    def create_id(username: str) -> UUID:
        return account_id(username)

    @classmethod
    def open(cls, *, username: str, display_name: str, actor: str, occurred_at: datetime) -> Account:
        if not username.strip() or any(c.isspace() for c in username):
            raise errors.InvalidInput("a user name is one word without spaces")
        return cls._create(cls.Opened, id=account_id(username), username=username,
                           display_name=display_name or username, actor=actor, occurred_at=occurred_at)

    def grant(self, *, role: str, cell_id: str, actor: str, occurred_at: datetime) -> None:
        if role not in ROLES:
            raise errors.InvalidInput("role must be one of {choices}", choices=", ".join(ROLES))
        if [role, cell_id] in self.grants:
            raise errors.InvalidInput(
                "{user} already holds {role} over {cell}",
                user=self.username, role=role, cell=cell_id)
        self.trigger_event(self.RoleGranted, role=role, cell_id=cell_id, actor=actor, occurred_at=occurred_at)

    def revoke(self, *, role: str, cell_id: str, actor: str, occurred_at: datetime) -> None:
        if [role, cell_id] not in self.grants:
            raise errors.InvalidInput(
                "{user} does not hold {role} over {cell}",
                user=self.username, role=role, cell=cell_id)
        self.trigger_event(self.RoleRevoked, role=role, cell_id=cell_id, actor=actor, occurred_at=occurred_at)

    def issue_token(self, *, token_id: str, secret_hash: str, label: str, actor: str,
                    occurred_at: datetime) -> None:
        if token_id in self.tokens:
            raise errors.InvalidInput("token {token} already exists", token=token_id)
        self.trigger_event(self.TokenIssued, token_id=token_id, secret_hash=secret_hash, label=label,
                           actor=actor, occurred_at=occurred_at)

    def revoke_token(self, *, token_id: str, actor: str, occurred_at: datetime) -> None:
        if token_id not in self.tokens:
            raise errors.NotFound("{user} has no token {token}", user=self.username, token=token_id)
        self.trigger_event(self.TokenRevoked, token_id=token_id, actor=actor, occurred_at=occurred_at)

    def set_password(self, *, password_hash: str, actor: str, occurred_at: datetime) -> None:
        if not password_hash:
            raise errors.InvalidInput("a password is kept as its hash, never empty")
        self.trigger_event(self.PasswordSet, password_hash=password_hash, actor=actor,
                           occurred_at=occurred_at)

    def roles_over(self, role: str) -> list[str]:
        return [cell for r, cell in self.grants if r == role]
