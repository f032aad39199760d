"""The Operation Encompass email: what a Key Adult reads, and what it must never say."""
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import pytest

from referral_hub.services.notify.encompass_email import SmtpSettings, message_id, render
from tests.factories import ENCOMPASS_REFERRAL_ID, encompass_record

ACK_URL = "https://hub.example.org/acknowledge/ref-0123456789abcdef01234567.aSJl4A.oRj2u-Wt9PbeJ3mn_x8yZqLkVd0cT1sHfG6NwAa4bXE"
REFERRAL_ID = ENCOMPASS_REFERRAL_ID

# Whatever else a record carries must never reach the email.
FORBIDDEN = {
    "perpetrator": {"given_name": "Darren", "family_name": "Blackwood", "date_of_birth": date(1988, 2, 29)},
    "perpetrator_name": "Darren Blackwood",
    "address": {"line_1": "14 Larkspur Close", "town": "St Helens", "postcode": "WA10 9QZ"},
    "address_line": "14 Larkspur Close, St Helens WA10 9QZ",
    "dash_score": 17,
    "dash_answers": {"q1_injury": "Yes: fractured wrist", "q24_threats_to_kill": "Yes"},
    "risk_level": "HIGH-RISK-MARAC",
    "other_children": [{"given_name": "Tallulah", "family_name": "Okonkwo-Reyes"}],
    "victim": {"given_name": "Philippa", "family_name": "Carter"},
}
FORBIDDEN_STRINGS = ["Darren", "Blackwood", "Larkspur", "WA10 9QZ", "WA10", "1988", "fractured wrist",
                     "DASH", "score", "HIGH-RISK", "MARAC", "Tallulah", "Okonkwo", "Philippa"]


def record(**changes) -> dict:
    return encompass_record(**changes)


def parts(message):
    """(plain, html) as a mail client would read them, after a round trip through bytes."""
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    return (parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content(),
            parsed)


def both(message) -> str:
    plain, html, _ = parts(message)
    return plain + "\n" + html


def test_both_parts_with_the_essentials():
    plain, html, parsed = parts(render(record(), ACK_URL))
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    for text in (plain, html):
        assert "Amelia Carter" in text
        assert "3 May 2015" in text
        assert "Friday 20 November at 21:50" in text
        assert "Merseyside Police MP-2026-0004711" in text
        assert "Make sure Amelia has a trusted adult to go to today." in text
        assert "Record this on the school&#39;s safeguarding system." in text or \
            "Record this on the school's safeguarding system." in text
        assert "St Helens Primary School" in text
        assert ACK_URL in text
    assert f'href="{ACK_URL}"' in html
    assert '<meta name="viewport"' in html


def test_headers():
    message = render(record(), ACK_URL, now=datetime(2026, 11, 20, 22, 5, tzinfo=UTC))
    assert message["To"] == "key.adult@sthelens-primary.example.org"
    assert "operation-encompass@referral-hub.example.org" in message["From"]
    assert message["Subject"] == "Operation Encompass: please read before school on Monday 23 November"
    assert message["Message-ID"] == f"<encompass.{REFERRAL_ID}@referral-hub.example.org>"
    assert message["Date"] == "Fri, 20 Nov 2026 22:05:00 +0000"


def test_subject_names_no_child():
    subject = render(record(), ACK_URL)["Subject"]
    assert "Amelia" not in subject and "Carter" not in subject and "2015" not in subject


def test_message_id_is_the_same_for_a_resend():
    first = render(record(), ACK_URL, now=datetime(2026, 11, 20, 22, 0, tzinfo=UTC))
    again = render(record(), ACK_URL, now=datetime(2026, 11, 21, 6, 0, tzinfo=UTC))
    assert first["Message-ID"] == again["Message-ID"] == message_id(REFERRAL_ID)
    other = render(record(referral_id="ref-ffffffffffffffffffffffff"), ACK_URL)
    assert other["Message-ID"] != first["Message-ID"]


def test_safe_to_contact_flag_comes_first():
    plain, html, _ = parts(render(record(victim_safe_to_contact=False), ACK_URL))
    assert plain.startswith("VICTIM SAFE TO CONTACT: NO.")
    assert html.index("VICTIM SAFE TO CONTACT: NO.") < html.index("Please read this before school")
    assert html.index("VICTIM SAFE TO CONTACT: NO.") < html.index("Amelia Carter")
    plain, html, _ = parts(render(record(victim_safe_to_contact=True), ACK_URL))
    assert plain.startswith("Victim safe to contact: yes.")
    assert "NO." not in plain


def test_the_one_thing_to_do_comes_before_the_details():
    plain, html, _ = parts(render(record(), ACK_URL))
    assert plain.index("PLEASE READ THIS BEFORE SCHOOL STARTS (08:30 on Monday 23 November)") \
        < plain.index(ACK_URL) < plain.index("Amelia Carter")
    assert html.index("Please read this before school starts (08:30 on Monday 23 November)") \
        < html.index(f'href="{ACK_URL}"') < html.index("Amelia Carter")


def test_incident_time_in_british_summer_time():
    message = render(record(incident_at=datetime(2026, 7, 10, 20, 50, tzinfo=UTC),
                            due_at=datetime(2026, 7, 13, 7, 30, tzinfo=UTC)), ACK_URL)
    text = both(message)
    assert "Friday 10 July at 21:50" in text
    assert "20:50" not in text
    assert "08:30 on Monday 13 July" in text
    assert message["Subject"].endswith("Monday 13 July")


def test_incident_time_in_greenwich_mean_time():
    text = both(render(record(incident_at=datetime(2026, 1, 16, 23, 15, tzinfo=UTC)), ACK_URL))
    assert "Friday 16 January at 23:15" in text


def test_time_across_midnight_uses_the_uk_day():
    # 23:30 UTC on 30 June is 00:30 BST on 1 July.
    text = both(render(record(incident_at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC)), ACK_URL))
    assert "Wednesday 1 July at 00:30" in text


@pytest.mark.parametrize("present, wording, not_wording", [
    (True, "Amelia was present during the incident.", "was not present"),
    (False, "Amelia was not present during the incident.", "was present"),
])
def test_present_or_not(present, wording, not_wording):
    text = both(render(record(child_present=present), ACK_URL))
    assert wording in text
    assert not_wording not in text


def test_nothing_outside_the_record_reaches_the_email():
    extended = record(**FORBIDDEN)
    extended["child"] = extended["child"] | {"address": "14 Larkspur Close", "siblings": ["Tallulah"]}
    extended["setting"] = extended["setting"] | {"head_teacher": "Mr Blackwood"}
    message = render(extended, ACK_URL)
    raw = message.as_string()
    text = both(message)
    for forbidden in FORBIDDEN_STRINGS:
        assert forbidden not in text, forbidden
        assert forbidden not in raw, forbidden
    assert "p-child-1" not in text  # the child's person id is for systems, not the school
    assert "Amelia Carter" in text


def test_html_escapes_what_it_prints():
    hostile = record(child={"person_id": "p-x", "given_name": "<script>alert(1)</script>",
                            "family_name": "O'Brien & <b>Sons</b>", "date_of_birth": date(2016, 1, 2)},
                     guidance='Read <a href="https://evil.example">this</a> & "that".',
                     police_reference="MP-<img src=x onerror=alert(1)>")
    plain, html, _ = parts(render(hostile, ACK_URL))
    assert "<script>" not in html and "<b>Sons</b>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "O&#39;Brien &amp; &lt;b&gt;Sons&lt;/b&gt;" in html
    assert 'href="https://evil.example"' not in html
    assert "<script>alert(1)</script>" in plain  # plain text is not HTML: printed as it is


def test_non_ascii_names_survive():
    named = record(child={"person_id": "p-y", "given_name": "Zoë", "family_name": "Ó Súilleabháin",
                          "date_of_birth": date(2014, 12, 31)})
    plain, html, _ = parts(render(named, ACK_URL))
    assert "Zoë Ó Súilleabháin" in plain and "Zoë Ó Súilleabháin" in html


def test_guidance_paragraphs_in_html():
    _, html, _ = parts(render(record(), ACK_URL))
    assert ("Make sure Amelia has a trusted adult to go to today.<br>"
            "Do not ask the child about the incident.</p>") in html


def test_errors_name_fields_not_values():
    bad = record(key_adult_email="Amelia Carter's teacher <not an address")
    with pytest.raises(ValueError) as error:
        render(bad, ACK_URL)
    assert "Amelia" not in str(error.value) and "key_adult_email" in str(error.value)
    with pytest.raises(ValueError, match="incident_at") as error:
        render(record(incident_at=datetime(2026, 11, 20, 21, 50)), ACK_URL)  # naive
    child = record()["child"]
    with pytest.raises(ValueError, match="family_name"):
        render(record(child={k: v for k, v in child.items() if k != "family_name"}), ACK_URL)
    with pytest.raises(ValueError, match="ack_url"):
        render(record(), "javascript:alert(1)")


def test_smtp_settings_from_environment(monkeypatch):
    monkeypatch.setenv("RH_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("RH_SMTP_PORT", "587")
    monkeypatch.setenv("RH_SMTP_STARTTLS", "true")
    monkeypatch.setenv("RH_SMTP_USERNAME", "hub")
    monkeypatch.setenv("RH_SMTP_PASSWORD", "s3cret-password")
    settings = SmtpSettings()
    assert (settings.host, settings.port, settings.starttls, settings.username) == \
        ("smtp.example.org", 587, True, "hub")
    assert settings.password.get_secret_value() == "s3cret-password"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)
    assert SmtpSettings.model_fields["sender"].default == "operation-encompass@referral-hub.example.org"
