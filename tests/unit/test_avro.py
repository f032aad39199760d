"""Records are Avro single-object encoded: readable by anyone holding schemas/avro/*.avsc."""
import io
import json

from referral_hub.core.incident import Incident
from datetime import UTC, datetime

import fastavro
import pytest

from referral_hub.adapters.avro import AvroCodec, UnknownSchema
from referral_hub.core.incident import Incident
from referral_hub.settings import REPO_ROOT
from referral_hub.core.validation import parse_incident
from tests.factories import incident

SCHEMAS = REPO_ROOT / "schemas" / "avro"


@pytest.fixture(scope="module")
def codec():
    return AvroCodec(SCHEMAS)


def test_an_incident_survives_the_round_trip_field_for_field(codec, config):
    accepted = parse_incident(json.dumps(incident(protective_notice={
        "type": "DVPO", "issued_at": "2026-11-20T23:00:00Z", "expires_at": "2026-12-20T23:00:00Z"})), config)
    decoded = codec.decode("incident", codec.encode("incident", accepted.model_dump()))
    assert type(accepted).model_validate(decoded, strict=False) == accepted


def test_the_header_is_the_avro_single_object_marker_and_crc64_fingerprint(codec):
    encoded = codec.encode("referral", {
        "referral_id": "ref-1", "incident_id": "MP-1", "force": "merseyside", "area": "E08000013",
        "pathway": "MARAC", "subject_id": "MP-P-1", "recipient": "st-helens-marac",
        "reasons": ["visible_high_risk"], "reported_at": datetime(2026, 11, 20, tzinfo=UTC),
        "due_at": datetime(2026, 11, 23, 9, tzinfo=UTC), "config_version": "sha256:x"})
    schema = fastavro.parse_schema(json.loads((SCHEMAS / "referral.avsc").read_text()))
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    assert encoded[:2] == b"\xc3\x01"
    assert encoded[2:10] == bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    # A reader with nothing but the .avsc file decodes the body.
    assert fastavro.schemaless_reader(io.BytesIO(encoded[10:]), schema)["pathway"] == "MARAC"


def test_the_fingerprint_is_the_one_the_avro_specification_gives():
    # SchemaNormalization.parsingFingerprint64("string") is 0x8F014872634503C7 in Java.
    little_endian = bytes.fromhex(fastavro.schema.fingerprint('"string"', "CRC-64-AVRO"))
    assert int.from_bytes(little_endian, "little") == 0x8F014872634503C7


def test_a_record_of_another_schema_is_refused(codec):
    with pytest.raises(UnknownSchema):
        codec.decode("incident", b"{not avro at all}")


def test_the_incident_schema_has_every_field_of_the_contract():
    schema = json.loads((SCHEMAS / "incident.avsc").read_text())
    assert [f["name"] for f in schema["fields"]] == list(Incident.model_fields)


def test_a_record_names_its_own_schema(codec):
    encoded = codec.encode("contact-event", {
        "event_id": "evt-1", "referral_id": "ref-1", "type": "acknowledged",
        "at": datetime(2026, 11, 23, 8, 40, tzinfo=UTC), "pathway": "ENCOMPASS", "area": "E08000013",
        "recipient": "setting-104808", "reported_at": datetime(2026, 11, 20, 22, 14, tzinfo=UTC),
        "due_at": datetime(2026, 11, 23, 9, tzinfo=UTC)})
    name, record = codec.decode_any(encoded)
    assert name == "contact-event" and record["type"] == "acknowledged"
