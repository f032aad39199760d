"""Configuration errors name the file, the key and the problem; adding an area is a file."""
import shutil

import pytest

from referral_hub.config import ConfigError, load_config
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
    edit(config_dir / "areas" / "sefton.toml", 'MATAC = { id = "merseyside-matac"', '# MATAC = {')
    assert "sefton.toml" in error(config_dir) and "recipients missing for ['MATAC']" in error(config_dir)


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
