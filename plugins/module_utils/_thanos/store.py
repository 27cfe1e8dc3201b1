# -*- coding: utf-8 -*-
# Copyright: meridian.observability contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the hashrings and limits documents live: two files, or two keys of one Kubernetes ConfigMap.

Both stores offer the same small interface to the service:

* ``read()`` returns a Snapshot (both texts plus a version token);
* ``write(snapshot, changes)`` stores the changed texts only if nothing changed since ``snapshot``
  was read, and raises ThanosConflictError otherwise (the service then re-reads and retries);
* ``locked()`` serialises cooperating writers where the store can (flock on the files' directories);
* ``describe(kind)`` names a document in messages and diffs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import traceback

# kubernetes.core's client loads the connection settings exactly as kubernetes.core's own modules do
# (options, then K8S_AUTH_* variables, in-cluster service account, kubeconfig); it imports without the
# kubernetes library and leaves reporting a missing one to us.
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

from .args import KUBERNETES_OPTIONS
from .errors import ThanosConflictError, ThanosMissingLibraryError, ThanosNotManagedError, ThanosStoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows targets; locking is then skipped
    fcntl = None

try:
    from kubernetes.client.rest import ApiException
    from kubernetes.config.config_exception import ConfigException
    import urllib3
except ImportError:
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

    class ApiException(Exception):  # type: ignore[no-redef]
        """Placeholder so except clauses stay valid without the library."""

    class ConfigException(Exception):  # type: ignore[no-redef]
        """Placeholder so except clauses stay valid without the library."""
else:
    KUBERNETES_IMPORT_ERROR = None

HASHRINGS = "hashrings"
LIMITS = "limits"

# The label a ConfigMap must carry before thanos_tenant writes to it.
MANAGED_LABEL = "meridian.observability/thanos-tenants"
MANAGED_LABEL_VALUE = "managed"

DEFAULT_FILE_MODE = 0o644
API_TIMEOUT_SECONDS = 15


class Snapshot:
    """The two documents as read, with whatever the store needs to detect a concurrent change."""

    def __init__(self, hashrings_text, limits_text, token=None, raw=None) -> None:
        self.texts = {HASHRINGS: hashrings_text, LIMITS: limits_text}
        self.token = token
        self.raw = raw

    @property
    def hashrings_text(self):
        return self.texts[HASHRINGS]

    @property
    def limits_text(self):
        return self.texts[LIMITS]


# ---------------------------------------------------------------- files

def atomic_write(path: str, text: str, default_mode: int = DEFAULT_FILE_MODE) -> None:
    """Replace ``path`` with ``text``: temp file in the same directory, fsync, rename, fsync the directory.

    The file keeps its mode (and owner, when we may set it); a new file gets ``default_mode``.
    A reader sees the old or the new content, never a partial one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        existing = None
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), (existing.st_mode & 0o7777) if existing else default_mode)
            if existing is not None and os.geteuid() == 0:
                os.fchown(handle.fileno(), existing.st_uid, existing.st_gid)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def _read_text(path: str, kind: str, required: bool):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        if required:
            raise ThanosStoreError(f"{kind} file {path} does not exist", path=path) from None
        return None
    except IsADirectoryError:
        raise ThanosStoreError(f"{kind} file {path} is a directory", path=path) from None
    except PermissionError:
        raise ThanosStoreError(f"{kind} file {path} is not readable (permission denied)", path=path) from None
    except OSError as err:
        raise ThanosStoreError(f"cannot read {kind} file {path}: {err.strerror}", path=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ThanosStoreError(f"{kind} file {path} is not UTF-8 text", path=path) from None


class FileStore:
    """hashrings JSON and limits YAML as files, as Thanos Receive reads them on a VM or in the lab."""

    def __init__(self, hashrings_path: str, limits_path: str) -> None:
        self.paths = {HASHRINGS: hashrings_path, LIMITS: limits_path}

    def describe(self, kind: str) -> str:
        return self.paths[kind]

    @contextlib.contextmanager
    def locked(self):
        """Exclusive flock on each directory (not the files: a rename swaps their inodes)."""
        handles = []
        try:
            for directory in sorted({os.path.dirname(os.path.abspath(p)) for p in self.paths.values()}):
                try:
                    handle = os.open(directory, os.O_RDONLY)
                except OSError as err:
                    raise ThanosStoreError(f"cannot open directory {directory}: {err.strerror}", path=directory) from None
                handles.append(handle)
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_EX)
            yield self
        finally:
            for handle in reversed(handles):
                os.close(handle)  # closing releases the flock

    def read(self) -> Snapshot:
        hashrings = _read_text(self.paths[HASHRINGS], "hashrings", required=True)
        limits = _read_text(self.paths[LIMITS], "limits", required=False)
        return Snapshot(hashrings, limits, token=(hashrings, limits))

    def write(self, snapshot: Snapshot, changes: list) -> None:
        """``changes`` is an ordered list of (kind, text). Each file is compared with the snapshot just before
        its rename, so an editor that does not take our lock still makes us re-read instead of losing its edit."""
        for kind, text in changes:
            path = self.paths[kind]
            if _read_text(path, kind, required=False) != snapshot.texts[kind]:
                raise ThanosConflictError(f"{kind} file {path} changed while it was being updated", path=path)
            try:
                atomic_write(path, text)
            except OSError as err:
                reason = "permission denied" if err.errno in (errno.EACCES, errno.EPERM) else err.strerror
                raise ThanosStoreError(f"cannot write {kind} file {path}: {reason}", path=path) from None


# ---------------------------------------------------------------- Kubernetes ConfigMap

def _server_of(error) -> str:
    """The API server a urllib3 error was about, as scheme://host:port (the pool that failed knows it)."""
    pool = getattr(error, "pool", None)
    if pool is None:
        return "(unknown)"
    return f"{pool.scheme}://{pool.host}:{pool.port}"


def kubernetes_client(**auth_options):
    """kubernetes.core's K8SClient for ``auth_options`` (its option names: kubeconfig, context, host, api_key, ...).

    Options left out come from the K8S_AUTH_* environment variables, then the in-cluster service account,
    then the kubeconfig, as with kubernetes.core.k8s. Building the client asks the API server for its
    version and API groups, so an unreachable or refusing server is reported here.
    """
    if KUBERNETES_IMPORT_ERROR is not None:
        raise ThanosMissingLibraryError("kubernetes", KUBERNETES_IMPORT_ERROR)
    try:
        return get_api_client(**{name: value for name, value in auth_options.items() if value is not None})
    except ApiException as err:
        raise ThanosStoreError(f"the Kubernetes API server refused the client's discovery requests: "
                               f"HTTP {err.status} {err.reason}", status=err.status) from None
    except urllib3.exceptions.HTTPError as err:
        server = _server_of(err)
        raise ThanosStoreError(f"cannot reach the Kubernetes API server at {server}: {err.__class__.__name__}",
                               server=server) from None
    except (CoreException, ConfigException, OSError, TypeError, ValueError) as err:
        raise ThanosStoreError(f"cannot configure the Kubernetes client: {err}") from None


class ConfigMapStore:
    """Both documents as keys of one ConfigMap (EKS). Writes are a replace guarded by resourceVersion.

    Ownership rule: the ConfigMap must already exist, carry the label
    ``meridian.observability/thanos-tenants: managed`` and hold the hashrings key. Otherwise nothing is written.
    ``client`` is kubernetes.core's K8SClient (see kubernetes_client()).
    """

    def __init__(self, namespace: str, name: str, hashrings_key: str, limits_key: str, client) -> None:
        self.namespace = namespace
        self.name = name
        self.keys = {HASHRINGS: hashrings_key, LIMITS: limits_key}
        self.client = client
        self.server = client.configuration.host
        self._configmaps = None

    def describe(self, kind: str) -> str:
        return f"configmap {self.namespace}/{self.name} key {self.keys[kind]}"

    @contextlib.contextmanager
    def locked(self):
        yield self  # the API server's resourceVersion check does the serialising

    def _call(self, action: str, operation: str, *args):
        """``operation`` ("get" or "replace") of K8SClient on this ConfigMap, with errors translated."""
        where = f"ConfigMap {self.namespace}/{self.name}"
        try:
            if self._configmaps is None:
                self._configmaps = self.client.resource("ConfigMap", "v1")
            return getattr(self.client, operation)(self._configmaps, *args, name=self.name, namespace=self.namespace,
                                                   _request_timeout=API_TIMEOUT_SECONDS)
        except ApiException as err:
            if err.status == 409:
                raise ThanosConflictError(f"{where} was changed by someone else while it was being updated",
                                          status=409) from None
            if err.status == 404:
                raise ThanosStoreError(f"{where} does not exist (create it, labelled {MANAGED_LABEL}="
                                       f"{MANAGED_LABEL_VALUE}, with the {self.keys[HASHRINGS]} key)", status=404) from None
            if err.status in (401, 403):
                raise ThanosStoreError(f"not allowed to {action} {where}: {err.reason}", status=err.status) from None
            raise ThanosStoreError(f"cannot {action} {where}: HTTP {err.status} {err.reason}", status=err.status) from None
        except urllib3.exceptions.HTTPError as err:
            raise ThanosStoreError(f"cannot reach the Kubernetes API server at {self.server} to {action} {where}: "
                                   f"{err.__class__.__name__}: {err}", server=self.server) from None

    def read(self) -> Snapshot:
        configmap = self._call("read", "get").to_dict()
        metadata = configmap.get("metadata") or {}
        labels = metadata.get("labels") or {}
        where = f"ConfigMap {self.namespace}/{self.name}"
        if labels.get(MANAGED_LABEL) != MANAGED_LABEL_VALUE:
            raise ThanosNotManagedError(
                f"{where} is not managed by meridian.observability: it lacks the label "
                f"{MANAGED_LABEL}={MANAGED_LABEL_VALUE}; nothing was changed", configmap=f"{self.namespace}/{self.name}")
        data = configmap.get("data") or {}
        if self.keys[HASHRINGS] not in data:
            raise ThanosNotManagedError(
                f"{where} has no {self.keys[HASHRINGS]!r} key, so it holds no hashrings; nothing was changed",
                configmap=f"{self.namespace}/{self.name}")
        return Snapshot(data[self.keys[HASHRINGS]], data.get(self.keys[LIMITS]),
                        token=metadata.get("resourceVersion"), raw=configmap)

    def write(self, snapshot: Snapshot, changes: list) -> None:
        configmap = dict(snapshot.raw)
        configmap["data"] = dict(configmap.get("data") or {})
        for kind, text in changes:
            configmap["data"][self.keys[kind]] = text
        # The API server answers 409 if the ConfigMap moved on since this resourceVersion.
        configmap["metadata"] = dict(configmap["metadata"], resourceVersion=snapshot.token)
        self._call("replace", "replace", configmap)


def store_from_params(params: dict):
    """Build the store the module options name (the argument spec guarantees exactly one is chosen)."""
    if params.get("hashrings_path"):
        return FileStore(params["hashrings_path"], params["limits_path"])
    client = kubernetes_client(**{option: params.get(option) for option in KUBERNETES_OPTIONS})
    return ConfigMapStore(params["configmap_namespace"], params["configmap_name"], params["hashrings_key"],
                          params["limits_key"], client)
