"""NATS authentication and authorisation for lienthong, generated from the catalog as the
`accounts` block of a nats-server configuration (shipped as infra/nats/auth.conf).

    lienthong nats-auth [--catalog FILE] [--out FILE] [--secrets-dir DIR [--bcrypt]]

Accounts, not only user permissions. Every outside party has its own NATS account and reaches
lienthong's account (LIENTHONG, where the streams live) only through the imports written here:
- `AGENCY_{A}` (user `agency_{A}`): publishes `lt.in.agency.{A}.>`, reads `lt.out.agency.{A}.>`
  (core subscription), asks `lt.rpc.intake.submit` (delivered to intake as
  `lt.rpc.intake.submit.{A}`, so intake knows who asks), and reads its outbound messages from
  JetStream through one durable pull consumer, `agency_{A}` on LT_OUT, created by the services
  (shared/contracts/streams.py): `js = nc.jetstream(domain="lienthong")`,
  `js.pull_subscribe_bind("agency_{A}", "LT_OUT")`. Nothing else of the JetStream API.
- `POSTAL` (user `postal`): the same with `lt.in.postal.>` / `lt.out.postal.>` and consumer `postal`.
- `OPERATORS` (user `operator`): the deadline service's RPCs (`lienthong explain/report/serve/
  recommend/export`), the services' `lt.rpc.{service}.reconcile`, and a read-only view of the
  facts (`lt.evt.>`) and dead letters (`lt.out.dead_letter.>`).
- `LIENTHONG`: the four services (`svc_{service}`), each publishing only its own facts and
  outbound messages, plus `admin` (JetStream administration, backups, tests; no program runs as it).

Why accounts: within one account a client picks the reply subject of what it publishes, and
whoever answers (JetStream's PubAck, a service's RPC reply) publishes there with no permission
check. An agency publishing on its own subject with the reply subject
`lt.in.agency.{another}.submitted` or `lt.evt.dossier.received` would have JetStream store the
PubAck there: a message in another agency's name, or a "fact". Across an import the server
rewrites reply subjects (`_R_.…`), so replies go back into the asker's own account. Likewise an
agency never creates consumers: a push consumer's deliver subject is chosen in the request body,
which no subject permission can see, and would be published inside LIENTHONG.

Services have their own reply prefix, `_INBOX_{user}` (shared/settings.py derives it from the user
in NATS_URL), so that no service reads another's replies (intake's delivery addresses go to postal
only).

Secrets. By default every password is an environment reference (`password: $LT_NATS_PASSWORD_
AGENCY_000_00_15_H57`), which nats-server resolves at start and refuses to start without: the
checked-in file holds no secret. With `--secrets-dir`, each user's password is read from
`DIR/{user}` (created with a random value, mode 0600, when missing) and written into the block,
bcrypt-hashed with `--bcrypt` (needs the optional `bcrypt` package). Clients give their password
in NATS_URL (`nats://svc_intake:SECRET@host:4222`).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.catalog import Catalog, CatalogError, default_catalog_path, load_catalog
from shared.cli import Command
from shared.contracts import subjects
from shared.contracts.streams import OUT_STREAM, POSTAL_READER, agency_reader

LT_ACCOUNT = "LIENTHONG"
OPERATORS_ACCOUNT = "OPERATORS"
POSTAL_ACCOUNT = "POSTAL"
# Outside clients reach their consumer through `nc.jetstream(domain=JS_DOMAIN)`: the API prefix
# `$JS.lienthong.API`, imported one subject at a time (their own account has no JetStream).
JS_DOMAIN = "lienthong"
JS_API = "$JS.API"
JS_EXTERNAL_API = f"$JS.{JS_DOMAIN}.API"
RECONCILE_ALL = "lt.rpc.*.reconcile"
SERVICES = ("intake", "routing", "deadline", "postal")

# What each service publishes (its outbox subjects and direct publishes; docs/design.md's table),
# and the RPC subjects it asks. A subject missing here stalls that service's outbox relay: the
# permission tests run all four services under these users.
SERVICE_PUBLISHES: dict[str, tuple[str, ...]] = {
    "intake": (
        subjects.fact("dossier", "received"),
        "lt.out.agency.*.input_rejected",
        subjects.dead_letter("intake"),
    ),
    "routing": (
        "lt.evt.dossier.>",
        "lt.out.agency.*.assigned",
        "lt.out.agency.*.input_rejected",
        subjects.dead_letter("routing"),
    ),
    "deadline": (
        "lt.evt.deadline.>",
        "lt.out.agency.*.deadline_warning",
        "lt.out.agency.*.apology_required",
        subjects.dead_letter("deadline"),
    ),
    "postal": (
        "lt.evt.postal.>",
        "lt.out.postal.>",
        "lt.out.agency.*.assigned",
        "lt.out.agency.*.input_rejected",
        subjects.dead_letter("postal"),
        subjects.RPC_INTAKE_DELIVERY_ADDRESS,
    ),
}
# JetStream administration a service never needs: nothing it runs deletes or purges stream data.
SERVICE_DENIED = (
    f"{JS_API}.STREAM.DELETE.>",
    f"{JS_API}.STREAM.PURGE.>",
    f"{JS_API}.STREAM.MSG.DELETE.>",
    f"{JS_API}.ACCOUNT.PURGE.>",
)


@dataclass(frozen=True)
class NatsUser:
    name: str
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    deny_publish: tuple[str, ...] = ()
    allow_responses: bool = False
    unrestricted: bool = False  # admin

    @property
    def env_var(self) -> str:
        return "LT_NATS_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())


@dataclass(frozen=True)
class Import:
    kind: str  # service | stream
    subject: str
    to: str | None = None


@dataclass(frozen=True)
class Export:
    kind: str  # service | stream
    subject: str
    response_type: str | None = None  # stream: several replies to one request (pull fetches)
    response_threshold: str | None = None  # how long a reply may take (default 2 min)


@dataclass(frozen=True)
class Account:
    name: str
    note: str
    users: tuple[NatsUser, ...]
    imports: tuple[Import, ...] = ()
    exports: tuple[Export, ...] = ()
    jetstream: bool = False


# ---- who may do what --------------------------------------------------------------------------


def service_user(service: str) -> NatsUser:
    return NatsUser(
        name=f"svc_{service}",
        publish=(*SERVICE_PUBLISHES[service], f"{JS_API}.>", "$JS.ACK.>"),
        deny_publish=SERVICE_DENIED,
        subscribe=(f"_INBOX_svc_{service}.>", f"lt.rpc.{service}.>", subjects.SIM_CLOCK),
        allow_responses=True,
    )


def lienthong_account(services: Iterable[str] = SERVICES) -> Account:
    exports = (
        Export("service", "lt.in.agency.*.>"),
        Export("service", f"{subjects.IN_POSTAL_PREFIX}.>"),
        Export("stream", "lt.out.agency.*.>"),
        Export("stream", f"{subjects.OUT_POSTAL_PREFIX}.>"),
        Export("stream", subjects.EVT_ALL),
        Export("stream", f"{subjects.DEAD_LETTER_PREFIX}.>"),
        Export("service", f"{subjects.RPC_INTAKE_SUBMIT}.*"),
        Export("service", "lt.rpc.deadline.>"),
        Export("service", RECONCILE_ALL, response_threshold="1h"),
        Export("service", f"{JS_API}.CONSUMER.INFO.{OUT_STREAM}.*"),
        Export("service", f"{JS_API}.CONSUMER.MSG.NEXT.{OUT_STREAM}.*", response_type="stream"),
        Export("service", f"$JS.ACK.{OUT_STREAM}.*.>"),
    )
    users = (*(service_user(s) for s in services), NatsUser(name="admin", unrestricted=True))
    return Account(LT_ACCOUNT, "the four services; admin", users, exports=exports, jetstream=True)


def _reader_imports(consumer: str) -> tuple[Import, ...]:
    """One durable pull consumer on LT_OUT: its info and its messages, under the `lienthong`
    JetStream domain prefix, and acks of its deliveries."""
    calls = (f"CONSUMER.INFO.{OUT_STREAM}.{consumer}", f"CONSUMER.MSG.NEXT.{OUT_STREAM}.{consumer}")
    return (
        *(Import("service", f"{JS_API}.{call}", f"{JS_EXTERNAL_API}.{call}") for call in calls),
        Import("service", f"$JS.ACK.{OUT_STREAM}.{consumer}.>"),
    )


def _reader_publish(consumer: str) -> tuple[str, ...]:
    return (
        f"{JS_EXTERNAL_API}.CONSUMER.INFO.{OUT_STREAM}.{consumer}",
        f"{JS_EXTERNAL_API}.CONSUMER.MSG.NEXT.{OUT_STREAM}.{consumer}",
        f"$JS.ACK.{OUT_STREAM}.{consumer}.>",
    )


def agency_account(code: str, name: str = "") -> Account:
    token = subjects.agency_token(code)
    inbound, outbound = f"{subjects.IN_AGENCY_PREFIX}.{token}.>", f"{subjects.OUT_AGENCY_PREFIX}.{token}.>"
    consumer = agency_reader(code)
    user = NatsUser(
        name=f"agency_{token}",
        publish=(inbound, subjects.RPC_INTAKE_SUBMIT, *_reader_publish(consumer)),
        subscribe=(outbound, "_INBOX.>"),
    )
    imports = (
        Import("service", inbound),
        Import("stream", outbound),
        Import("service", f"{subjects.RPC_INTAKE_SUBMIT}.{token}", subjects.RPC_INTAKE_SUBMIT),
        *_reader_imports(consumer),
    )
    return Account(f"AGENCY_{token}", f"{code} {name}".strip(), (user,), imports)


def postal_account() -> Account:
    inbound, outbound = f"{subjects.IN_POSTAL_PREFIX}.>", f"{subjects.OUT_POSTAL_PREFIX}.>"
    user = NatsUser(name="postal", publish=(inbound, *_reader_publish(POSTAL_READER)), subscribe=(outbound, "_INBOX.>"))
    imports = (Import("service", inbound), Import("stream", outbound), *_reader_imports(POSTAL_READER))
    return Account(POSTAL_ACCOUNT, "the postal integration", (user,), imports)


def operators_account() -> Account:
    dead_letters = f"{subjects.DEAD_LETTER_PREFIX}.>"
    user = NatsUser(
        name="operator",
        publish=("lt.rpc.deadline.>", RECONCILE_ALL),
        subscribe=("_INBOX.>", subjects.EVT_ALL, dead_letters),
    )
    imports = (
        Import("service", "lt.rpc.deadline.>"),
        Import("service", RECONCILE_ALL),
        Import("stream", subjects.EVT_ALL),
        Import("stream", dead_letters),
    )
    return Account(OPERATORS_ACCOUNT, "lienthong explain/report/serve/recommend/export/reconcile", (user,), imports)


def accounts_for(catalog: Catalog) -> list[Account]:
    agencies = sorted(catalog.agencies.values(), key=lambda a: a.code)
    return [
        lienthong_account(),
        operators_account(),
        postal_account(),
        *(agency_account(a.code, a.name) for a in agencies),
    ]


def users_of(accounts: Iterable[Account]) -> list[NatsUser]:
    return [u for a in accounts for u in a.users]


# ---- rendering ----------------------------------------------------------------------------------


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def env_reference(user: NatsUser) -> str:
    """`$LT_NATS_PASSWORD_...`: resolved by nats-server from its environment at start."""
    return "$" + user.env_var


def literal(value: str) -> str:
    return _q(value)


def _user(u: NatsUser, password: Callable[[NatsUser], str]) -> str:
    head = f"{{user: {_q(u.name)}, password: {password(u)}"
    if u.unrestricted:
        return head + "}"
    publish = f"allow: {_list(u.publish)}" + (f", deny: {_list(u.deny_publish)}" if u.deny_publish else "")
    perms = [f"publish: {{{publish}}}", f"subscribe: {{allow: {_list(u.subscribe)}}}"]
    if u.allow_responses:
        perms.append("allow_responses: true")
    return head + ",\n       permissions: {" + ", ".join(perms) + "}}"


def _import(i: Import) -> str:
    source = f"{{{i.kind}: {{account: {_q(LT_ACCOUNT)}, subject: {_q(i.subject)}}}"
    return source + (f", to: {_q(i.to)}}}" if i.to else "}")


def _export(e: Export) -> str:
    extra = "".join(
        f", {key}: {_q(value)}"
        for key, value in (("response_type", e.response_type), ("response_threshold", e.response_threshold))
        if value
    )
    return f"{{{e.kind}: {_q(e.subject)}{extra}}}"


def render(accounts: Sequence[Account], password: Callable[[NatsUser], str] = env_reference) -> str:
    """The `accounts { ... }` block; `password(user)` gives the value as written (an unquoted
    `$VAR` reference, or a quoted literal/bcrypt hash from `literal()`)."""
    lines = [
        "# Generated by `lienthong nats-auth` from the catalog (shared/natsauth.py): do not edit by hand.",
        "# One account per agency and for the post and operators; they reach LIENTHONG only through imports.",
        "accounts {",
    ]
    for a in accounts:
        lines += [f"  # {a.note}", f"  {a.name} {{"]
        if a.jetstream:
            lines.append("    jetstream: enabled")
        lines.append("    users = [")
        lines += [f"      {_user(u, password)}" for u in a.users]
        lines.append("    ]")
        for key, items in (("imports", [_import(i) for i in a.imports]), ("exports", [_export(e) for e in a.exports])):
            if items:
                lines += [f"    {key} = [", *(f"      {item}" for item in items), "    ]"]
        lines.append("  }")
    lines += ["}", ""]
    return "\n".join(lines)


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
    try:
        accounts = accounts_for(load_catalog(path))
    except CatalogError as exc:
        print(f"lienthong nats-auth: {exc}", file=sys.stderr)
        return 2
    if args.secrets_dir:
        directory = Path(args.secrets_dir)

        def password(u: NatsUser) -> str:
            value = read_or_create_secret(directory, u)
            return literal(bcrypt_hash(value) if args.bcrypt else value)

    elif args.bcrypt:
        print("--bcrypt cần --secrets-dir (--bcrypt needs --secrets-dir)", file=sys.stderr)
        return 2
    else:
        password = env_reference
    text = render(accounts, password)
    if args.out:
        Path(args.out).write_text(text)
        users = len(users_of(accounts))
        print(f"đã ghi {len(accounts)} tài khoản, {users} người dùng NATS vào {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


COMMANDS = [
    Command("nats-auth", "NATS accounts, users and permissions (nats-server config) from the catalog", configure, run)
]
