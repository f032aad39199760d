import pytest

from referral_hub.config import load_config
from referral_hub.settings import REPO_ROOT


@pytest.fixture(scope="session")
def config():
    return load_config(REPO_ROOT / "config")
