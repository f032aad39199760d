"""The email to an agency without a system link: what its coordinator reads, all of it."""
import copy
import html as html_module
import json
from datetime import UTC, date, datetime

import pytest

from referral_hub.adapters.avro import AvroCodec
from referral_hub.core.disclosure import disclose
from referral_hub.core.history import History, PerpetratorHistory, PerpetratorIncident
from referral_hub.core.rules import decide
from referral_hub.settings import REPO_ROOT
from referral_hub.core.validation import parse_incident
from referral_hub.services.notify.agency_email import render_agency_email, subject
from referral_hub.services.notify.encompass_email import message_id, uk_day_time
from tests.factories import incident
from tests.unit.test_encompass_email import parts

SENDER = "referrals@referral-hub.example.org"
CODEC = AvroCodec(REPO_ROOT / "schemas" / "avro")
NOTICE = {"type": "DVPO", "issued_at": "2026-11-20T23:00:00Z", "expires_at": "2026-12-20T23:00:00Z"}
CONTACT = {"phone": "07700900123", "email": "anne.example@example.org", "safe_to_contact": False,
           "safe_contact_notes": "mobile only, after 10:00"}
# One incident for each record type; the risk one fills every optional field.
NOTIFICATIONS = {
    "recipient-risk": incident(victim__contact=CONTACT, protective_notice=NOTICE,
                               risk__professional_judgement_reason="officer's concern"),
    "recipient-support": incident(risk={"tool": "DASH", "dash_yes_count": 9}, children=[],
                                  victim__contact=CONTACT, protective_notice=NOTICE),
    "recipient-safeguarding": incident(),
    "recipient-matac": incident(local_authority="E08000011"),  # Knowsley has a MATAC
}
RECORD_TYPES = sorted(NOTIFICATIONS)


def referral(config, record_type: str) -> dict:
    """The record the hub sends for the incident: real rules, disclosure and an Avro round trip."""
    parsed = parse_incident(json.dumps(NOTIFICATIONS[record_type]), config)
    history = History(perpetrator=PerpetratorHistory((PerpetratorIncident(
        "merseyside/OLD-1", "merseyside:OTHER", parsed.reported_at, False),)))  # MATAC: 2 victims
    for decision in decide(parsed, history, config):
        kind, record = disclose(decision, parsed, config)
        if kind == record_type:
            return CODEC.decode(kind, CODEC.encode(kind, record))
    raise AssertionError(f"no {record_type} referral")


def email(config, record_type: str, record: dict | None = None, **options):
    record = referral(config, record_type) if record is None else record
    agency = config.agency(record["recipient"])
    return render_agency_email(record_type, record, agency.name, str(agency.email),
                               sender=SENDER, **options)


def shown(value) -> list[str]:
    """Each value in a record as the email prints it."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in shown(item)]
    if isinstance(value, list):
        return [text for item in value for text in shown(item)]
    if value is None:
        return ["not given"]
    if isinstance(value, bool):
        return ["Yes" if value else "No"]
    if isinstance(value, datetime):
        return [uk_day_time(value)]
    if isinstance(value, date):
        return [f"{value.day} {value:%B %Y}"]
    return [str(value)]


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_every_value_of_the_record_is_in_both_parts(config, record_type):
    record = referral(config, record_type)
    plain, html, parsed = parts(email(config, record_type, record))
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    html = html_module.unescape(html)  # "officer's concern" is printed as officer&#39;s
    for value in shown({k: v for k, v in record.items() if k != "victim_safe_to_contact"}):
        assert value in plain, value
        assert value in html, value


def test_the_record_reads_as_labelled_sections(config):
    plain, html, _ = parts(email(config, "recipient-risk"))
    victim = plain[plain.index("Victim\n------\n"):plain.index("Perpetrator\n")]
    assert "Given name: Anne\n" in victim
    assert "Date of birth: 2 March 1991\n" in victim
    assert "Contact — phone: +447700900123\n" in victim
    assert "Contact — safe contact notes: mobile only, after 10:00\n" in victim
    assert "Postcode: WA10 1AA\n" in victim
    assert "DASH yes answers: 15\n" in plain
    assert "MERIT score: not given\n" in plain
    assert "Consent to share: Yes\n" in plain
    assert "Contact due by: Saturday 21 November at 22:14\n" in plain  # 24 hours: a DVPO is in force
    assert "Occurred at: Friday 20 November at 21:50\n" in plain
    assert "Expires at: Sunday 20 December at 23:00\n" in plain
    assert "Child 1\n-------\nPerson ID: MP-P-90001\nGiven name: Sam\n" in plain
    assert "Flags:\n  - non_fatal_strangulation\n  - separation\n" in plain
    assert "<h2" in html and ">Victim</h2>" in html and ">Given name</td>" in html


def test_what_a_record_lacks_reads_as_not_given_or_none(config):
    record = referral(config, "recipient-safeguarding")
    record["children"] = []
    plain, _, _ = parts(email(config, "recipient-safeguarding", record))
    assert "Contact — email: not given\n" in plain
    assert "Children: none\n" in plain
    assert "Child 1" not in plain


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_safe_to_contact_warning_comes_first(config, record_type):
    record = referral(config, record_type)
    for safe in (False, True):
        plain, html, _ = parts(email(config, record_type, record | {"victim_safe_to_contact": safe}))
        if safe:
            assert plain.startswith("Victim safe to contact: yes.\n")
            assert "NO." not in plain and "NO." not in html
        else:
            assert plain.startswith("VICTIM SAFE TO CONTACT: NO. Do not call or write to the victim; "
                                    "arrange contact another way.\n")
            warning = html.index("VICTIM SAFE TO CONTACT: NO.")
            assert warning < html.index("referral for ") < html.index(record["referral_id"])
            assert "Do not call or write to the victim; arrange contact another way." in html


def test_subject_says_what_and_by_when_and_names_no_one(config):
    message = email(config, "recipient-risk")
    assert message["Subject"] == "New MARAC referral for St Helens MARAC: contact due by Saturday 21 November"  # a DVPO: 24 hours
    assert subject({"pathway": "COMMUNITY_ADVOCACY"}, "Halton Domestic Abuse Community Service") == \
        "New community advocacy referral for Halton Domestic Abuse Community Service"


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_subject_holds_no_personal_data(config, record_type):
    record = referral(config, record_type)
    people = [record.get("victim"), record.get("perpetrator"), *record.get("children", [])]
    personal = [value for person in people if person for key, value in person.items()
                if key != "gender"]
    for person in people:
        if person and person.get("contact"):
            personal += [v for v in person["contact"].values() if isinstance(v, str)]
    found = [text for value in personal for text in shown(value) + [str(value)]
             if isinstance(value, str | date)]
    assert found  # the record does hold people
    subject_line = email(config, record_type, record)["Subject"]
    for text in found + [str(d.year) for d in personal if isinstance(d, date)]:
        assert text not in subject_line, text


def test_headers(config):
    record = referral(config, "recipient-safeguarding")
    message = email(config, "recipient-safeguarding", record, now=datetime(2026, 11, 20, 22, 20, tzinfo=UTC))
    assert message["From"] == f"Referral hub <{SENDER}>"
    assert message["To"] == "mash@st-helens.example.org"
    assert message["Date"] == "Fri, 20 Nov 2026 22:20:00 +0000"
    assert message["X-Referral-Id"] == record["referral_id"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message.get_content_type() == "multipart/alternative"
    for part in message.iter_parts():
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"


def test_message_id_is_the_same_for_a_resend(config):
    record = referral(config, "recipient-risk")
    first = email(config, "recipient-risk", record, now=datetime(2026, 11, 20, 22, 20, tzinfo=UTC))
    again = email(config, "recipient-risk", record, now=datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    assert first["Message-ID"] == again["Message-ID"] == \
        f"<referral.{record['referral_id']}@referral-hub.example.org>"
    assert first["Message-ID"] != message_id(record["referral_id"], SENDER)  # a school's email's
    other = email(config, "recipient-risk", record | {"referral_id": "ref-ffffffffffffffffffffffff"})
    assert other["Message-ID"] != first["Message-ID"]


def test_footer_says_where_to_report_contact(config):
    record = referral(config, "recipient-matac")
    plain, html, _ = parts(email(config, "recipient-matac", record))
    for text in (plain, html):
        assert f"POST /v1/referrals/{record['referral_id']}/events" in text
        assert "Knowsley Multi-Agency Task and Coordination (MATAC) only" in text  # confidential, for the recipient only


def test_nothing_outside_the_schema_reaches_the_email(config):
    record = referral(config, "recipient-support")
    record["address"] = "14 Larkspur Close"
    record["victim"] = record["victim"] | {"perpetrator_name": "Darren Blackwood"}
    record["victim"]["contact"] = record["victim"]["contact"] | {"sister": "Philippa"}
    message = email(config, "recipient-support", record)
    plain, html, _ = parts(message)
    for text in (plain, html, message.as_string()):
        for value in ("Larkspur", "Darren", "Blackwood", "Philippa", "address", "sister"):
            assert value not in text, value
    assert "Anne" in plain and "Anne" in html


def test_html_escapes_what_it_prints(config):
    record = referral(config, "recipient-risk")
    record["victim"] = record["victim"] | {"given_name": "<script>alert(1)</script>",
                                           "family_name": "O'Brien & <b>Sons</b>"}
    plain, html, _ = parts(email(config, "recipient-risk", record))
    assert "<script>" not in html and "<b>Sons</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "O&#39;Brien &amp; &lt;b&gt;Sons&lt;/b&gt;" in html
    assert "Given name: <script>alert(1)</script>\n" in plain  # plain text is not HTML


def test_non_ascii_names_survive(config):
    record = referral(config, "recipient-support")
    record["victim"] = record["victim"] | {"given_name": "Zoë", "family_name": "Ó Súilleabháin"}
    plain, html, _ = parts(email(config, "recipient-support", record))
    assert "Zoë" in plain and "Ó Súilleabháin" in plain
    assert "Zoë" in html and "Ó Súilleabháin" in html


def change(record: dict, path: str, value=None, remove: bool = False) -> dict:
    """A copy of the record with the dotted path (list indexes as numbers) set or removed."""
    changed = copy.deepcopy(record)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if remove:
        del target[last]
    else:
        target[last] = value
    return changed


@pytest.mark.parametrize("record_type, path, value, remove, named", [
    ("recipient-risk", "due_at", datetime(2026, 11, 23, 9, 0), False, "due_at"),  # naive
    ("recipient-risk", "victim.given_name", None, True, "victim.given_name"),
    ("recipient-risk", "victim.contact.phone", 7700900123, False, "victim.contact.phone"),
    ("recipient-risk", "children.0.date_of_birth", "2016-09-14", False, "children[0].date_of_birth"),
    ("recipient-safeguarding", "victim", "Anne Example", False, "victim"),
    ("recipient-matac", "linked_incidents", "MP-2026-0004711", False, "linked_incidents"),
    ("recipient-support", "victim_safe_to_contact", None, False, "victim_safe_to_contact"),
    ("recipient-support", "referral_id", "Anne Example", False, "referral_id"),
])
def test_errors_name_the_field_not_its_value(config, record_type, path, value, remove, named):
    record = change(referral(config, record_type), path, value, remove)
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")) as error:
        email(config, record_type, record)
    for text in ("Anne", "7700900123", "2016", "MP-2026", "09:00"):
        assert text not in str(error.value)


def test_errors_for_the_recipient_and_record_type(config):
    record = referral(config, "recipient-risk")
    with pytest.raises(ValueError, match="recipient_email") as error:
        render_agency_email("recipient-risk", record, "St Helens MARAC", "Anne Example <nope",
                            sender=SENDER)
    assert "Anne" not in str(error.value)
    with pytest.raises(ValueError, match="record_type"):  # schools have their own email
        render_agency_email("recipient-encompass", record, "St Helens MARAC",
                            "marac@st-helens.example.org", sender=SENDER)


def test_a_recall_email_names_the_referral_and_the_reason_and_nothing_personal():
    from datetime import UTC, datetime

    from referral_hub.services.notify.agency_email import render_recall_email
    recall = {"referral_id": "ref-0123456789abcdef01234567", "action": "recall", "pathway": "IDVA",
              "area": "E08000013", "recipient": "st-helens-idva", "reason": "wrong_person",
              "police_reference": "Merseyside Police MP-2026-0004711",
              "reported_at": datetime(2026, 11, 20, 22, 14, tzinfo=UTC),
              "due_at": datetime(2026, 11, 23, 9, tzinfo=UTC)}
    message = render_recall_email(recall, "St Helens IDVA service", "idva@sthelens.example.org",
                                  sender="hub@example.org")
    text = message.get_content()
    assert message["Subject"] == "Withdrawn: IDVA referral ref-0123456789abcdef01234567"
    assert "wrong_person" in text and "delete what you were sent" in text
    assert message["Message-ID"].startswith("<recall.ref-0123456789abcdef01234567@")
