"""The Gemini Files API as google-genai uses it: resumable upload, get, list and delete.

Uploading is free, so these routes are not in the ledger; they exist so that code which uploads a
video or audio file and then passes it to ``generate_content`` (a transcription pipeline) runs
unchanged. A file part costs what any media part costs (``rules.MEDIA_PART_TOKENS``). Only metadata is
kept: the bytes are counted, never stored.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from typing import Any

from genai_cost.fakeprovider.exchange import Reply, Request, Route

_VERSION = r"(?P<version>v[^/]*)"


class GeminiFiles:
    provider = "gemini"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, dict[str, Any]] = {}  # "files/abc" -> File resource
        self._uploads: dict[str, str] = {}  # upload id -> file name

    def routes(self) -> list[Route]:
        return [
            Route(re.compile(rf"/upload/{_VERSION}/files"), "files.upload", self.upload, billed=False),
            Route(
                re.compile(rf"/{_VERSION}/files"), "files.list", self.list, frozenset({"GET"}), billed=False
            ),
            Route(
                re.compile(rf"/{_VERSION}/files/(?P<file>[^/:]+)"),
                "files.get",
                self.get_or_delete,
                frozenset({"GET", "DELETE"}),
                billed=False,
            ),
        ]

    def upload(self, request: Request) -> Reply:
        upload_id = request.query.get("upload_id")
        if upload_id is None:
            return self._start(request)
        with self._lock:
            name = self._uploads.get(upload_id)
            resource = self._files.get(name or "")
            if resource is None:
                return _not_found(f"unknown upload {upload_id}")
            resource["sizeBytes"] = str(int(resource.get("sizeBytes") or 0) + len(request.raw))
            if "finalize" not in request.headers.get("x-goog-upload-command", ""):
                return Reply(model="", body={}, headers={"x-goog-upload-status": "active"})
            del self._uploads[upload_id]
            resource["state"] = "ACTIVE"
            return Reply(model="", body={"file": dict(resource)}, headers={"x-goog-upload-status": "final"})

    def _start(self, request: Request) -> Reply:
        meta = request.body.get("file") or {}
        file_id = secrets.token_hex(6)
        name = meta.get("name") or f"files/{file_id}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        expires = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() + 48 * 3600))
        host = request.headers.get("host", "127.0.0.1")
        resource = {
            "name": name,
            # google-genai sends some of these in snake_case; the API accepts both.
            "displayName": meta.get("displayName") or meta.get("display_name") or "",
            "mimeType": meta.get("mimeType")
            or meta.get("mime_type")
            or request.headers.get("x-goog-upload-header-content-type", ""),
            "sizeBytes": "0",
            "createTime": stamp,
            "updateTime": stamp,
            "expirationTime": expires,
            "sha256Hash": "",
            "uri": f"http://{host}/{request.params['version']}/{name}",
            "state": "PROCESSING",
            "source": "UPLOADED",
        }
        upload_id = secrets.token_hex(8)
        with self._lock:
            self._files[name] = resource
            self._uploads[upload_id] = name
        upload_url = f"http://{host}/upload/{request.params['version']}/files?upload_id={upload_id}"
        headers = {"x-goog-upload-url": upload_url, "x-goog-upload-status": "active"}
        return Reply(model="", body={}, headers=headers)

    def list(self, request: Request) -> Reply:
        with self._lock:
            files = [dict(f) for f in self._files.values() if f["state"] == "ACTIVE"]
        return Reply(model="", body={"files": files} if files else {})

    def get_or_delete(self, request: Request) -> Reply:
        name = f"files/{request.params['file']}"
        with self._lock:
            if request.method == "DELETE":
                found = self._files.pop(name, None)
                return Reply(model="", body={}) if found else _not_found(f"{name} does not exist")
            resource = self._files.get(name)
            return Reply(model="", body=dict(resource)) if resource else _not_found(f"{name} does not exist")


def _not_found(message: str) -> Reply:
    return Reply(
        model="", status=404, body={"error": {"code": 404, "message": message, "status": "NOT_FOUND"}}
    )
