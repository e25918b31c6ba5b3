"""`mono-depth-mask push`: publish OUT as a Hub dataset repo, uploading only what changed.

Only huggingface_hub's public API is used:

1. `create_repo(repo_type="dataset", exist_ok=True)` (and `create_branch(exist_ok=True)` for --revision).
2. `list_repo_tree(recursive=True, revision=REV)` gives every remote file with its content id: `lfs.sha256`
   for LFS/Xet files (the Parquet shards), `blob_id` (git blob sha1 of the content) for regular files.
3. Each local file is compared by content: its sha256 (from manifest.json for shards, computed otherwise)
   against `lfs.sha256`, or its git blob sha1 against `blob_id`. Equal -> unchanged, different -> change,
   absent remotely -> add. Remote files under the dataset's own folders (data/, backgrounds/, foregrounds/,
   gallery/) that OUT no longer has (e.g. `train-00000-of-00004` after a rebuild into 5 shards) -> delete.
   Other remote files (.gitattributes, anything a person added at the top level) are left alone.
4. The difference as `create_commit` calls of at most MAX_FILES_PER_COMMIT operations each (the Hub's
   storage guide asks for about 100 files per commit; `upload_folder` would commit 256 at a time). One
   commit when it fits. More than one commit to `main` go to a pull request (the first batch opens it with
   `create_pr=True`, the next ones commit to its `refs/pr/N`) which is merged at the end, so `main` goes from
   the old dataset to the new one in one step and never mixes the two. Within the batches the shards and
   gallery come first and the deletions, manifest, stats and card last. `--create-pr` leaves the pull
   request open. A branch other than `main` (`--revision`) cannot take pull requests: its batches are
   committed to it in that order, and it mixes the two datasets until the last one.

Resuming an interrupted push: re-run the same command. An open pull request titled with the same commit
message is taken up again and compared with (so its batches are not committed twice); files committed
before the interruption compare equal and are not sent again; content already uploaded but not yet committed is content-addressed (LFS
objects by sha256, Xet chunks by hash), so the Hub answers that it has it and ~0 bytes are re-sent.

The token comes from `hf auth login` or HF_TOKEN (huggingface_hub's `get_token`) and is never printed.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import ServiceError, UserError
from ..hub import DEFAULT_IDLE_TIMEOUT_S, PROBE_TIMEOUT_S, unreachable, use_idle_timeout
from .hub_rules import card_problems
from ..output.folder import build_lock
from ..output.manifest import load_manifest
from ..output.reader import verify_shards
from ..schema import ANNOTATIONS_DIR, BASELINE, CARD, CONFIG_DIRS, GALLERY_DIR, MANIFEST, STATS

# Remote folders the dataset owns: files there that OUT does not have are stale and deleted.
OWNED_DIRS = (*CONFIG_DIRS.values(), GALLERY_DIR, ANNOTATIONS_DIR)
TOP_FILES = (CARD, MANIFEST, STATS, BASELINE)
MAX_FILES_PER_COMMIT = 100
DEFAULT_MESSAGE = f"Upload the dataset with mono-depth-mask {__version__}"
# Written into the description of the pull request a push opens: a plain push's (only to land its batches
# at once, merged at the end) or --create-pr's (left open for review). A rerun takes up only an open pull
# request of its own kind, so a plain push never merges one that was left for review.
BATCHING_MARK = "<!-- mono-depth-mask: batches of one push, merged when the last one is in -->"
REVIEW_MARK = "<!-- mono-depth-mask: opened with --create-pr, left open for review -->"


@dataclass
class LocalFile:
    path: str  # repo-relative, posix
    file: Path
    size: int
    sha256: str | None = None  # known from the manifest for shards

    def content_sha256(self) -> str:
        if self.sha256 is None:
            self.sha256 = _hash_file(self.file, hashlib.sha256())
        return self.sha256

    def git_blob_sha1(self) -> str:
        digest = hashlib.sha1(b"blob %d\0" % self.size)
        return _hash_file(self.file, digest)


@dataclass
class PushPlan:
    repo_id: str
    revision: str
    repo_exists: bool = True
    add: list[LocalFile] = field(default_factory=list)
    change: list[LocalFile] = field(default_factory=list)
    delete: list[tuple[str, int]] = field(default_factory=list)  # (path, remote size)
    unchanged: list[str] = field(default_factory=list)

    @property
    def uploads(self) -> list[LocalFile]:
        return self.add + self.change

    def upload_bytes(self) -> int:
        return sum(f.size for f in self.uploads)

    def empty(self) -> bool:
        return not (self.add or self.change or self.delete)

    def describe(self, dry_run: bool) -> str:
        head = f"{'dry run: ' if dry_run else ''}{self.repo_id} (dataset, revision {self.revision})"
        if not self.repo_exists:
            head += " does not exist yet (or is not visible with this token): everything is new"
        lines = [head]
        for verb, items in (("add", self.add), ("change", self.change)):
            lines += [f"  {verb:<7} {f.path}  {_size(f.size)}" for f in items]
        lines += [f"  {'delete':<7} {path}  {_size(size)}" for path, size in self.delete]
        would = "would " if dry_run else ""
        lines.append(
            f"{would}add {len(self.add)} ({_size(sum(f.size for f in self.add))}), change {len(self.change)} "
            f"({_size(sum(f.size for f in self.change))}), delete {len(self.delete)} "
            f"({_size(sum(s for _, s in self.delete))}); {len(self.unchanged)} unchanged"
        )
        return "\n".join(lines)


def local_files(out: Path) -> list[LocalFile]:
    """The files of OUT that belong on the Hub: card, manifest, stats, shards, gallery, COCO annotations. Lock and temporary
    files, hidden files and anything else in OUT are left out."""
    out = Path(out)
    manifest = load_manifest(out)
    card = out / CARD
    if not card.is_file():
        raise UserError(f"{out} has no {CARD}; run `mono-depth-mask card {out} --repo-id ORG/NAME` first")
    try:
        text = card.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{card} is not UTF-8 text; rewrite it with `mono-depth-mask card {out}`") from None
    problems = card_problems(text)
    if problems:
        raise UserError(f"{card} would be rejected by the Hub: {'; '.join(problems)}")
    shards = {s["path"]: s for s in manifest["shards"]}
    verify_shards(out, manifest)  # a same-size corruption is never uploaded
    files = [LocalFile(name, out / name, (out / name).stat().st_size) for name in TOP_FILES if (out / name).is_file()]
    for folder in OWNED_DIRS:
        for path in sorted((out / folder).rglob("*")) if (out / folder).is_dir() else []:
            rel = path.relative_to(out).as_posix()
            if not path.is_file() or _ignored(rel):
                continue
            if folder in CONFIG_DIRS.values() and rel not in shards:
                continue  # a file the manifest does not list is not part of the dataset (validate names it)
            files.append(LocalFile(rel, path, path.stat().st_size, shards.get(rel, {}).get("sha256")))
    return files


def _ignored(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    parts = rel.split("/")
    return (any(p.startswith(".") for p in parts) or name.endswith((".lock", ".tmp", ".part", "~"))
            or name in ("Thumbs.db", "desktop.ini"))


def plan_push(api, out: Path, repo_id: str, revision: str = "main", files: list[LocalFile] | None = None) -> PushPlan:
    """Compare OUT (or its `files`, from local_files) with the repo at `revision` (read-only)."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.hf_api import RepoFile

    files = local_files(out) if files is None else files
    plan = PushPlan(repo_id, revision)
    try:
        remote = {
            entry.path: entry
            for entry in api.list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True)
            if isinstance(entry, RepoFile)
        }
    except (RepositoryNotFoundError, RevisionNotFoundError):
        remote, plan.repo_exists = {}, False
    for f in files:
        entry = remote.get(f.path)
        if entry is None:
            plan.add.append(f)
        elif _same_content(f, entry):
            plan.unchanged.append(f.path)
        else:
            plan.change.append(f)
    local = {f.path for f in files}
    plan.delete = sorted(
        (path, entry.size) for path, entry in remote.items()
        if path.split("/", 1)[0] in OWNED_DIRS and "/" in path and path not in local
    )
    return plan


def _same_content(f: LocalFile, entry) -> bool:
    if entry.size is not None and entry.size != f.size:
        return False
    if entry.lfs is not None:
        return entry.lfs.sha256 == f.content_sha256()
    return entry.blob_id is not None and entry.blob_id == f.git_blob_sha1()


def push(out: Path, repo_id: str, private: bool = False, revision: str | None = None, dry_run: bool = False,
         endpoint: str | None = None, commit_message: str | None = None, create_pr: bool = False,
         token: str | None = None, timeout: float = DEFAULT_IDLE_TIMEOUT_S) -> str:
    """Push OUT (or, with dry_run, only say what a push would do). Returns the report to print. OUT's lock
    is held throughout, so no build can change a file between the plan and the last commit; every request
    gives up after `timeout` seconds without a byte moving."""
    if timeout <= 0:
        raise UserError(f"--timeout must be more than 0 seconds; got {timeout:g}")
    with build_lock(Path(out), holder="push"):
        return _push(Path(out), repo_id, private, revision, dry_run, endpoint, commit_message, create_pr, token, timeout)


def _push(out: Path, repo_id: str, private: bool, revision: str | None, dry_run: bool, endpoint: str | None,
          commit_message: str | None, create_pr: bool, token: str | None, timeout: float) -> str:
    from huggingface_hub import HfApi, get_token

    # The local checks (the card, every shard against the manifest) need no network: a damaged dataset is
    # refused first, offline too, before anything is compared or sent.
    files = local_files(out)
    revision = revision or "main"
    if create_pr and revision != "main":
        raise UserError("--create-pr opens a pull request against main: drop --revision, or drop --create-pr")
    token = token or get_token()
    if not dry_run and not token:
        raise UserError("no Hugging Face token: run `hf auth login`, set HF_TOKEN or pass --token (a write token)")
    use_idle_timeout(timeout)
    api = HfApi(endpoint=endpoint, token=token or False)
    with hub_errors(token, api.endpoint, offline_summary(files) if dry_run else None, timeout):
        reason = unreachable(f"{api.endpoint}/api/datasets/{repo_id}", min(timeout, PROBE_TIMEOUT_S))  # before the client's minute of retries
        if reason:
            raise ConnectionError(reason)
        if dry_run:
            return plan_push(api, out, repo_id, revision, files).describe(dry_run=True) + "\nnothing uploaded (--dry-run)"
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision != "main":
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
        message = commit_message or DEFAULT_MESSAGE
        mark = REVIEW_MARK if create_pr else BATCHING_MARK
        pull = open_pull_request(api, repo_id, message, mark) if revision == "main" else None
        plan = plan_push(api, out, repo_id, pull.git_reference if pull else revision, files)
        if plan.empty() and pull is None:
            return plan.describe(dry_run=False) + f"\n{repo_id} is up to date"
        batches = commit_batches(plan)
        if pull is None and len(batches) == 1 and not create_pr or revision != "main":
            oids = [_commit(api, repo_id, batch, message, plan, revision, index, len(batches)) for index, batch in enumerate(batches)]
            return plan.describe(dry_run=False) + f"\ncommitted {_commits(oids)} to {repo_id}@{revision}"
        return plan.describe(dry_run=False) + "\n" + _push_through_pull_request(api, repo_id, batches, message, plan, pull, create_pr)


def offline_summary(files: list[LocalFile]) -> str:
    """What a dry run can say without the Hub: what OUT would upload if the repo were empty."""
    return (f"dry run: {len(files)} files ({_size(sum(f.size for f in files))}) are ready to push and the card "
            "passes the Hub's rules; the comparison with the repo needs the Hub")


def commit_batches(plan: PushPlan) -> list[list]:
    """The plan's operations in commits of at most MAX_FILES_PER_COMMIT: shards and gallery first, then the
    deletions, then manifest, stats and card, so that what describes the dataset lands with the last batch."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    def add(f: LocalFile):
        return CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(f.file))

    data = [add(f) for f in plan.uploads if f.path not in TOP_FILES]
    deletions = [CommitOperationDelete(path_in_repo=path) for path, _ in plan.delete]
    described = [add(f) for f in plan.uploads if f.path in TOP_FILES]
    operations = data + deletions + described
    return [operations[i : i + MAX_FILES_PER_COMMIT] for i in range(0, len(operations), MAX_FILES_PER_COMMIT)]


def open_pull_request(api, repo_id: str, message: str, mark: str = BATCHING_MARK):
    """An open pull request that a push of the same kind (`mark`) and commit message opened and did not
    finish, to resume it. Titles alone cannot tell a plain push's batches from a pull request that
    `--create-pr` left open for review (or one a person opened): the mark in the description can."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        for discussion in api.get_repo_discussions(repo_id, repo_type="dataset", discussion_type="pull_request",
                                                   discussion_status="open"):
            if discussion.title.startswith(message) and _carries(api, repo_id, discussion.num, mark):
                return discussion
    except RepositoryNotFoundError:
        return None
    return None


def _carries(api, repo_id: str, number: int, mark: str) -> bool:
    """Whether the pull request's description (its first comment) carries `mark`."""
    details = api.get_discussion_details(repo_id, number, repo_type="dataset")
    opening = next((event for event in details.events if event.type == "comment"), None)
    return opening is not None and mark in (getattr(opening, "content", "") or "")


def _commit(api, repo_id: str, batch: list, message: str, plan: PushPlan, revision: str, index: int, count: int,
            create_pr: bool = False, mark: str = ""):
    """One batch as one commit; `mark`: the kind of pull request it opens (BATCHING_MARK, REVIEW_MARK)."""
    summary = message if count == 1 else f"{message} (part {index + 1} of {count})"
    description = (f"add {len(plan.add)}, change {len(plan.change)}, delete {len(plan.delete)} files "
                   f"in {count} commit{'s' if count > 1 else ''}")
    if mark:
        description += f"\n\n{mark}"
    info = api.create_commit(repo_id, batch, commit_message=summary, commit_description=description,
                             repo_type="dataset", revision=revision, create_pr=create_pr)
    return info


def _commits(infos: list) -> str:
    return ", ".join(getattr(info, "oid", "") or "" for info in infos)


def _push_through_pull_request(api, repo_id: str, batches: list[list], message: str, plan: PushPlan, pull,
                               leave_open: bool) -> str:
    """Commit the batches to a pull request (opened by the first batch, or the one being resumed), then
    merge it unless it is to be left open."""
    number = pull.num if pull else None
    for index, batch in enumerate(batches):
        if number is None:
            info = _commit(api, repo_id, batch, message, plan, "main", index, len(batches), create_pr=True,
                           mark=REVIEW_MARK if leave_open else BATCHING_MARK)
            number = int(info.pr_url.rstrip("/").rsplit("/", 1)[-1])
        else:
            _commit(api, repo_id, batch, message, plan, f"refs/pr/{number}", index, len(batches))
    url = f"{api.endpoint}/datasets/{repo_id}/discussions/{number}"
    if leave_open:
        return f"committed {len(batches)} batches to pull request #{number}, left open: {url}"
    api.merge_pull_request(repo_id, number, repo_type="dataset")
    return f"committed {len(batches)} batches to pull request #{number} and merged it into {repo_id}@main"


@contextmanager
def hub_errors(token: str | None, endpoint: str, offline: str | None = None, timeout: float | None = None):
    """Hub and network failures as one UserError line, with the token scrubbed from it. `offline`: what
    can still be said without the network (a dry run's local summary), put before the reason; `timeout`:
    the idle timeout in force, named when it ran out."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    def clean(error: BaseException) -> str:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return text.replace(token, "***") if token else text

    try:
        yield
    except UserError:
        raise
    except RepositoryNotFoundError as error:
        raise UserError(f"repository not found or not accessible with this token: {clean(error)}") from None
    except RevisionNotFoundError as error:
        raise UserError(f"revision not found: {clean(error)}") from None
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None) or 0
        failed = ServiceError if status >= 500 else UserError  # 5xx: the Hub failed; 4xx: the request was refused
        raise failed(f"the Hub refused the request: {clean(error)}") from None
    except (OSError, ConnectionError) as error:
        raise ServiceError(_unreachable(endpoint, clean(error), offline)) from None
    except Exception as error:  # httpx transport errors and the like
        if type(error).__name__.endswith("Timeout") and timeout is not None:  # httpx(2).ReadTimeout, WriteTimeout, ...
            reason = f"no answer for {timeout:g} s, the idle limit set by --timeout"
            raise ServiceError(_unreachable(endpoint, reason, offline)) from None
        if type(error).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "requests", "urllib3"):
            raise ServiceError(_unreachable(endpoint, clean(error), offline)) from None
        raise


def _unreachable(endpoint: str, reason: str, offline: str | None) -> str:
    done = f"{offline}; " if offline else ""
    return f"{done}cannot reach {endpoint} ({reason}): check the network and run the same command again"


def _hash_file(path: Path, digest) -> str:
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
