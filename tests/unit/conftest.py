import pytest
from hypothesis import settings

from referral_hub.config import load_config
from referral_hub.settings import REPO_ROOT

# `make mutation` runs the unit tests once per mutant, in code slowed down by mutmut's
# trampolines: the same few examples every time, however long each takes.
settings.register_profile("mutation", deadline=None, derandomize=True, max_examples=10)


@pytest.fixture(scope="session")
def config():
    return load_config(REPO_ROOT / "config")
