"""`pip install .` gives a working `referral-hub` outside the checkout: the wheel carries the
schemas and the example configuration, and the settings find them inside the package.

The wheel is built from a copy of the sources (a stale build/ folder cannot hide a missing
file) and installed into a fresh virtualenv. Its dependencies are borrowed from the test
environment (a .pth file) rather than downloaded again: the same list is installed by
`make install`, and a full download takes minutes.
"""
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from referral_hub.settings import REPO_ROOT

SOURCES = ("pyproject.toml", "README.md", "referral_hub", "services", "schemas", "config", "samples")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh virtualenv with the built wheel installed."""
    root = tmp_path_factory.mktemp("package")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO_ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(root / "dist"),
                    str(source)], check=True, capture_output=True, timeout=120)
    [wheel] = (root / "dist").glob("*.whl")
    environment = root / "venv"
    venv.create(environment, with_pip=False)
    [site_packages] = environment.glob("lib/python3*/site-packages")
    (site_packages / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([*pip, "--python", str(environment / "bin" / "python"), "install", "--no-deps",
                    str(wheel)], check=True, capture_output=True, timeout=120)
    return environment / "bin"


def test_route_works_from_another_directory(installed, tmp_path):
    samples = (REPO_ROOT / "samples" / "incidents.jsonl").read_text()
    result = subprocess.run([installed / "referral-hub", "route"], input=samples, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    in_checkout = subprocess.run([sys.executable, "-m", "referral_hub.commands.cli", "route"],
                                 input=samples, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == in_checkout.returncode
    assert result.stdout == in_checkout.stdout and result.stdout.count("\n") > 10
    assert result.stderr == in_checkout.stderr


def test_the_installed_settings_point_inside_the_package(installed, tmp_path):
    shown = subprocess.run(
        [installed / "python", "-c", "from referral_hub.settings import HubSettings; s = HubSettings(); "
                                     "print(s.config_dir); print(s.schema_dir); print(s.state_dir)"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60).stdout.split()
    config_dir, schema_dir, state_dir = map(Path, shown)
    assert state_dir == Path(".run/state")  # under the working directory, not site-packages
    assert config_dir.name == "example_config" and "site-packages" in config_dir.parts
    assert (config_dir / "areas" / "halton.toml").is_file()
    assert (schema_dir / "referral.avsc").is_file() and "site-packages" in schema_dir.parts


def test_the_installed_ingest_finds_its_documented_example(installed, tmp_path):
    """The API's OpenAPI example (samples/incident.json) travels in the wheel: without it
    ingest would not start outside a checkout."""
    shown = subprocess.run(
        [installed / "python", "-c", "from referral_hub.services.ingest.api_docs import INCIDENT_EXAMPLE; "
                                     "print(INCIDENT_EXAMPLE['incident_id'])"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert shown == "MP-2026-0004711"
