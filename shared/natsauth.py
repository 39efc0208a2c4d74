"""NATS authorization for lienthong: one user per agency, one for the postal integration, one per
service, one for operators, generated from the catalog as a nats-server `authorization` block.

    lienthong nats-auth [--catalog FILE] [--out FILE] [--secrets-dir DIR [--bcrypt]]

What each user may do (CONTRACT.md §2 says who publishes what; the server enforces it here):
- agency `{A}` (user `agency_{A}`): publish only `lt.in.agency.{A}.>`; subscribe only
  `lt.out.agency.{A}.>` and its own reply inbox `_INBOX_agency_{A}.>` (it connects with
  `inbox_prefix="_INBOX_agency_{A}"`, so no one else's replies reach it). To read its outbound
  messages from JetStream it may create, read and ack exactly one consumer, `agency_{A}` on
  LT_OUT, filtered on `lt.out.agency.{A}.>` (the server 2.9+ form
  `$JS.API.CONSUMER.CREATE.{stream}.{name}.{filter}` puts the filter in the subject, so the
  permission pins it). No other JetStream API: no stream reads, no direct gets.
- the postal integration (user `postal`): the same with `lt.in.postal.>` / `lt.out.postal.>`.
- each service (`svc_intake`, ...): facts and outbound messages, the JetStream API, acks, the
  RPC subjects it answers and calls, the simulated clock, and replies to requests it answers.
- `operator`: the operators' RPCs `lt.rpc.deadline.>` (`lienthong explain/report/serve/...`).

Secrets. nats-server has no `--bcrypt` option (the `nats` CLI's `server passwd` makes hashes;
the server accepts a `$2a$`/`$2b$` bcrypt hash wherever a password goes). By default the block
refers to environment variables (`password: $LT_NATS_PASSWORD_AGENCY_000_00_15_H57`), which
nats-server resolves at start and refuses to start without: the checked-in file holds no secret
and each deployment injects its own. With `--secrets-dir`, each user's password is read from
`DIR/{user}` (created with a random value, mode 0600, when missing) and written into the block,
bcrypt-hashed with `--bcrypt` (needs the optional `bcrypt` package). Clients give their password
in NATS_URL (`nats://svc_intake:SECRET@host:4222`), so the services need no code for it; nkeys
would keep even hashes off the server but need a seed file and client code in every process.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.catalog import Catalog, default_catalog_path, load_catalog
from shared.cli import Command
from shared.contracts import subjects

OUT_STREAM = "LT_OUT"
JS_API = "$JS.API"

# What each service publishes besides facts/outbound and the JetStream API, and which RPC
# subjects it answers (subscribe). Derived from services/*/app.py.
SERVICE_RPC_CALLS: dict[str, tuple[str, ...]] = {
    "intake": (),
    "routing": (),
    "deadline": (),
    "postal": (subjects.RPC_INTAKE_DELIVERY_ADDRESS,),
}
SERVICE_RPC_ANSWERS: dict[str, tuple[str, ...]] = {
    "intake": ("lt.rpc.intake.>",),
    "routing": (),
    "deadline": ("lt.rpc.deadline.>",),
    "postal": (),
}


@dataclass(frozen=True)
class NatsUser:
    name: str
    role: str  # agency | postal | service | operator
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False
    inbox_prefix: str = "_INBOX"
    note: str = field(default="", compare=False)

    @property
    def env_var(self) -> str:
        return "LT_NATS_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())


def _external_client(name: str, role: str, note: str, in_prefix: str, out_prefix: str) -> NatsUser:
    """An outside system: publishes its inbound subjects, reads its outbound ones (core or
    through its one LT_OUT consumer named like the user), receives replies on its own inbox."""
    inbox = f"_INBOX_{name}"
    return NatsUser(
        name=name,
        role=role,
        note=note,
        inbox_prefix=inbox,
        publish=(
            f"{in_prefix}.>",
            f"{JS_API}.CONSUMER.CREATE.{OUT_STREAM}.{name}.{out_prefix}.>",
            f"{JS_API}.CONSUMER.INFO.{OUT_STREAM}.{name}",
            f"{JS_API}.CONSUMER.MSG.NEXT.{OUT_STREAM}.{name}",
            f"$JS.ACK.{OUT_STREAM}.{name}.>",
        ),
        subscribe=(f"{out_prefix}.>", f"{inbox}.>"),
    )


def agency_user(code: str, name: str = "") -> NatsUser:
    token = subjects.agency_token(code)
    return _external_client(
        f"agency_{token}",
        "agency",
        f"{code} {name}".strip(),
        f"{subjects.IN_AGENCY_PREFIX}.{token}",
        f"{subjects.OUT_AGENCY_PREFIX}.{token}",
    )


def postal_user() -> NatsUser:
    return _external_client(
        "postal", "postal", "the postal integration", subjects.IN_POSTAL_PREFIX, subjects.OUT_POSTAL_PREFIX
    )


def service_user(service: str) -> NatsUser:
    return NatsUser(
        name=f"svc_{service}",
        role="service",
        note=f"services.{service}",
        publish=(
            f"{subjects.EVT_PREFIX}.>",
            "lt.out.>",  # lt.out.agency.*, lt.out.postal.*, lt.out.dead_letter.*
            *SERVICE_RPC_CALLS[service],
            f"{JS_API}.>",
            "$JS.ACK.>",
        ),
        subscribe=("_INBOX.>", subjects.SIM_CLOCK, *SERVICE_RPC_ANSWERS[service]),
        allow_responses=bool(SERVICE_RPC_ANSWERS[service]),
    )


def operator_user() -> NatsUser:
    return NatsUser(
        name="operator",
        role="operator",
        note="lienthong explain/report/serve/recommend/export",
        publish=("lt.rpc.deadline.>",),
        subscribe=("_INBOX.>",),
    )


def users_for(catalog: Catalog, services: Iterable[str] = tuple(SERVICE_RPC_CALLS)) -> list[NatsUser]:
    agencies = sorted(catalog.agencies.values(), key=lambda a: a.code)
    return [
        *(service_user(s) for s in services),
        operator_user(),
        postal_user(),
        *(agency_user(a.code, a.name) for a in agencies),
    ]


# ---- rendering ----------------------------------------------------------------------------------


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def env_reference(user: NatsUser) -> str:
    """`$LT_NATS_PASSWORD_...`: resolved by nats-server from its environment at start."""
    return "$" + user.env_var


def render(users: Sequence[NatsUser], password: Callable[[NatsUser], str] = env_reference) -> str:
    """The `authorization { users = [...] }` block; `password(user)` gives the value as written
    (an unquoted `$VAR` reference, or a quoted literal/bcrypt hash from `literal()`)."""
    lines = [
        "# Generated by `lienthong nats-auth`; do not edit by hand, regenerate from the catalog.",
        "# One user per agency, the postal integration, each service and operators (shared/natsauth.py).",
        "authorization {",
        "  users = [",
    ]
    for u in users:
        perms = [f"publish: {{allow: {_list(u.publish)}}}", f"subscribe: {{allow: {_list(u.subscribe)}}}"]
        if u.allow_responses:
            perms.append("allow_responses: true")
        if u.note:
            lines.append(
                f"    # {u.role}: {u.note}"
                + (f" (inbox_prefix {u.inbox_prefix})" if u.role in ("agency", "postal") else "")
            )
        lines.append(f"    {{user: {_q(u.name)}, password: {password(u)},")
        lines.append("     permissions: {" + ", ".join(perms) + "}}")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def literal(value: str) -> str:
    return _q(value)


def read_or_create_secret(directory: Path, user: NatsUser) -> str:
    path = directory / user.name
    if path.exists():
        return path.read_text().strip()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def bcrypt_hash(value: str) -> str:
    try:
        import bcrypt
    except ImportError:
        raise SystemExit("--bcrypt needs the `bcrypt` package: pip install bcrypt") from None
    return bcrypt.hashpw(value.encode(), bcrypt.gensalt(rounds=11)).decode()


# ---- command line -------------------------------------------------------------------------------


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", help="catalog file (default: LIENTHONG_CATALOG or the demo catalog)")
    p.add_argument("--out", help="write the block to this file (default: standard output)")
    p.add_argument(
        "--secrets-dir",
        help="read each user's password from DIR/USER (created at random, 0600, if missing) and write it "
        "into the block instead of an environment reference",
    )
    p.add_argument("--bcrypt", action="store_true", help="with --secrets-dir: store bcrypt hashes, not passwords")


def run(args: argparse.Namespace) -> int:
    path = args.catalog or os.environ.get("LIENTHONG_CATALOG") or default_catalog_path()
    users = users_for(load_catalog(path))
    if args.secrets_dir:
        directory = Path(args.secrets_dir)

        def password(u: NatsUser) -> str:
            value = read_or_create_secret(directory, u)
            return literal(bcrypt_hash(value) if args.bcrypt else value)

    elif args.bcrypt:
        print("--bcrypt cần --secrets-dir", file=sys.stderr)
        return 2
    else:
        password = env_reference
    text = render(users, password)
    if args.out:
        Path(args.out).write_text(text)
        print(f"đã ghi {len(users)} người dùng NATS vào {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


COMMANDS = [
    Command(
        "nats-auth", "NATS users and permissions (nats-server authorization block) from the catalog", configure, run
    )
]
