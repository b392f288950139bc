"""A small GitLab runner for the self-tests: `.gitlab-ci.yml` read as GitLab reads it, and
its jobs' scripts run in bash the way the shell executor runs them.

What it does as GitLab does: `extends` (hashes merged deeply, arrays replaced),
`!reference` tags, YAML anchors and merge keys, workflow and job `rules:if` (the
expression forms the file uses: `==`, `!=`, `&&`, `||`, parentheses, `null`, bare
variables), variables (project ones win over the file's; `$VAR` expanded in values, cache
keys and paths), `before_script` and `script` in one `bash` with `set -eo pipefail`,
`after_script` in another shell whose failure does not count, caches (key, paths,
`policy`, `when`) in a directory standing for the runner's cache, artifacts (`paths`,
`reports`, `when`) handed to later jobs through `needs` or, without it, from earlier
stages. Each job gets a fresh copy of the repository as its `CI_PROJECT_DIR`.

What it does not: images and services (jobs run on this machine, which has what the
image plus `scripts/bootstrap` would install), `include`, `parallel`, `trigger`.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RESERVED = {
    "stages", "variables", "workflow", "default", "include", "image", "services", "cache",
    "before_script", "after_script",
}  # fmt: skip


@dataclass(frozen=True)
class Reference:
    path: tuple[str, ...]


class _Loader(yaml.SafeLoader):
    pass


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> Reference:
    assert isinstance(node, yaml.SequenceNode)
    return Reference(tuple(str(loader.construct_scalar(n)) for n in node.value))  # type: ignore[arg-type]


_Loader.add_constructor("!reference", _reference)


def load(path: Path = ROOT / ".gitlab-ci.yml") -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


# ----------------------------------------------------------------------------- config


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _resolve_refs(value: Any, doc: Mapping[str, Any]) -> Any:
    if isinstance(value, Reference):
        target: Any = doc
        for part in value.path:
            target = target[part]
        return _resolve_refs(target, doc)
    if isinstance(value, dict):
        return {k: _resolve_refs(v, doc) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, doc) for v in value]
    return value


def _flatten(lines: Any) -> list[str]:
    if lines is None:
        return []
    if isinstance(lines, str):
        return [lines]
    out: list[str] = []
    for item in lines:
        out.extend(_flatten(item))
    return out


@dataclass
class Job:
    name: str
    spec: dict[str, Any]

    @property
    def stage(self) -> str:
        return str(self.spec.get("stage", "test"))

    def scripts(self, key: str) -> list[str]:
        return _flatten(self.spec.get(key))

    @property
    def needs(self) -> list[tuple[str, bool]] | None:
        needs = self.spec.get("needs")
        if needs is None:
            return None
        out = []
        for item in needs:
            if isinstance(item, str):
                out.append((item, True))
            else:
                out.append((item["job"], bool(item.get("artifacts", True))))
        return out

    def caches(self) -> list[dict[str, Any]]:
        cache = self.spec.get("cache") or []
        return [cache] if isinstance(cache, dict) else list(cache)


class Config:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.stages: list[str] = list(doc.get("stages") or ["build", "test", "deploy"])
        self.variables = _plain_variables(doc.get("variables") or {})
        self.jobs = {
            name: Job(name, self._resolve(name))
            for name in doc
            if name not in RESERVED and not name.startswith(".")
        }

    def _resolve(self, name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        if name in seen:
            raise ValueError(f"extends loop: {' -> '.join((*seen, name))}")
        raw = self.doc[name]
        parents = raw.get("extends") or []
        parents = [parents] if isinstance(parents, str) else parents
        merged: dict[str, Any] = {}
        for parent in parents:
            merged = _merge(merged, self._resolve(parent, (*seen, name)))
        merged = _merge(merged, {k: v for k, v in raw.items() if k != "extends"})
        return _resolve_refs(merged, self.doc)

    def workflow_allows(self, env: Mapping[str, str]) -> bool:
        rules = (self.doc.get("workflow") or {}).get("rules")
        if not rules:
            return True
        for rule in rules:
            if "if" not in rule or evaluate(rule["if"], env):
                return rule.get("when", "always") != "never"
        return False

    def pipeline(self, env: Mapping[str, str]) -> dict[str, str]:
        """Job name -> `when` for the jobs a pipeline with these variables holds."""
        if not self.workflow_allows(env):
            return {}
        out = {}
        for name, job in self.jobs.items():
            rules = job.spec.get("rules")
            if rules is None:
                out[name] = job.spec.get("when", "on_success")
                continue
            for rule in rules:
                if "if" not in rule or evaluate(rule["if"], env):
                    when = rule.get("when", job.spec.get("when", "on_success"))
                    if when != "never":
                        out[name] = when
                    break
        return out


def _plain_variables(variables: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v.get("value", "") if isinstance(v, dict) else v) for k, v in variables.items()}


# ----------------------------------------------------------------------------- rules:if

_TOKEN = re.compile(
    r'\s*(?:(?P<var>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)|"(?P<dq>[^"]*)"|\'(?P<sq>[^\']*)\''
    r"|(?P<op>==|!=|&&|\|\||\(|\))|(?P<null>null))"
)


def _tokens(expression: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"rules:if the harness cannot read: {expression!r} at {pos}")
        pos = match.end()
        if match.group("var"):
            out.append(("var", match.group("var").strip("${}")))
        elif match.group("dq") is not None or match.group("sq") is not None:
            value = match.group("dq") if match.group("dq") is not None else match.group("sq")
            out.append(("str", value))
        elif match.group("null"):
            out.append(("null", None))
        else:
            out.append(("op", match.group("op")))
    return out


def evaluate(expression: str, env: Mapping[str, str]) -> bool:
    """GitLab's `rules:if` for the forms used here; an unset variable is null."""
    tokens = _tokens(expression)
    pos = 0

    def value(token: tuple[str, str | None]) -> str | None:
        kind, text = token
        if kind == "var":
            return env.get(text or "")
        return text

    def primary() -> Any:
        nonlocal pos
        token = tokens[pos]
        pos += 1
        if token == ("op", "("):
            result = disjunction()
            assert tokens[pos] == ("op", ")"), expression
            pos += 1
            return result
        left = value(token)
        if pos < len(tokens) and tokens[pos] in (("op", "=="), ("op", "!=")):
            op = tokens[pos][1]
            right = value(tokens[pos + 1])
            pos += 2
            return (left == right) if op == "==" else (left != right)
        return bool(left)  # a bare variable: set and not empty

    def conjunction() -> bool:
        nonlocal pos
        result = primary()
        while pos < len(tokens) and tokens[pos] == ("op", "&&"):
            pos += 1
            result = primary() and result
        return result

    def disjunction() -> bool:
        nonlocal pos
        result = conjunction()
        while pos < len(tokens) and tokens[pos] == ("op", "||"):
            pos += 1
            result = conjunction() or result
        return result

    return bool(disjunction())


# ----------------------------------------------------------------------------- running

_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def expand(text: str, env: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1), ""), text)


def repository_files(root: Path = ROOT) -> list[str]:
    """What a clone holds: tracked files and new ones not ignored (the working tree)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    return [p for p in listed.split("\0") if p and (root / p).is_file()]


def fresh_checkout(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for rel in repository_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    return dest


@dataclass
class JobRun:
    name: str
    returncode: int
    output: str
    after_output: str
    project_dir: Path
    artifacts: Path
    missing_artifacts: list[str]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.returncode == 0


@dataclass
class Runner:
    """Runs jobs of one config, keeping the runner cache and each job's artifacts."""

    config: Config
    workspace: Path
    project_variables: dict[str, str] = field(default_factory=dict)
    runs: dict[str, JobRun] = field(default_factory=dict)
    pipeline_id: int = 1000

    @property
    def cache_dir(self) -> Path:
        return self.workspace / "runner-cache"

    def new_pipeline(self) -> None:
        self.pipeline_id += 1
        self.runs = {}

    def base_env(self, job: Job, project_dir: Path, source: str) -> dict[str, str]:
        keep = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ST_", "PYTEST_", "CI_", "GITLAB_", "SLO_", "ALERT_", "LOCUST_"))
            and k not in {"CI", "SPACETIME_JWT", "PUSHGATEWAY_URL", "COV_CORE_SOURCE"}
        }
        predefined = {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_PIPELINE_SOURCE": source,
            "CI_PROJECT_DIR": str(project_dir),
            "CI_PROJECT_ID": "4242",
            "CI_PROJECT_PATH": "spacetime/spacetime-probes",
            "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_BRANCH": "main",
            "CI_COMMIT_REF_NAME": "main",
            "CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
            "CI_COMMIT_SHORT_SHA": "01234567",
            "CI_PIPELINE_ID": str(self.pipeline_id),
            "CI_PIPELINE_URL": f"https://gitlab.example/p/-/pipelines/{self.pipeline_id}",
            "CI_JOB_NAME": job.name,
            "CI_JOB_STAGE": job.stage,
            "CI_API_V4_URL": "http://127.0.0.1:9/api/v4",
        }
        # The jobs activate "${SPACETIME_VENV:-.venv}" after scripts/bootstrap; on this
        # machine that is the clean environment the self-tests run in, made by the
        # same bootstrap (a job's fresh checkout has no .venv of its own).
        keep.setdefault("SPACETIME_VENV", sys.prefix)
        env = {**keep, **predefined}
        file_vars = {**self.config.variables, **_plain_variables(job.spec.get("variables") or {})}
        for key, value in file_vars.items():
            env[key] = expand(value, env)
        env.update(self.project_variables)  # project CI/CD variables win over the file's
        return env

    def run(self, name: str, source: str, extra: Mapping[str, str] | None = None) -> JobRun:
        job = self.config.jobs[name]
        started = time.monotonic()
        index = len(list(self.workspace.glob("job-*")))
        project_dir = fresh_checkout(self.workspace / f"job-{index:02d}-{name.replace(':', '_')}")
        env = self.base_env(job, project_dir, source)
        env.update(extra or {})
        self._fetch_artifacts(job, project_dir)
        caches = [self._cache_spec(c, env) for c in job.caches()]
        for key, paths, policy, _ in caches:
            if policy in ("pull", "pull-push"):
                self._restore_cache(key, paths, project_dir)
        script = job.scripts("before_script") + job.scripts("script")
        returncode, output = _bash(script, env, project_dir)
        _, after = _bash(job.scripts("after_script"), env, project_dir)
        for key, paths, policy, when in caches:
            if policy in ("push", "pull-push") and (when == "always" or returncode == 0):
                self._save_cache(key, paths, project_dir)
        artifacts, missing = self._collect_artifacts(job, env, project_dir, returncode)
        run = JobRun(
            name, returncode, output, after, project_dir, artifacts, missing,
            time.monotonic() - started,
        )  # fmt: skip
        self.runs[name] = run
        return run

    # caches -------------------------------------------------------------------

    @staticmethod
    def _cache_spec(cache: Mapping[str, Any], env: Mapping[str, str]):
        key = expand(str(cache.get("key", "default")), env)
        paths = [expand(p, env) for p in cache.get("paths", [])]
        return key, paths, cache.get("policy", "pull-push"), cache.get("when", "on_success")

    def _restore_cache(self, key: str, paths: Iterable[str], project_dir: Path) -> None:
        store = self.cache_dir / key
        for rel in paths:
            source = store / rel
            if source.is_dir():
                shutil.copytree(source, project_dir / rel, dirs_exist_ok=True)
            elif source.is_file():
                (project_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, project_dir / rel)

    def _save_cache(self, key: str, paths: Iterable[str], project_dir: Path) -> None:
        store = self.cache_dir / key
        for rel in paths:
            source = project_dir / rel
            if source.is_dir():
                shutil.copytree(source, store / rel, dirs_exist_ok=True)
            elif source.is_file():
                (store / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, store / rel)

    # artifacts ----------------------------------------------------------------

    def _collect_artifacts(
        self, job: Job, env: Mapping[str, str], project_dir: Path, returncode: int
    ) -> tuple[Path, list[str]]:
        spec = job.spec.get("artifacts") or {}
        out = project_dir.parent / f"{project_dir.name}.artifacts"
        out.mkdir(exist_ok=True)
        when = spec.get("when", "on_success")
        reports = [expand(str(p), env) for p in (spec.get("reports") or {}).values()]
        missing = []
        # GitLab uploads reports whatever the job's result; paths only as `when` says.
        wanted = reports + (
            [expand(str(p), env) for p in spec.get("paths", [])]
            if when == "always" or (when == "on_success") == (returncode == 0)
            else []
        )
        for rel in dict.fromkeys(wanted):
            source = project_dir / rel
            if source.is_dir():
                shutil.copytree(source, out / rel, dirs_exist_ok=True)
            elif source.is_file():
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, out / rel)
            else:
                missing.append(rel)
        return out, missing

    def _fetch_artifacts(self, job: Job, project_dir: Path) -> None:
        needs = job.needs
        if needs is None:
            stage = self.config.stages.index(job.stage)
            sources = [
                name
                for name, run in self.runs.items()
                if self.config.stages.index(self.config.jobs[name].stage) < stage
            ]
        else:
            sources = [name for name, artifacts in needs if artifacts and name in self.runs]
        for name in sources:
            shutil.copytree(self.runs[name].artifacts, project_dir, dirs_exist_ok=True)


def _bash(lines: list[str], env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    if not lines:
        return 0, ""
    body = ["set -eo pipefail", "set +o noclobber"]
    for line in lines:
        shown = line.splitlines()[0] if line.strip() else line
        body.append(f"printf '%s\\n' {shlex.quote('$ ' + shown)}")
        body.append(line)
    completed = subprocess.run(
        ["bash", "-c", "\n".join(body)],
        cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return completed.returncode, completed.stdout
