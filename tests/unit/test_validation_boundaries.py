"""Each rule of a bad notification at its edge, with the exact answer a force gets: the
refusal's path and problem, or the data problem on the accepted incident, the value the hub
keeps (a phone in E.164, a postcode, a URN) and what the problem does to the routing
(incident-notification.md, "What the hub must do with a bad notification")."""
import json

import pytest

from referral_hub.commands.route import OfflineRouter
from referral_hub.core.validation import Refused, field_label, parse_incident
from tests.factories import child, incident

UNREADABLE_PHONE = "cannot be read as a phone number: not passed on"
UNREADABLE_POSTCODE = "cannot be read as a UK postcode: not passed on"
UNREADABLE_EMAIL = "cannot be read as an email address: not passed on"
NOT_A_URN = ("is in neither URN form (6 or 7 digits, or two letters and 6 digits): "
             "taken as not in the directory")
NOT_A_PERSON_ID = "is missing or not a person id"
TAKEN_AS_UNDER_18 = "is missing or impossible: taken as under 18"
UNREADABLE_EDUCATION = "cannot be read: the notice goes to the area's Encompass coordinator"
FALLBACK = "st-helens-encompass"
SCHOOL = "setting-104808"


def refusal(raw, config) -> list[tuple[str, str]]:
    raw = raw if isinstance(raw, (bytes, str)) else json.dumps(raw)
    with pytest.raises(Refused) as refused:
        parse_incident(raw, config)
    return [(p.path, p.problem) for p in refused.value.problems]


def accepted(notification, config):
    return parse_incident(json.dumps(notification), config)


def data_problems(notification, config) -> list[tuple[str, str]]:
    return [(p.path, p.problem) for p in accepted(notification, config).data_problems]


def referrals(notification, config) -> dict[str, list]:
    """pathway -> [(recipient, reasons)] of the routed incident."""
    made: dict[str, list] = {}
    for decision in OfflineRouter(config).route(accepted(notification, config)):
        made.setdefault(decision.pathway, []).append((decision.recipient, decision.reasons))
    return made


def child_checked_by_mash(notification, config) -> bool:
    return any("child_data_problem" in reasons for _, reasons in referrals(notification, config).get("MASH_IDVA", []))


# --- phones: E.164, or dropped and reported ---------------------------------------------

@pytest.mark.parametrize("sent, kept", [
    ("0151 443 2610", "+441514432610"),          # 10 national digits
    ("016977 4321", "+44169774321"),            # 9 national digits (a few rural numbers)
    ("+44 151 443 261", "+44151443261"),
    ("0033 1 23 45 67 89", "+33123456789"),     # 00: an international prefix
    ("+33 1234 5678", "+3312345678"),
    ("+49 1234 567", "+491234567"),             # 9 digits abroad
    ("+1 234 567 8", "+12345678"),              # 8 digits: the shortest international number read
    ("+123 456 789 012 345", "+123456789012345"),  # 15 digits: E.164's longest
    ("0151.443.2610", "+441514432610"),
    ("  07700 900123  ", "+447700900123"),
])
def test_a_phone_in_a_readable_form_is_kept_in_e164_without_comment(config, sent, kept):
    parsed = accepted(incident(victim__contact__phone=sent), config)
    assert (parsed.victim.contact.phone, parsed.data_problems) == (kept, ())


@pytest.mark.parametrize("sent", [
    "01514 432 61000",        # 11 national digits
    "0151 443 26",            # 8 national digits
    "+44 1514 432 6100",
    "+1 234 567",             # 7 digits
    "+123 456 789 012 3456",  # 16 digits
    "151 443 2610",           # neither 0 nor + nor 00: no country can be told
    "0151 443 2610 ext 4",
    "+", "", 1514432610,
])
def test_a_phone_that_cannot_be_read_is_dropped_and_reported(config, sent):
    parsed = accepted(incident(victim__contact__phone=sent), config)
    assert parsed.victim.contact.phone is None
    assert [(p.path, p.problem) for p in parsed.data_problems] == [("victim.contact.phone", UNREADABLE_PHONE)]


# --- emails ------------------------------------------------------------------------------

LOCAL_PART = "a" * 64


@pytest.mark.parametrize("sent, kept", [
    ("anne@example.org", "anne@example.org"),
    ("  anne@example.org ", "anne@example.org"),
    (LOCAL_PART + "@" + "b" * (254 - 64 - 1 - 4) + ".org", LOCAL_PART + "@" + "b" * 185 + ".org"),  # 254
])
def test_a_readable_email_is_kept_trimmed(config, sent, kept):
    parsed = accepted(incident(victim__contact__email=sent), config)
    assert (parsed.victim.contact.email, parsed.data_problems) == (kept, ())


@pytest.mark.parametrize("sent", ["anne@example", "anne.example.org", "an ne@example.org", "anne@@example.org",
                                  LOCAL_PART + "@" + "b" * 186 + ".org", 42])  # 255 characters
def test_an_unreadable_email_is_dropped_and_reported(config, sent):
    parsed = accepted(incident(victim__contact__email=sent), config)
    assert parsed.victim.contact.email is None
    assert [(p.path, p.problem) for p in parsed.data_problems] == [("victim.contact.email", UNREADABLE_EMAIL)]


# --- postcodes -----------------------------------------------------------------------------

@pytest.mark.parametrize("sent, kept", [
    ("M1 1AE", "M1 1AE"), ("ec1a1bb", "EC1A 1BB"), ("W1A  0AX", "W1A 0AX"), ("m11ae", "M1 1AE"),
    ("WA1Z", "WA1Z"), ("wa10 ", "wa10"),  # the outward code alone: kept as given, trimmed
])
def test_a_postcode_is_upper_cased_with_one_space_or_kept_as_an_outward_code(config, sent, kept):
    parsed = accepted(incident(victim__postcode=sent), config)
    assert (parsed.victim.postcode, parsed.data_problems) == (kept, ())


@pytest.mark.parametrize("sent", ["WA10 1A", "WAA10 1AA", "1A 1AA", "WA10 1AAA", "WA", 12])
def test_an_unreadable_postcode_is_dropped_and_reported(config, sent):
    parsed = accepted(incident(victim__postcode=sent), config)
    assert parsed.victim.postcode is None
    assert [(p.path, p.problem) for p in parsed.data_problems] == [("victim.postcode", UNREADABLE_POSTCODE)]


# --- URNs and settings -----------------------------------------------------------------

@pytest.mark.parametrize("setting, urn, kept", [
    ("school", "104808", "104808"), ("school", " 104808 ", "104808"), ("college", "1048081", "1048081"),
    ("early_years", "ey123456", "EY123456"),
])
def test_a_urn_in_either_form_is_kept_upper_cased_without_comment(config, setting, urn, kept):
    parsed = accepted(incident(children=[child(setting=setting, urn=urn)]), config)
    assert (parsed.children[0].education.urn, parsed.data_problems) == (kept, ())


@pytest.mark.parametrize("urn", ["10480", "10480812", "E123456", "EYY123456", "EY12345", "EY1234567", 104808])
def test_a_urn_in_neither_form_goes_to_the_coordinator_as_not_in_the_directory(config, urn):
    notification = incident(children=[child(urn=urn)])
    assert data_problems(notification, config) == [("children[0].education.urn", NOT_A_URN)]
    [(recipient, reasons)] = referrals(notification, config)["ENCOMPASS"]
    assert recipient == FALLBACK and "setting_not_in_directory" in reasons
    assert not child_checked_by_mash(notification, config)  # not a bad child entry


@pytest.mark.parametrize("setting, problems", [
    ("school", [("children[0].education.urn", "is missing: taken as not in the directory")]),
    ("college", [("children[0].education.urn", "is missing: taken as not in the directory")]),
    ("early_years", [("children[0].education.urn", "is missing: taken as not in the directory")]),
    ("home_educated", []), ("none", []), ("unknown", []),
])
def test_only_a_school_college_or_early_years_setting_needs_a_urn(config, setting, problems):
    assert data_problems(incident(children=[child(setting=setting, urn=None)]), config) == problems


@pytest.mark.parametrize("education", [
    "school", {"setting": "boarding", "urn": "104808"}, {"setting": "school", "urn": "104808", "name": "x"},
    {"urn": "104808"},
])
def test_an_unreadable_education_goes_to_the_coordinator_and_the_mash_checks_it(config, education):
    notification = incident(children=[child() | {"education": education}])
    assert data_problems(notification, config) == [("children[0].education", UNREADABLE_EDUCATION)]
    [(recipient, reasons)] = referrals(notification, config)["ENCOMPASS"]
    assert recipient == FALLBACK and "child_data_problem" in reasons
    assert child_checked_by_mash(notification, config)


# --- child entries --------------------------------------------------------------------------

@pytest.mark.parametrize("person_id, problems", [
    ("C" * 64, []),
    ("C" * 65, [("children[0].person_id", NOT_A_PERSON_ID)]),
    ("", [("children[0].person_id", NOT_A_PERSON_ID)]),
    (12, [("children[0].person_id", NOT_A_PERSON_ID)]),
    ("MP-P-40007", [("children[0].person_id", "is the victim's or the perpetrator's person id: "
                                              "no Encompass notice")]),
])
def test_a_child_without_a_usable_person_id_gets_no_notice_and_the_mash_checks(config, person_id, problems):
    notification = incident(children=[child(person_id=person_id)])
    assert data_problems(notification, config) == problems
    assert ("ENCOMPASS" in referrals(notification, config)) == (not problems)
    assert child_checked_by_mash(notification, config) == bool(problems)


def test_an_entry_that_is_not_an_object_is_a_bad_child_entry(config):
    notification = incident(children=[child(), "Sam"])
    assert data_problems(notification, config) == [("children[1]", "is not an object")]
    assert len(referrals(notification, config)["ENCOMPASS"]) == 1
    assert child_checked_by_mash(notification, config)


def test_children_that_are_not_a_list_are_a_bad_child_entry(config):
    notification = incident(children={"person_id": "C1"})
    assert data_problems(notification, config) == [("children", "is not a list")]
    assert child_checked_by_mash(notification, config)


@pytest.mark.parametrize("born, problems, notified", [
    ("2008-11-20", [("children[0].date_of_birth", "the person is 18 or over at reported_at: not a child, "
                                                  "no Encompass notice")], False),
    ("2008-11-21", [], True),          # 17, 18 tomorrow
    ("2026-11-20", [], True),          # born that day
    ("2026-11-21", [("children[0].date_of_birth", TAKEN_AS_UNDER_18)], True),
    ("2015-5-5", [("children[0].date_of_birth", TAKEN_AS_UNDER_18)], True),
    ("2015-02-30", [("children[0].date_of_birth", TAKEN_AS_UNDER_18)], True),
    ("2015-05-05T00:00", [("children[0].date_of_birth", TAKEN_AS_UNDER_18)], True),
    (20150505, [("children[0].date_of_birth", TAKEN_AS_UNDER_18)], True),
    (None, [("children[0].date_of_birth", TAKEN_AS_UNDER_18)], True),
])
def test_a_childs_date_of_birth_at_each_edge(config, born, problems, notified):
    notification = incident(children=[child(born=born)])
    assert data_problems(notification, config) == problems
    made = referrals(notification, config)
    assert ("ENCOMPASS" in made) == notified
    assert child_checked_by_mash(notification, config) == bool(problems)
    if notified:  # taken as under 18: notified as usual, to the school, with child_data_problem
        [(school, reasons)] = made["ENCOMPASS"]
        assert school == SCHOOL and ("child_data_problem" in reasons) == bool(problems)


def test_a_child_entry_without_a_date_of_birth_is_taken_as_under_18(config):
    entry = child()
    del entry["date_of_birth"]
    assert data_problems(incident(children=[entry]), config) == [("children[0].date_of_birth", TAKEN_AS_UNDER_18)]


def test_a_child_listed_twice_alike_is_notified_once_and_is_not_a_bad_entry(config):
    notification = incident(children=[child(), child()])
    assert data_problems(notification, config) == [("children[1]", "lists a child already listed: notified once")]
    assert referrals(notification, config)["ENCOMPASS"] == [(SCHOOL, ("child_present", "child_resident"))]
    assert not child_checked_by_mash(notification, config)


def test_a_child_listed_twice_differently_is_notified_once_to_the_coordinator(config):
    notification = incident(children=[child(), child(present=False)])
    [(recipient, reasons)] = referrals(notification, config)["ENCOMPASS"]
    assert recipient == FALLBACK and "child_data_problem" in reasons
    assert child_checked_by_mash(notification, config)


@pytest.mark.parametrize("field, sent, kept, problems", [
    ("resides_with", "victim", [], [("children[0].resides_with", "is not a list: ignored")]),
    ("resides_with", ["victim", 1], ["victim"], [("children[0].resides_with",
                                                  "lists an unknown or repeated adult: ignored")]),
    ("resides_with", ["perpetrator", "victim"], ["perpetrator", "victim"], []),
    ("related_to", None, [], []),
    ("related_to", ["perpetrator"], ["perpetrator"], []),
    ("related_to", ["perpetrator", "perpetrator"], ["perpetrator"],
     [("children[0].related_to", "lists an unknown or repeated adult: ignored")]),
    ("related_to", {"victim": True}, [], [("children[0].related_to", "is not a list: ignored")]),
])
def test_the_adults_a_child_lives_with_or_is_related_to(config, field, sent, kept, problems):
    parsed = accepted(incident(children=[child() | {field: sent}]), config)
    assert getattr(parsed.children[0], field) == kept
    assert [(p.path, p.problem) for p in parsed.data_problems] == problems


VOICE_TOO_LONG = "is not text of at most 2000 characters: not passed to the school"


@pytest.mark.parametrize("voice, kept, problems", [
    ("x" * 2000, "x" * 2000, []),
    ("x" * 2001, None, [("children[0].voice", VOICE_TOO_LONG)]),
    (["she hid"], None, [("children[0].voice", VOICE_TOO_LONG)]),
])
def test_a_childs_voice_of_up_to_2000_characters_reaches_the_school(config, voice, kept, problems):
    parsed = accepted(incident(children=[child() | {"voice": voice}]), config)
    assert parsed.children[0].voice == kept
    assert [(p.path, p.problem) for p in parsed.data_problems] == problems


def test_what_only_the_hub_sets_is_ignored_and_reported(config):
    notification = incident(children=[child() | {"data_problem": "fallback"}]) | {"data_problems": []}
    assert data_problems(notification, config) == [("data_problems", "Extra inputs are not permitted"),
                                                   ("children[0].data_problem", "Extra inputs are not permitted")]
    assert referrals(notification, config)["ENCOMPASS"][0][0] == SCHOOL  # not sent to the fallback


# --- known values --------------------------------------------------------------------------

@pytest.mark.parametrize("relationship", ["partner", "ex_partner", "family_member", "other"])
def test_each_relationship_of_the_contract_is_kept(config, relationship):
    parsed = accepted(incident(perpetrator__relationship=relationship), config)
    assert (parsed.perpetrator.relationship, parsed.data_problems) == (relationship, ())


@pytest.mark.parametrize("path, changes, problem", [
    ("victim.gender", {"victim__gender": "woman"}, "is not a known value: taken as unknown"),
    ("perpetrator.gender", {"perpetrator__gender": "man"}, "is not a known value: taken as unknown"),
    ("perpetrator.relationship", {"perpetrator__relationship": "lodger"}, "is not a known value: taken as other"),
    ("location_type", {"location_type": "garden"}, "is not a known location type: ignored"),
    ("risk.officer_grade", {"risk__officer_grade": "very high"}, "is not a known grade: ignored"),
])
def test_an_unknown_value_is_reported_and_taken_as_the_safe_one(config, path, changes, problem):
    assert data_problems(incident(**changes), config) == [(path, problem)]


def test_unknown_values_are_taken_as_unknown_and_other(config):
    parsed = accepted(incident(victim__gender="woman", perpetrator__gender="man",
                               perpetrator__relationship="lodger", location_type="garden"), config)
    assert (parsed.victim.gender, parsed.perpetrator.gender, parsed.perpetrator.relationship,
            parsed.location_type) == ("unknown", "unknown", "other", None)


def test_flags_keep_the_known_ones_once_and_report_each_unknown_by_its_index(config):
    parsed = accepted(incident(flags=["separation", "bogus", "separation", "stalking", "other"]), config)
    assert parsed.flags == ["separation", "stalking"]
    assert [(p.path, p.problem) for p in parsed.data_problems] == [
        ("flags[1]", "is not a known flag: ignored"), ("flags[4]", "is not a known flag: ignored")]


# --- the risk block -----------------------------------------------------------------------------

COUNT_NOT_USED = "is not a DASH result (0-27): the officer's grade is used"


@pytest.mark.parametrize("count, problems", [
    (0, []), (27, []),
    (28, [("risk.dash_yes_count", COUNT_NOT_USED)]), (-1, [("risk.dash_yes_count", COUNT_NOT_USED)]),
    (True, [("risk.dash_yes_count", COUNT_NOT_USED)]), ("5", [("risk.dash_yes_count", COUNT_NOT_USED)]),
])
def test_a_dash_count_beside_a_grade_is_used_from_0_to_27(config, count, problems):
    notification = incident(risk={"tool": "DASH", "dash_yes_count": count, "officer_grade": "standard"})
    assert data_problems(notification, config) == problems
    # 27 yes answers are high risk; a count that is not used leaves the officer's standard grade
    assert ("MARAC" in referrals(notification, config)) == (count == 27)


@pytest.mark.parametrize("count", [28, -1])
def test_a_dash_count_out_of_range_without_a_grade_is_refused(config, count):
    found = refusal(incident(risk={"tool": "DASH", "dash_yes_count": count}), config)
    assert [path for path, _ in found] == ["risk.dash_yes_count"]


@pytest.mark.parametrize("risk, path", [
    ({"tool": "OASys"}, "risk.tool"),
    ({"tool": "MERIT", "merit_score": -1}, "risk.merit_score"),
    ({"tool": "MERIT", "merit_grade": "platinum"}, "risk.merit_grade"),
])
def test_a_bad_tool_result_without_a_grade_is_refused_and_with_one_is_a_data_problem(config, risk, path):
    assert [p for p, _ in refusal(incident(risk=risk), config)] == [path]
    parsed = accepted(incident(risk=risk | {"officer_grade": "high"}), config)
    assert [p.path for p in parsed.data_problems] == [path]
    assert "MARAC" in referrals(incident(risk=risk | {"officer_grade": "high"}), config)


# --- defaults of required fields that do not refuse ----------------------------------------------

@pytest.mark.parametrize("changes, path, taken_as", [
    ({"victim__given_name": 5}, "victim.given_name", ': taken as "(not given)"'),
    ({"victim__family_name": ""}, "victim.family_name", ': taken as "(not given)"'),
    ({"consent_to_share": "yes"}, "consent_to_share", ": taken as false"),
    ({"risk__professional_judgement": 1}, "risk.professional_judgement", ": taken as false"),
    ({"victim__contact__safe_to_contact": "yes"}, "victim.contact.safe_to_contact", ": taken as false"),
    ({"victim__contact": "07700900123"}, "victim.contact", ': taken as {"safe_to_contact": false}'),
    ({"perpetrator__date_of_birth": "19/07/1988"}, "perpetrator.date_of_birth", ": ignored"),
    ({"sent_at": "later"}, "sent_at", ": ignored"),
])
def test_a_bad_required_field_that_does_not_refuse_is_taken_as_its_safe_default(config, changes, path, taken_as):
    """The problem is the contract's own words for what is wrong, then what the hub did."""
    [(found, problem)] = data_problems(incident(**changes), config)
    assert found == path and problem.endswith(taken_as) and "19/07" not in problem


def test_a_victim_whose_safety_is_unknown_is_not_to_be_contacted(config):
    parsed = accepted(incident(victim__contact__safe_to_contact="yes", consent_to_share="yes"), config)
    assert (parsed.victim.contact.safe_to_contact, parsed.consent_to_share) == (False, False)
    assert (parsed.victim.given_name, accepted(incident(victim__family_name=""), config).victim.family_name) \
        == ("Anne", "(not given)")


def test_a_perpetrator_without_a_usable_id_is_taken_as_unknown(config):
    parsed = accepted(incident(perpetrator__person_id=""), config)
    assert parsed.perpetrator is None
    assert [p.path for p in parsed.data_problems] == ["perpetrator.person_id"]


# --- refusals ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, found", [
    (b"\xff{}", [("(body)", "Invalid JSON: not UTF-8 text")]),
    (b'{"a": 1}\x00', [("(body)", "contains a NUL character")]),
    (b'{"victim": {"names": ["Anne", "A\\u0000"]}}', [("victim.names[1]", "contains a NUL character (\\u0000)")]),
    (b'["\\u0000"]', [("[0]", "contains a NUL character (\\u0000)")]),
    (b'"\\u0000"', [("(body)", "contains a NUL character (\\u0000)")]),
    (b'{"victim": {"na\\u0000me": 1}}', [("victim", "has a name with a NUL character (\\u0000)")]),
    (b'{"children": [{"a": 1, "a": 2}]}', [("children[0].a", "appears more than once in the same object")]),
    (b'{"a": NaN}', [("(body)", "Invalid JSON: NaN and Infinity are not JSON numbers")]),
    (b'{"a": -Infinity}', [("(body)", "Invalid JSON: NaN and Infinity are not JSON numbers")]),
    (b'{"a": 1', [("(body)", "Invalid JSON: Expecting ',' delimiter at character 7")]),
    (b'[1, 2]', [("(body)", "Input should be an object")]),
    (b'"text"', [("(body)", "Input should be an object")]),
])
def test_what_is_not_a_json_object_is_refused_whole_with_its_exact_problem(config, raw, found):
    assert refusal(raw, config) == found


def test_json_nested_deeper_than_python_reads_is_refused_not_an_error(config):
    assert refusal("[" * 100_000, config) == [("(body)", "Invalid JSON: nested too deeply")]
    assert refusal('{"a": ' * 5000 + "1" + "}" * 5000, config) == [("(body)", "Invalid JSON: nested too deeply")]


@pytest.mark.parametrize("changes, path", [
    ({"victim": "Anne"}, "victim"), ({"risk": "high"}, "risk"), ({"victim__person_id": 7}, "victim.person_id"),
    ({"victim__person_id": "V" * 65}, "victim.person_id"), ({"victim__date_of_birth": "1991-02-30"},
                                                             "victim.date_of_birth"),
    ({"reported_at": "yesterday"}, "reported_at"), ({"force": ""}, "force"),
    ({"local_authority": "E10000012"}, "local_authority"), ({"schema_version": "1"}, "schema_version"),
    ({"status": "withdrawn", "withdrawal_reason": "changed mind"}, "withdrawal_reason"),
])
def test_each_field_needed_to_route_refuses_the_notification(config, changes, path):
    assert [p for p, _ in refusal(incident(**changes), config)] == [path]


def test_a_victim_id_of_64_characters_is_accepted(config):
    assert accepted(incident(victim__person_id="V" * 64), config).victim.person_id == "V" * 64


def test_an_area_outside_the_partnership_is_refused_only_for_a_force_without_an_out_of_area_contact(config):
    outside = incident(local_authority="E08000012")
    assert referrals(outside, config)["OUT_OF_AREA"]
    forces = {name: force.model_copy(update={"out_of_area": None}) for name, force in config.forces.items()}
    no_contact = config.model_copy(update={"forces": forces})
    assert refusal(outside, no_contact) == [
        ("local_authority", "is not an area this hub serves, and the force has no out-of-area contact")]
    assert accepted(incident(), no_contact).local_authority == "E08000013"


@pytest.mark.parametrize("path, label", [
    ("children[12].education.urn", "children[].education.urn"), ("flags[3]", "flags[]"),
    ("victim.contact.phone", "victim.contact.phone"), ("risk.dash_yes_count", "risk.dash_yes_count"),
    ("(body)", "(body)"), ("perpetrator.relationship", "perpetrator.relationship"),
    ("victim.Anne Example", "(unknown field)"), ("children[0].shoe_size", "(unknown field)"),
    ("victim[]", "victim[]"), ("[]victim", "(unknown field)"),
])
def test_a_problem_is_counted_under_its_field_without_indexes_or_names_the_sender_made_up(path, label):
    """The label ingest counts data problems by (a metric label): bounded, never the sender's."""
    assert field_label(path) == label


# --- dates against the UK day of the report ------------------------------------------------

@pytest.mark.parametrize("reported, born, refused", [
    ("2026-06-18T23:30:00Z", "2026-06-19", False),  # 00:30 BST on 19 June: born that UK day
    ("2026-11-19T23:30:00Z", "2026-11-20", True),   # 23:30 GMT on 19 November: born tomorrow
])
def test_a_victims_date_of_birth_is_checked_against_the_uk_day_of_the_report(config, reported, born, refused):
    notification = incident(reported_at=reported, occurred_at=None, victim__date_of_birth=born)
    if refused:
        assert refusal(notification, config) == [("victim.date_of_birth", "is after reported_at")]
    else:
        assert data_problems(notification, config) == []


@pytest.mark.parametrize("reported, born, problems", [
    ("2026-06-18T23:30:00Z", "2026-06-19", []),
    ("2026-11-19T23:30:00Z", "2026-11-20", [("perpetrator.date_of_birth", "is after reported_at: ignored")]),
])
def test_a_perpetrators_date_of_birth_is_checked_against_the_uk_day_of_the_report(config, reported, born, problems):
    notification = incident(reported_at=reported, occurred_at=None, perpetrator__date_of_birth=born)
    assert data_problems(notification, config) == problems


def test_an_unconfigured_force_is_refused_for_its_force_alone_wherever_the_victim_lives(config):
    notification = incident(force="northumbria", local_authority="E08000012")
    assert refusal(notification, config) == [("force", "is not a configured police force")]


def test_a_dash_tool_without_a_count_is_routed_on_the_officers_grade(config):
    notification = incident(risk={"tool": "DASH", "officer_grade": "high"})
    assert data_problems(notification, config) == []
    assert "MARAC" in referrals(notification, config)


@pytest.mark.parametrize("gender", ["female", "male", "other", "unknown"])
def test_each_gender_of_the_contract_is_kept(config, gender):
    parsed = accepted(incident(victim__gender=gender, perpetrator__gender=gender), config)
    assert (parsed.victim.gender, parsed.perpetrator.gender, parsed.data_problems) == (gender, gender, ())


@pytest.mark.parametrize("children, checks", [
    ([child("C1"), child("C1", present=False)],
     "children[1]: lists a child already listed with different details: notified once, to the area's "
     "Encompass coordinator"),
    ([child("C1", setting="boarding")], f"children[0].education: {UNREADABLE_EDUCATION}"),
    ([child("C1"), 7], "children[1]: is not an object"),
    ([child("C1", born="2030-01-01")], f"children[0].date_of_birth: {TAKEN_AS_UNDER_18}"),
    ([child("C1") | {"family_name": 7}], 'children[0].family_name: is missing or not a name: taken as "(not given)"'),
    ([child("C1") | {"present": None}], "children[0].present: is missing or not true or false: taken as present"),
    ([child("C1", born="2000-01-01"), child("")],
     "children[0].date_of_birth: the person is 18 or over at reported_at: not a child, no Encompass notice; "
     f"children[1].person_id: {NOT_A_PERSON_ID}"),
])
def test_the_mash_is_told_which_child_entries_to_check_and_why(config, children, checks):
    parsed = accepted(incident(children=children), config)
    [mash] = [d for d in OfflineRouter(config).route(parsed) if d.pathway == "MASH_IDVA"]
    assert f"child_data_problem: a child entry needs checking: {checks}" in mash.explanation


def test_a_perpetrator_dropped_for_its_id_takes_its_other_bad_fields_with_it(config):
    parsed = accepted(incident(perpetrator__person_id="", perpetrator__date_of_birth="1988-13-40"), config)
    assert parsed.perpetrator is None
    assert [p.path for p in parsed.data_problems] == ["perpetrator.person_id", "perpetrator.date_of_birth"]


def test_a_notification_without_children_has_no_data_problem_and_no_mash_referral(config):
    notification = incident()
    del notification["children"]
    assert data_problems(notification, config) == []
    assert "MASH_IDVA" not in referrals(notification, config)


# --- bad fields inside a child entry or a notice: routed, not refused (the spec's list) ------

NOT_A_NAME = 'is missing or not a name: taken as "(not given)"'


@pytest.mark.parametrize("changes, path, problem", [
    ({"given_name": 5}, "children[0].given_name", NOT_A_NAME),
    ({"family_name": ""}, "children[0].family_name", NOT_A_NAME),
    ({"family_name": "x" * 201}, "children[0].family_name", NOT_A_NAME),
    ({"present": "yes"}, "children[0].present", "is missing or not true or false: taken as present"),
])
def test_a_childs_unreadable_name_or_presence_is_checked_by_the_mash_not_refused(config, changes, path, problem):
    """A high-risk victim's MARAC referral must not wait for a child's name to be typed again."""
    # a child away from home: notified only because taken as present when that is unreadable
    kid = child(present=False, resides_with=[] if "present" in changes else ["victim"]) | changes
    parsed = accepted(incident(children=[kid]), config)
    assert [(p.path, p.problem) for p in parsed.data_problems] == [(path, problem)]
    made = referrals(incident(children=[kid]), config)
    assert {"MARAC", "IDVA"} <= set(made)
    [(school, reasons)] = made["ENCOMPASS"]  # notified as usual, the school hears of it
    assert school == SCHOOL and "child_data_problem" in reasons
    assert child_checked_by_mash(incident(children=[kid]), config)


@pytest.mark.parametrize("name", ["J", "x" * 200])
def test_a_child_name_of_1_to_200_characters_is_kept(config, name):
    parsed = accepted(incident(children=[child() | {"given_name": name}]), config)
    assert (parsed.children[0].given_name, parsed.data_problems) == (name, ())


def test_a_childs_unreadable_name_reaches_the_school_as_not_given(config):
    parsed = accepted(incident(children=[child() | {"given_name": None}]), config)
    assert (parsed.children[0].given_name, parsed.children[0].family_name) == ("(not given)", "Example")


def test_a_child_id_with_a_trailing_line_break_is_no_person_id(config):
    notification = incident(children=[child(person_id="C" * 64 + "\n")])
    assert data_problems(notification, config) == [("children[0].person_id", NOT_A_PERSON_ID)]


@pytest.mark.parametrize("notice", [
    {"type": "ASBO", "issued_at": "2026-11-20T22:00:00Z", "expires_at": "2026-11-22T22:00:00Z"},
    {"type": "DVPN", "issued_at": "yesterday", "expires_at": "2026-11-22T22:00:00Z"},
    {"type": "DVPN", "issued_at": "2026-11-20T22:00:00Z"},
])
def test_an_unreadable_protective_notice_is_ignored_and_the_incident_routed(config, notice):
    notification = incident(protective_notice=notice)
    parsed = accepted(notification, config)
    assert parsed.protective_notice is None
    assert [(p.path, p.problem) for p in parsed.data_problems] == [
        ("protective_notice", "cannot be read: the notice is ignored")]
    assert "MARAC" in referrals(notification, config)


def test_a_notice_with_a_field_it_does_not_have_is_kept_without_that_field(config):
    notice = {"type": "DVPO", "issued_at": "2026-11-20T22:00:00Z", "expires_at": "2026-11-22T22:00:00Z", "court": "x"}
    parsed = accepted(incident(protective_notice=notice), config)
    assert parsed.protective_notice.type == "DVPO"
    assert [p.path for p in parsed.data_problems] == ["protective_notice.court"]


def test_a_report_from_more_than_an_hour_ahead_is_refused_with_its_problem(config):
    from datetime import UTC, datetime
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(incident()), config, received_at=datetime(2026, 11, 20, 21, 13, 59, tzinfo=UTC))
    assert [(p.path, p.problem) for p in refused.value.problems] == [
        ("reported_at", "is more than 1 hour after the hub received it")]


def test_a_bad_child_entry_does_not_stop_the_children_after_it(config):
    notification = incident(children=[7, child("C1", born="2000-01-01"), child("C2")])
    assert [recipient for recipient, _ in referrals(notification, config)["ENCOMPASS"]] == [SCHOOL]
    assert [c.person_id for c in accepted(notification, config).children] == ["C2"]


def test_a_victim_without_a_gender_does_not_stop_the_perpetrators_being_read(config):
    notification = incident(perpetrator__gender="man")
    del notification["victim"]["gender"]
    [perpetrator, (victim_path, victim_problem)] = data_problems(notification, config)
    assert victim_path == "victim.gender" and victim_problem.endswith(': taken as "unknown"')
    assert perpetrator == ("perpetrator.gender", "is not a known value: taken as unknown")


def test_a_notice_that_is_not_an_object_is_ignored(config):
    parsed = accepted(incident(protective_notice="DVPN until Sunday"), config)
    assert parsed.protective_notice is None
    assert [p.path for p in parsed.data_problems] == ["protective_notice"]


def test_a_child_listed_twice_does_not_stop_the_children_after_it(config):
    notification = incident(children=[child("C1"), child("C1"), child("C2", urn="104809")])
    assert [r for r, _ in referrals(notification, config)["ENCOMPASS"]] == [SCHOOL, "setting-104809"]
