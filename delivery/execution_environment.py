"""python -m delivery.execution_environment CONTEXT_DIR

Checks the build context `ansible-builder create` wrote for execution-environment.yml (`make ee` runs both):
the Containerfile builds from the base image the definition names and installs the collection tarball, the
tarball is this checkout's collection at galaxy.yml's version with its plugins and roles, and the Python and
collection requirements are the definition's. Exits 1 naming the first thing that is wrong.
"""

from __future__ import annotations

import json
import pathlib
import sys
import tarfile

import yaml

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
TARBALL = "_build/meridian-collection/meridian-observability.tar.gz"


class ContextError(Exception):
    """The build context is not what execution-environment.yml asks for."""


def check_context(context: pathlib.Path, definition: dict, galaxy: dict) -> list[str]:
    """What was verified, one line each; raises ContextError on the first problem."""
    containerfile = context / "Containerfile"
    if not containerfile.is_file():
        raise ContextError(f"{containerfile} is missing: run ansible-builder create first (make ee)")
    text = containerfile.read_text()
    base_image = definition["images"]["base_image"]["name"]
    if f'ARG EE_BASE_IMAGE="{base_image}"' not in text:
        raise ContextError(f"the Containerfile does not build from {base_image}")
    if "COPY _build/meridian-collection /build/meridian-collection" not in text:
        raise ContextError("the Containerfile does not copy the collection tarball into the galaxy stage")

    tarball = context / TARBALL
    if not tarball.is_file():
        raise ContextError(f"{tarball} is missing: make ee builds it with ansible-galaxy collection build")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
    expected = (galaxy["namespace"], galaxy["name"], galaxy["version"])
    if (manifest["namespace"], manifest["name"], manifest["version"]) != expected:
        raise ContextError(f"the tarball is {manifest['namespace']}.{manifest['name']} {manifest['version']}, "
                           f"galaxy.yml says {'.'.join(expected[:2])} {expected[2]}")
    for needed in ("plugins/callback/drift.py", "roles/tenant/tasks/main.yml", "playbooks/site.yml",
                   "operators/tenant-operator/deploy/crd.yaml"):
        if needed not in names:
            raise ContextError(f"the tarball lacks {needed}")
    leaked = sorted({name.split("/")[0] for name in names} & {"tests", "lab", ".lab", ".venv", ".ansible"})
    if leaked:
        raise ContextError(f"the tarball carries {', '.join(leaked)}: add them to galaxy.yml's build_ignore")

    python = (context / "_build" / "requirements.txt").read_text().split()
    if python != definition["dependencies"]["python"]:
        raise ContextError("_build/requirements.txt differs from the definition's Python requirements")
    collections = yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]
    if collections != definition["dependencies"]["galaxy"]["collections"]:
        raise ContextError("_build/requirements.yml differs from the definition's collections")
    system = (context / "_build" / "bindep.txt").read_text().splitlines()
    if system != definition["dependencies"].get("system", []):
        raise ContextError("_build/bindep.txt differs from the definition's system packages")
    return [f"Containerfile builds from {base_image}",
            f"collection {'.'.join(expected[:2])} {expected[2]}: {len(names)} files, {tarball.stat().st_size} bytes",
            f"{len(python)} Python requirements, {len(collections)} collections, {len(system)} system packages"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    definition = yaml.safe_load((REPOSITORY / "execution-environment.yml").read_text())
    galaxy = yaml.safe_load((REPOSITORY / "galaxy.yml").read_text())
    try:
        for line in check_context(pathlib.Path(args[0]), definition, galaxy):
            print(f"ee: {line}")
    except ContextError as error:
        print(f"ee: the build context is wrong: {error}", file=sys.stderr)
        return 1
    print(f"ee: build context ready in {args[0]}. Building the image needs a container runtime (podman or docker), "
          "which this machine does not have: podman build -f Containerfile -t meridian-observability-ee:"
          f"{galaxy['version']} {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
