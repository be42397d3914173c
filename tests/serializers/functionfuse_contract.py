"""Test storages that call serializers exactly as Function Fuse's storages do, written from its contract.

Function Fuse is not on PyPI and its code is not copied here. These classes follow what its storages
(``functionfuse.storage.FileStorage`` / ``S3FileStorage``) are documented and observed to do:

- ``register_persistent_serializers(*classes)`` keys the classes by ``serializer_class`` (matched on the exact
  ``type(obj)``) and by their ``name`` attribute;
- the pickler's ``persistent_id(obj)`` returns whatever ``cls.pickle(obj, protocols)`` returns (``None``
  keeps the object in the pickle);
- the unpickler's ``persistent_load(pid)`` does ``tag, inner = pid`` and returns
  ``classes[tag].unpickle(inner, protocols)``;
- removing a task unpickles its file with a ``persistent_load`` that calls ``classes[tag].remove(inner,
  protocols)``, then deletes the file;
- the protocol keys are the strings ``"file_protocol"`` (an object with ``open(name, mode)`` as Python's
  ``open`` and ``remove(name)`` as ``os.remove``, rooted at ``<path>/<workflow>/bigdata``, which the storage
  creates) and ``"s3 protocol"`` (``{"client": s3fs.S3FileSystem, "folder": "<path>/<workflow>/bigdata"}``);
- a task's result is the file ``<path>/<workflow>/<task>``; a missing one is a ``FileNotFoundError``.

The literal protocol keys are used on purpose (not zarrbridge's constants): the tests show they agree.
"""

from __future__ import annotations

import fnmatch
import io
import os
import pickle
import posixpath
from typing import Any

FF_FILE_PROTOCOL = "file_protocol"
FF_S3_PROTOCOL = "s3 protocol"


class _Pickler(pickle.Pickler):
    def __init__(self, file: Any, by_class: dict[type, Any], protocols: Any) -> None:
        super().__init__(file)
        self.by_class, self.protocols = by_class, protocols

    def persistent_id(self, obj: Any) -> Any:
        cls = self.by_class.get(type(obj))
        return cls.pickle(obj, self.protocols) if cls is not None else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, by_name: dict[str, Any], protocols: Any, action: str) -> None:
        super().__init__(file)
        self.by_name, self.protocols, self.action = by_name, protocols, action

    def persistent_load(self, pid: Any) -> Any:
        tag, inner = pid
        cls = self.by_name.get(tag)
        if cls is None:
            raise pickle.UnpicklingError(f"unsupported persistent object {tag}")
        return getattr(cls, self.action)(inner, self.protocols)


class ContractStorage:
    """The serializer handling both of Function Fuse's storages share."""

    def __init__(self) -> None:
        self.by_class: dict[type, Any] = {}
        self.by_name: dict[str, Any] = {}
        self.always_read = False

    def register_persistent_serializers(self, *classes: Any) -> None:
        self.by_class.update({c.serializer_class: c for c in classes})
        self.by_name.update({c.name: c for c in classes})

    def dumps(self, obj: Any, protocols: Any) -> bytes:
        stream = io.BytesIO()
        _Pickler(stream, self.by_class, protocols).dump(obj)
        return stream.getvalue()

    def loads(self, data: bytes, protocols: Any, action: str = "unpickle") -> Any:
        return _Unpickler(io.BytesIO(data), self.by_name, protocols, action).load()


class OpenRemoveFiles:
    """Function Fuse's local file protocol as documented: ``open`` like Python's,
    ``remove`` like os.remove."""

    def __init__(self, path: str) -> None:
        self.path = path

    def open(self, filename: str, mode: str) -> Any:
        return open(os.path.join(self.path, filename), mode)

    def remove(self, filename: str) -> None:
        os.remove(os.path.join(self.path, filename))


class ContractFileStorage(ContractStorage):
    """A local storage that calls serializers as Function Fuse's ``FileStorage`` does."""

    bigdata = "bigdata"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        os.makedirs(path, exist_ok=True)

    def protocols(self, workflow: str) -> dict[str, Any]:
        return {FF_FILE_PROTOCOL: OpenRemoveFiles(os.path.join(self.path, workflow, self.bigdata))}

    def new_workflow(self, workflow: str) -> None:
        os.makedirs(os.path.join(self.path, workflow), exist_ok=True)

    def save(self, workflow: str, task: str, obj: Any) -> None:
        os.makedirs(os.path.join(self.path, workflow, self.bigdata), exist_ok=True)
        data = self.dumps(obj, self.protocols(workflow))
        with open(os.path.join(self.path, workflow, task), "wb") as f:
            f.write(data)

    def read_task(self, workflow: str, task: str) -> Any:
        path = os.path.join(self.path, workflow, task)
        if not os.path.exists(path):
            raise FileNotFoundError(f"Path {path} is not found")
        with open(path, "rb") as f:
            return self.loads(f.read(), self.protocols(workflow))

    def file_exists(self, workflow: str, task: str) -> bool:
        return os.path.exists(os.path.join(self.path, workflow, task))

    def list_tasks(self, workflow: str, pattern: str) -> list[str]:
        folder = os.path.join(self.path, workflow)
        return sorted(
            f
            for f in os.listdir(folder)
            if os.path.isfile(os.path.join(folder, f)) and fnmatch.fnmatch(f, pattern)
        )

    def remove_task(self, workflow: str, task: str) -> None:
        path = os.path.join(self.path, workflow, task)
        if not os.path.exists(path):
            raise FileNotFoundError(f"Path {path} is not found")
        with open(path, "rb") as f:
            self.loads(f.read(), self.protocols(workflow), action="remove")
        os.remove(path)

    def bigdata_files(self, workflow: str) -> list[str]:
        folder = os.path.join(self.path, workflow, self.bigdata)
        return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


class ContractS3Storage(ContractStorage):
    """An S3 storage that calls serializers as Function Fuse's ``S3FileStorage`` does."""

    bigdata = "bigdata"

    def __init__(self, path: str, s3fs_pars: dict[str, Any]) -> None:
        super().__init__()
        self.path, self.s3fs_pars = path, s3fs_pars

    def s3(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(**self.s3fs_pars)

    def protocols(self, workflow: str, s3: Any) -> dict[str, Any]:
        return {FF_S3_PROTOCOL: {"client": s3, "folder": posixpath.join(self.path, workflow, self.bigdata)}}

    def new_workflow(self, workflow: str) -> None:
        pass  # (S3 has no folders)

    def save(self, workflow: str, task: str, obj: Any) -> None:
        s3 = self.s3()
        data = self.dumps(obj, self.protocols(workflow, s3))
        with s3.open(posixpath.join(self.path, workflow, task), "wb") as f:
            f.write(data)

    def read_task(self, workflow: str, task: str) -> Any:
        s3 = self.s3()
        path = posixpath.join(self.path, workflow, task)
        if not s3.exists(path):
            raise FileNotFoundError(f"Path {path} is not found")
        with s3.open(path, "rb") as f:
            return self.loads(f.read(), self.protocols(workflow, s3))

    def remove_task(self, workflow: str, task: str) -> None:
        s3 = self.s3()
        path = posixpath.join(self.path, workflow, task)
        if not s3.exists(path):
            raise FileNotFoundError(f"Path {path} is not found")
        with s3.open(path, "rb") as f:
            self.loads(f.read(), self.protocols(workflow, s3), action="remove")
        s3.rm_file(path)

    def bigdata_files(self, workflow: str) -> list[str]:
        s3 = self.s3()
        folder = posixpath.join(self.path, workflow, self.bigdata)
        s3.invalidate_cache()
        return sorted(p[len(folder) + 1 :] for p in s3.find(folder))


def run_workflow(storage: Any, workflow: str, steps: dict[str, Any], computed: list[str]) -> dict[str, Any]:
    """Run ``steps`` (name -> function of the previous result) as Function Fuse's local backend does."""
    storage.new_workflow(workflow)
    results: dict[str, Any] = {}
    previous: Any = None
    for name, step in steps.items():
        try:
            previous = results[name] = storage.read_task(workflow, name)
            continue
        except FileNotFoundError:
            pass
        computed.append(name)
        previous = results[name] = step(previous)
        storage.save(workflow, name, previous)
        if storage.always_read:
            previous = results[name] = storage.read_task(workflow, name)
    return results
