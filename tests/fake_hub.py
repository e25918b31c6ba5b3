"""A loopback stand-in for the Hub's write API, for push tests: just the endpoints a `create_commit` and a
pull request use (repos/create, tree, validate-yaml, preupload, commit, discussions, merge), answered the way
huggingface_hub's source (hf_api.py, _commit_api.py) reads them. Every file is declared a regular (non-LFS)
upload, so commits carry their content inline as NDJSON `file` lines; each commit's lines are recorded so a
test counts the operations per commit where the client sent them, with an unpatched client."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

REPO = r"/api/datasets/(?P<repo>[^/]+/[^/]+)"


@dataclass
class Commit:
    revision: str
    summary: str
    operations: dict[str, int]  # NDJSON key -> lines: file, lfsFile, deletedFile, deletedFolder
    create_pr: bool
    paths: list[str] = field(default_factory=list)


@dataclass
class FakeHub:
    refs: dict[str, dict[str, bytes]] = field(default_factory=dict)  # revision -> path -> content
    pulls: dict[int, dict] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)
    main_states: list[dict[str, bytes]] = field(default_factory=list)  # main after each change of it
    authorizations: set[str] = field(default_factory=set)
    fail_commits: set[int] = field(default_factory=set)  # 1-based commit attempts answered with a 500
    attempts: int = 0
    on_commit: Callable[[], None] | None = None  # called as each commit arrives, before it is applied
    stall: set[str] = field(default_factory=set)  # endpoints (handler names) that accept and never answer
    dribble_s: float = 0.0  # send each tree listing a byte at a time, this long apart
    released: threading.Event = field(default_factory=threading.Event)  # ends the stalls (at shutdown)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_main(self, files: dict[str, bytes]) -> None:
        self.refs["main"] = files
        self.main_states.append(dict(files))


def _blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    base: str

    def log_message(self, *args) -> None:  # quiet
        pass

    def _reply(self, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        self.hub.authorizations.add(self.headers.get("Authorization", ""))
        body = self._body() if method == "POST" else b""
        for pattern, handler in ROUTES[method]:
            match = re.fullmatch(pattern, path)
            if match and handler.__name__ in self.hub.stall:
                self.hub.released.wait(60)  # the client must give up first; bounded, and ended at shutdown
                return
            if match:
                with self.hub.lock:
                    return handler(self, query, body, **match.groupdict())
        self._reply(404, {"error": f"no route {method} {path}"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    # --- endpoints ---

    def create_repo(self, query, body):
        self.hub.refs.setdefault("main", {})
        request = json.loads(body)
        repo = "/".join(filter(None, (request.get("organization"), request["name"])))
        self._reply(200, {"url": f"{self.base}/datasets/{repo}"})

    def tree(self, query, body, repo, revision, sub=None):
        files = self.hub.refs.get(revision)
        if files is None:
            return self._reply(404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
        listing = [{"type": "file", "path": p, "size": len(c), "oid": _blob_sha1(c)} for p, c in sorted(files.items())]
        if not self.hub.dribble_s:
            return self._reply(200, listing)
        data = json.dumps(listing).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for start in range(0, len(data), max(1, len(data) // 8)):  # a slow answer that keeps moving
            self.wfile.write(data[start : start + max(1, len(data) // 8)])
            self.wfile.flush()
            time.sleep(self.hub.dribble_s)

    def validate_yaml(self, query, body):
        self._reply(200, {"errors": [], "warnings": []})

    def preupload(self, query, body, repo, revision):
        files = json.loads(body)["files"]
        self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})

    def commit(self, query, body, repo, revision):
        if self.hub.on_commit:
            self.hub.on_commit()
        self.hub.attempts += 1
        if self.hub.attempts in self.hub.fail_commits:
            return self._reply(500, {"error": "injected failure"})
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        counts: dict[str, int] = {}
        for line in lines[1:]:
            counts[line["key"]] = counts.get(line["key"], 0) + 1
        create_pr = query.get("create_pr") == ["1"]
        self.hub.commits.append(Commit(revision, lines[0]["value"]["summary"], counts, create_pr,
                                       [line["value"]["path"] for line in lines[1:]]))
        target = revision
        if create_pr:
            number = len(self.hub.pulls) + 1
            target = f"refs/pr/{number}"
            self.hub.pulls[number] = {"title": lines[0]["value"]["summary"], "status": "open",
                                      "description": lines[0]["value"].get("description", "")}
            self.hub.refs[target] = dict(self.hub.refs.get(revision, {}))
        files = dict(self.hub.refs.get(target, {}))
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "deletedFile":
                files.pop(value["path"], None)
        if target == "main":
            self.hub.set_main(files)
        else:
            self.hub.refs[target] = files
        pull = f"{self.base}/datasets/{repo}/discussions/{len(self.hub.pulls)}" if create_pr else None
        self._reply(200, {"commitUrl": f"{self.base}/datasets/{repo}/commit/{'0' * 40}", "commitOid": "0" * 40,
                          "pullRequestUrl": pull})

    def discussions(self, query, body, repo):
        found = [
            {"title": pull["title"], "num": number, "author": {"name": "tester"}, "createdAt": "2026-01-01T00:00:00.000Z",
             "status": pull["status"], "repo": {"name": repo, "type": "dataset"}, "isPullRequest": True}
            for number, pull in self.hub.pulls.items() if query.get("status", [pull["status"]])[0] == pull["status"]
        ]
        self._reply(200, {"discussions": found, "count": len(found), "start": 0})

    def discussion(self, query, body, repo, number):
        pull = self.hub.pulls[int(number)]
        opening = {"id": "0", "type": "comment", "createdAt": "2026-01-01T00:00:00.000Z", "author": {"name": "tester"},
                   "data": {"edited": False, "hidden": False, "latest": {"raw": pull.get("description", "")}}}
        self._reply(200, {"title": pull["title"], "num": int(number), "author": {"name": "tester"},
                          "createdAt": "2026-01-01T00:00:00.000Z", "status": pull["status"],
                          "repo": {"name": repo, "type": "dataset"}, "isPullRequest": True, "events": [opening],
                          "changes": {"base": "refs/heads/main"}, "filesWithConflicts": []})

    def merge(self, query, body, repo, number):
        number = int(number)
        self.hub.pulls[number]["status"] = "merged"
        self.hub.set_main(dict(self.hub.refs[f"refs/pr/{number}"]))
        self._reply(200, {})


ROUTES = {
    "GET": [
        (REPO + r"/tree/(?P<revision>refs/pr/\d+|[^/]+)(?:/(?P<sub>.*))?", _Handler.tree),
        (REPO + r"/discussions", _Handler.discussions),
        (REPO + r"/discussions/(?P<number>\d+)", _Handler.discussion),
    ],
    "POST": [
        (r"/api/repos/create", _Handler.create_repo),
        (r"/api/validate-yaml", _Handler.validate_yaml),
        (REPO + r"/preupload/(?P<revision>.+)", _Handler.preupload),
        (REPO + r"/commit/(?P<revision>.+)", _Handler.commit),
        (REPO + r"/discussions/(?P<number>\d+)/merge", _Handler.merge),
    ],
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def shutdown(self) -> None:
        _Handler.hub.released.set()
        super().shutdown()


def serve(hub: FakeHub) -> tuple[ThreadingHTTPServer, str]:
    """Start the server on a free loopback port; returns it and its base URL (stop with .shutdown())."""
    server = _Server(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Handler.hub, _Handler.base = hub, base
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base
