"""The runtime never loads the demo: the `demo` package (its generators and the factories
the tests share) lives outside the app, and only the seed_demo and demo_logins commands
import it, inside handle()."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]

# In a fresh interpreter: Django set up, the URLs and the Celery app loaded, then every module
# of the project's apps (their management commands and migrations too) imported; prints
# what of the demo (or of factory-boy, which only the demo and the tests use) got loaded.
PROBE = """
import importlib, pkgutil, sys
import django
django.setup()
import config.celery, config.urls, config.wsgi
import accounts, logcenter
for package in (accounts, logcenter):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
demo = ("demo", "factory", "tests.factories", "tests.fifth_kind.demo",
        "tests.fifth_kind.factories")
print(sorted(name for name in sys.modules
             if any(name == top or name.startswith(top + ".") for top in demo)))
"""


def test_no_runtime_module_imports_the_demo():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]", probe.stdout


@pytest.mark.django_db
def test_demo_logins_finds_the_demo_when_it_runs(capsys):
    call_command("demo_logins", url="http://example.test/")
    out = capsys.readouterr().out
    assert "http://example.test/" in out and "auditor-demo-123" in out
