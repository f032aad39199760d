"""Configuration errors name the file, the key and the problem; adding an area is a file."""
import shutil

import pytest

from referral_hub.config import ConfigError, load_config
from referral_hub.commands.demo import set_recipient
from referral_hub.settings import REPO_ROOT


@pytest.fixture
def config_dir(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", target)
    return target


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def error(config_dir) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(config_dir)
    return str(raised.value)


def test_the_shipped_configuration_serves_the_four_areas():
    config = load_config(REPO_ROOT / "config")
    assert {a.name for a in config.areas.values()} == {"St Helens", "Knowsley", "Sefton", "Halton"}
    assert config.areas["E06000006"].force == "cheshire"


def test_a_bad_value_names_file_and_key(config_dir):
    edit(config_dir / "areas" / "halton.toml", "dash_high = 14", "dash_high = 40")
    assert error(config_dir) == (f"{config_dir / 'areas' / 'halton.toml'}: risk.dash_high: "
                                 "Input should be less than or equal to 27")


def test_a_missing_recipient_is_named(config_dir):
    edit(config_dir / "areas" / "sefton.toml", 'IDVA = { id = "sefton-idva"', '# IDVA = {')
    assert "sefton.toml" in error(config_dir) and "recipients missing for ['IDVA']" in error(config_dir)


def test_the_seeds_providers_and_which_areas_have_a_matac():
    areas = {a.name: a for a in load_config(REPO_ROOT / "config").areas.values()}
    assert "The First Step" in areas["Knowsley"].recipients["IDVA"].name
    assert "Safer Communities" in areas["Knowsley"].recipients["COMMUNITY_ADVOCACY"].name
    assert {name for name, area in areas.items() if area.has_matac} == {"Knowsley", "Sefton"}
    assert "MATAC" not in areas["St Helens"].deadlines


def test_each_areas_specialist_services_take_the_flags_the_seeds_name():
    areas = {a.name: a for a in load_config(REPO_ROOT / "config").areas.values()}
    knowsley = areas["Knowsley"].specialists_for(["honour_based_abuse", "forced_marriage", "stalking"])
    assert [(s.name.split(" (")[0], flags) for s, flags in knowsley] == [
        ("Savera UK", ["honour_based_abuse"]), ("Karma Nirvana", ["forced_marriage"]),
        ("National Stalking Helpline", ["stalking"])]
    [(nrpf, _)] = areas["St Helens"].specialists_for(["no_recourse_to_public_funds", "stalking"])
    assert "No Recourse to Public Funds" in nrpf.name
    assert areas["Sefton"].specialists_for(["honour_based_abuse"]) == []


def test_an_unknown_flag_in_a_specialist_map_names_file_and_key(config_dir):
    edit(config_dir / "areas" / "knowsley.toml", 'flags = ["stalking"]', 'flags = ["stalkng"]')
    assert error(config_dir).startswith(
        f"{config_dir / 'areas' / 'knowsley.toml'}: specialist_services.stalking.flags.0: Input should be")


def test_a_flag_sent_to_two_services_is_named(config_dir):
    edit(config_dir / "areas" / "knowsley.toml", 'flags = ["forced_marriage"]',
         'flags = ["forced_marriage", "honour_based_abuse"]')
    assert error(config_dir) == (
        f"{config_dir / 'areas' / 'knowsley.toml'}: specialist_services.karma-nirvana.flags: "
        "honour_based_abuse is already sent to specialist_services.savera-uk: one service per flag")


def test_an_area_may_omit_matac_but_not_give_it_a_deadline_without_a_recipient(config_dir):
    edit(config_dir / "areas" / "st-helens.toml", "SPECIALIST = {", "MATAC = { days = 28 }\nSPECIALIST = {")
    assert error(config_dir) == (
        f"{config_dir / 'areas' / 'st-helens.toml'}: deadlines.MATAC: the area names no MATAC "
        "recipient; name one under recipients, or leave MATAC out")


def test_a_matac_recipient_needs_its_deadline(config_dir):
    edit(config_dir / "areas" / "sefton.toml", "MATAC = { days = 28 }", "")
    assert "sefton.toml: (top level): Value error, deadlines missing for ['MATAC']" in error(config_dir)


def test_a_first_edition_area_file_loads_with_the_new_pathways_default_deadlines(config_dir):
    edit(config_dir / "areas" / "halton.toml", "SPECIALIST = { working_days = 2 }\n"
         "OUT_OF_AREA = { working_days = 1 }\n", "")
    halton = load_config(config_dir).areas["E06000006"]
    assert halton.deadlines["SPECIALIST"].working_days == 2
    assert halton.deadlines["OUT_OF_AREA"].working_days == 1


def test_an_unknown_force_is_named(config_dir):
    edit(config_dir / "areas" / "knowsley.toml", 'force = "merseyside"', 'force = "mersey"')
    assert "knowsley.toml: force: 'mersey' is not a force" in error(config_dir)


def test_a_bad_directory_row_names_its_line(config_dir):
    path = config_dir / "education-settings.csv"
    path.write_text(path.read_text() + "12,Tiny School,E08000013,not-an-email\n")
    message = error(config_dir)
    assert "education-settings.csv: line 11: urn:" in message
    assert "education-settings.csv: line 11: key_adult_email:" in message


def test_an_area_is_added_with_a_file_and_changes_the_version(config_dir):
    before = load_config(config_dir)
    liverpool = (config_dir / "areas" / "st-helens.toml").read_text() \
        .replace("E08000013", "E08000012").replace("St Helens", "Liverpool").replace("st-helens", "liverpool")
    (config_dir / "areas" / "liverpool.toml").write_text(liverpool)
    after = load_config(config_dir)
    assert after.areas["E08000012"].recipients["MARAC"].id == "liverpool-marac"
    assert after.version != before.version


WEBHOOK = ('channel = "webhook", webhook = { url = "https://idva.halton.example.org/referrals", '
           'secret_env = ["RH_WEBHOOK_SECRET_HALTON_IDVA"] }')


def choose_channel(config_dir, settings: str) -> None:
    set_recipient(config_dir / "areas" / "halton.toml", "IDVA", settings)


def test_a_recipient_takes_referrals_by_webhook_with_its_secrets_from_the_environment(config_dir):
    choose_channel(config_dir, WEBHOOK)
    config = load_config(config_dir)
    idva = config.agency("halton-idva")
    assert idva.channel == "webhook" and str(idva.webhook.url) == "https://idva.halton.example.org/referrals"
    assert idva.webhook.retry_hours == 24 and idva.webhook.timeout_seconds == 10
    assert "recipient.halton-idva.v1" not in config.recipient_topics()  # no copy left on Kafka
    assert config.webhook_secrets({"RH_WEBHOOK_SECRET_HALTON_IDVA": "s3cret"}) == {"halton-idva": [b"s3cret"]}
    with pytest.raises(ConfigError) as raised:
        config.webhook_secrets({})
    assert str(raised.value) == (f"{config_dir / 'areas' / 'halton.toml'}: recipients.IDVA.webhook."
                                 "secret_env: environment variable RH_WEBHOOK_SECRET_HALTON_IDVA is not set")


def test_a_webhook_must_be_https_except_on_this_machine(config_dir):
    choose_channel(config_dir, WEBHOOK.replace("https://", "http://"))
    assert "recipients.IDVA.webhook.url: Value error, must be https" in error(config_dir)


def test_a_webhook_channel_needs_its_webhook(config_dir):
    choose_channel(config_dir, 'channel = "webhook"')
    assert "recipients.IDVA: Value error, give webhook = { url, secret_env } exactly when" in error(config_dir)


def test_a_shared_recipient_is_configured_the_same_in_every_area(config_dir):
    """Here Knowsley names Sefton's MATAC, but with Knowsley's name and address for it."""
    edit(config_dir / "areas" / "knowsley.toml", 'id = "knowsley-matac"', 'id = "sefton-matac"')
    assert "sefton.toml: recipients.MATAC.id: 'sefton-matac' is configured differently in " \
           "knowsley.toml" in error(config_dir)


def test_an_api_key_hash_that_is_not_a_sha256_digest_is_refused(config_dir):
    edit(config_dir / "hub.toml", 'api_key_sha256 = ["a904c6799e4c', 'api_key_sha256 = ["a904c6799e4')
    assert error(config_dir).startswith(
        f"{config_dir / 'hub.toml'}: forces.merseyside.api_key_sha256.0: Value error, "
        "must be a SHA-256 digest: 64 hex digits")


def test_a_token_hash_in_capitals_is_refused_as_it_could_never_match(config_dir):
    edit(config_dir / "areas" / "halton.toml", '"bb98b5b891126ce130adc69090029cdf',
         '"BB98B5B891126CE130ADC69090029CDF')
    assert f"{config_dir / 'areas' / 'halton.toml'}: recipients.MARAC.api_token_sha256.0: " \
           "Value error, must be a SHA-256 digest" in error(config_dir)


def test_a_school_in_an_area_that_is_not_configured_is_refused(config_dir):
    path = config_dir / "education-settings.csv"
    path.write_text(path.read_text() + "123456,Far Away School,E09000001,dsl@far-away.example.org\n")
    assert error(config_dir) == (f"{path}: line 11: local_authority: 'E09000001' is not the "
                                 f"gss_code of an area in {config_dir / 'areas'}")


def test_two_areas_with_one_code_name_both_files(config_dir):
    shutil.copy(config_dir / "areas" / "halton.toml", config_dir / "areas" / "widnes.toml")
    assert error(config_dir) == (f"{config_dir / 'areas' / 'widnes.toml'}: gss_code: E06000006 is "
                                 f"already configured in {config_dir / 'areas' / 'halton.toml'}")
