"""Stand-in for ansible-test's pip bootstrap script, which it downloads from a site this machine cannot reach.

ansible-test runs this file with pip-install arguments inside a fresh virtual environment. The
interpreter's own ensurepip provides pip, then pip installs what was asked from the package index.
"""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], stdout=subprocess.DEVNULL)
arguments = [argument for argument in sys.argv[1:] if argument not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *arguments]))
