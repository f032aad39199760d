"""The Encompass email through a real SMTP server (aiosmtpd on 127.0.0.1): no Kafka needed."""
import asyncio
import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from selenium.webdriver.common.by import By

from referral_hub.services.notify.encompass_email import EmailNotSent, SmtpSettings, render, send
from tests.factories import KEY_ADULT_EMAIL, encompass_record

KEY_ADULT = KEY_ADULT_EMAIL
ACK_URL = "http://127.0.0.1:8080/acknowledge/ref-0123456789abcdef01234567.aSJl4A.oRj2u-Wt9PbeJ3mn_x8yZqLkVd0cT1sHfG6NwAa4bXE"
RECORD = encompass_record(guidance="Make sure Amelia has a trusted adult to go to today.")


class Mailbox:
    """An aiosmtpd handler keeping each envelope; refuses recipients at refused.example.org."""

    def __init__(self):
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example.org"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope, session.authenticated))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    def start(**options):
        mailbox = Mailbox()
        controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        started.append(controller)
        return mailbox, controller.port
    started = []
    yield start
    for controller in started:
        controller.stop()


def received(mailbox):
    assert len(mailbox.envelopes) == 1
    envelope, login = mailbox.envelopes[0]
    return envelope, message_from_bytes(envelope.original_content, policy=policy.default), login


def test_the_email_arrives_with_both_parts(smtp_server):
    mailbox, port = smtp_server()
    settings = SmtpSettings(host="127.0.0.1", port=port)
    asyncio.run(send(settings, render(RECORD, ACK_URL, sender=settings.sender)))

    envelope, message, _ = received(mailbox)
    assert envelope.mail_from == "operation-encompass@referral-hub.example.org"
    assert envelope.rcpt_tos == [KEY_ADULT]
    assert message["To"] == KEY_ADULT
    assert message["Subject"] == "Operation Encompass: please read before school on Monday 23 November"
    assert message["Message-ID"] == "<encompass.ref-0123456789abcdef01234567@referral-hub.example.org>"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content()
    for text in (plain, html):
        assert "Amelia Carter" in text
        assert "Friday 20 November at 21:50" in text
        assert "Merseyside Police MP-2026-0004711" in text
        assert "Make sure Amelia has a trusted adult to go to today." in text
        assert ACK_URL in text
    assert plain.startswith("VICTIM SAFE TO CONTACT: NO.\nDo not contact the parent about this.")
    assert f'href="{ACK_URL}"' in html


def test_the_key_adult_reads_when_where_the_childs_voice_and_not_to_contact_the_parent(
        smtp_server, browser, tmp_path):
    """The HTML part as it arrived, opened in headless chromium: the lines a Key Adult reads."""
    mailbox, port = smtp_server()
    settings = SmtpSettings(host="127.0.0.1", port=port)
    asyncio.run(send(settings, render(RECORD, ACK_URL, sender=settings.sender)))
    _, message, _ = received(mailbox)
    page = tmp_path / "encompass.html"
    page.write_text(message.get_body(("html",)).get_content(), encoding="utf-8")
    browser.get(page.as_uri())
    shown = browser.find_element(By.TAG_NAME, "body").text
    assert shown.startswith("VICTIM SAFE TO CONTACT: NO.\nDo not contact the parent about this.")
    for line in ("When Friday 20 November at 21:50 (UK time)",
                 "Where At the home the two adults share",
                 "Child present Yes. Amelia was present during the incident.",
                 "What Amelia said or how Amelia seemed Amelia told the officer she hid in her room "
                 "and was worried about her mum. (the officer's words)"):
        assert line in shown.replace("\n", " ").replace("\t", " ")
    for never in ("DASH", "risk level", "MARAC", "perpetrator"):
        assert never not in shown
    browser.save_screenshot("/tmp/encompass-email-key-adult.png")


def test_without_a_voice_or_place_the_email_says_so_plainly(smtp_server):
    mailbox, port = smtp_server()
    settings = SmtpSettings(host="127.0.0.1", port=port)
    record = RECORD | {"child_voice": None, "location_type": None, "victim_safe_to_contact": True,
                       "parent_contact": "You may contact the parent as you usually would."}
    asyncio.run(send(settings, render(record, ACK_URL, sender=settings.sender)))
    plain = received(mailbox)[1].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain.startswith("Victim safe to contact: yes.\nYou may contact the parent as you usually would.")
    assert "Where:             Not given\n" in plain
    assert "said or how" not in plain


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_login_when_configured(smtp_server):
    attempts = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        attempts.append((auth_data.login, auth_data.password))
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login, auth_data.password) == (b"hub", b"correct-horse")
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535

    mailbox, port = smtp_server(authenticator=authenticator, auth_required=True,
                                auth_require_tls=False)
    settings = SmtpSettings(host="127.0.0.1", port=port, username="hub", password="correct-horse")
    asyncio.run(send(settings, render(RECORD, ACK_URL)))
    envelope, message, authenticated = received(mailbox)
    assert envelope.rcpt_tos == [KEY_ADULT]
    assert authenticated
    assert attempts == [(b"hub", b"correct-horse")]

    wrong = SmtpSettings(host="127.0.0.1", port=port, username="hub", password="wrong")
    with pytest.raises(EmailNotSent):
        asyncio.run(send(wrong, render(RECORD, ACK_URL)))
    assert len(mailbox.envelopes) == 1


def test_starttls_required_but_not_offered_is_not_sent(smtp_server):
    mailbox, port = smtp_server()
    with pytest.raises(EmailNotSent):
        asyncio.run(send(SmtpSettings(host="127.0.0.1", port=port, starttls=True),
                         render(RECORD, ACK_URL)))
    assert mailbox.envelopes == []


def test_a_refused_recipient_is_not_named_in_the_error(smtp_server):
    mailbox, port = smtp_server()
    refused = RECORD | {"key_adult_email": "amelia.carters.teacher@refused.example.org"}
    with pytest.raises(EmailNotSent) as error:
        asyncio.run(send(SmtpSettings(host="127.0.0.1", port=port), render(refused, ACK_URL)))
    assert "amelia" not in str(error.value).lower()
    assert "refused.example" not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert mailbox.envelopes == []
