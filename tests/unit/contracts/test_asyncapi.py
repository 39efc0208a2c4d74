import json

from shared.contracts.asyncapi import DEFAULT_OUT, build_document
from shared.contracts.events import AGENCY_ACTIONS, FACTS


def test_every_inbound_action_and_fact_has_a_channel():
    channels = {c["address"] for c in build_document()["channels"].values()}
    for action in AGENCY_ACTIONS:
        assert f"lt.in.agency.{{agency}}.{action}" in channels
    for topic, type_ in FACTS:
        assert f"lt.evt.{topic}.{type_}" in channels


def test_the_checked_in_document_is_up_to_date():
    assert json.loads(DEFAULT_OUT.read_text()) == json.loads(json.dumps(build_document())), "run `make docs`"
