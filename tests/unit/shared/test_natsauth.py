"""shared.natsauth: the shipped accounts are the demo catalog's, and each outside party can reach
only its own subjects; services reply on their own inbox prefix."""

from pathlib import Path

import pytest

from shared import natsauth
from shared.catalog import load_catalog
from shared.contracts import subjects
from shared.contracts.streams import agency_reader, reader_consumers
from shared.settings import nats_inbox_prefix

ROOT = Path(__file__).resolve().parents[3]
DEMO = load_catalog(ROOT / "infra" / "catalog" / "demo.yaml")


def test_the_shipped_auth_conf_is_generated_from_the_demo_catalog() -> None:
    shipped = (ROOT / "infra" / "nats" / "auth.conf").read_text()
    assert shipped == natsauth.render(natsauth.accounts_for(DEMO)), "regenerate: lienthong nats-auth --out …"


def test_every_agency_has_an_account_and_a_user_and_every_user_a_distinct_variable() -> None:
    accounts = natsauth.accounts_for(DEMO)
    names = {a.name for a in accounts}
    assert {f"AGENCY_{subjects.agency_token(code)}" for code in DEMO.agencies} <= names
    users = natsauth.users_of(accounts)
    assert len({u.name for u in users}) == len({u.env_var for u in users}) == len(users)


@pytest.mark.parametrize("code", sorted(DEMO.agencies))
def test_an_agency_reaches_only_its_own_subjects(code: str) -> None:
    token = subjects.agency_token(code)
    account = natsauth.agency_account(code)
    (user,) = account.users
    assert not user.allow_responses and not user.unrestricted
    assert user.subscribe == (f"lt.out.agency.{token}.>", "_INBOX.>")
    consumer = agency_reader(code)
    assert consumer == f"agency_{token}"
    assert set(user.publish) == {
        f"lt.in.agency.{token}.>",
        subjects.RPC_INTAKE_SUBMIT,
        f"$JS.lienthong.API.CONSUMER.INFO.LT_OUT.{consumer}",
        f"$JS.lienthong.API.CONSUMER.MSG.NEXT.LT_OUT.{consumer}",
        f"$JS.ACK.LT_OUT.{consumer}.>",
    }
    for imported in account.imports:  # what crosses into LIENTHONG names this agency, nothing wider
        assert token in imported.subject and "*" not in imported.subject, imported
    assert natsauth.Import("service", f"lt.rpc.intake.submit.{token}", "lt.rpc.intake.submit") in account.imports


def test_no_outside_account_reaches_the_jetstream_api_beyond_one_consumer() -> None:
    for account in natsauth.accounts_for(DEMO)[1:]:
        for imported in account.imports:
            if imported.subject.startswith("$JS.API."):
                assert imported.subject.rsplit(".", 3)[-3:-1] in (["INFO", "LT_OUT"], ["NEXT", "LT_OUT"]), imported
        for user in account.users:
            assert not any(p.startswith("$JS.API") or p in (">", "lt.>") for p in user.publish), user


def test_services_publish_their_own_facts_and_read_their_own_replies() -> None:
    intake = natsauth.service_user("intake")
    assert "lt.evt.dossier.received" in intake.publish and "lt.evt.dossier.>" not in intake.publish
    assert intake.subscribe[0] == "_INBOX_svc_intake.>"
    assert natsauth.service_user("postal").publish.count(subjects.RPC_INTAKE_DELIVERY_ADDRESS) == 1
    for service in natsauth.SERVICES:
        user = natsauth.service_user(service)
        assert "$JS.API.STREAM.DELETE.>" in user.deny_publish
        assert nats_inbox_prefix(f"nats://{user.name}:pw@127.0.0.1:4222") + ".>" == user.subscribe[0]


def test_env_references_keep_secrets_out_of_the_file_and_literals_are_quoted() -> None:
    account = natsauth.operators_account()
    assert "password: $LT_NATS_PASSWORD_OPERATOR," in natsauth.render([account])
    quoted = natsauth.render([account], lambda u: natsauth.literal('a"b'))
    assert 'password: "a\\"b",' in quoted


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("nats://127.0.0.1:4222", "_INBOX"),
        ("nats://svc_intake:secret@127.0.0.1:4222", "_INBOX_svc_intake"),
        ("nats://svc_postal:s@a:4222,nats://svc_postal:s@b:4222", "_INBOX_svc_postal"),
        ("svc_routing:x@host:4222", "_INBOX_svc_routing"),
        ("nats://we.ird*user:x@host:4222", "_INBOX_we_ird_user"),
    ],
)
def test_the_inbox_prefix_follows_the_user_in_nats_url(url: str, prefix: str) -> None:
    assert nats_inbox_prefix(url) == prefix


def test_one_reader_consumer_per_agency_and_the_post_each_on_its_own_subjects() -> None:
    configs = reader_consumers(["000.00.15.H57", "000.00.16.H57"])
    assert [(c.durable_name, c.filter_subject) for c in configs] == [
        ("agency_000_00_15_H57", "lt.out.agency.000_00_15_H57.>"),
        ("agency_000_00_16_H57", "lt.out.agency.000_00_16_H57.>"),
        ("postal", "lt.out.postal.>"),
    ]
    assert all(c.deliver_subject is None for c in configs)  # pull consumers: nothing is pushed anywhere


def test_secrets_dir_writes_private_random_passwords_once(tmp_path: Path) -> None:
    import argparse

    out, secrets_dir = tmp_path / "auth.conf", tmp_path / "secrets"
    catalog = str(ROOT / "tests" / "catalogs" / "basic.yaml")
    args = argparse.Namespace(catalog=catalog, out=str(out), secrets_dir=str(secrets_dir), bcrypt=False)
    assert natsauth.run(args) == 0
    first = out.read_text()
    secret = (secrets_dir / "agency_T01_00_01_X99").read_text().strip()
    assert len(secret) >= 24 and f'password: "{secret}"' in first
    assert (secrets_dir / "svc_intake").stat().st_mode & 0o777 == 0o600
    assert natsauth.run(args) == 0 and out.read_text() == first  # existing secrets are kept
