"""The named faults: the single source of truth for what the server can break.

Every probe is proven twice: it passes against the conforming server and fails
against the fault built to defeat it. A fault's ``family`` names the probe
family that exists to catch it (the same names as the results format's
``family`` field), so the fault-matrix self-test knows which failure to expect.
``--list-faults`` prints this table; the code consults it through
``Settings.has(name)``, which refuses names that are not registered here.
A fault belongs to one server ``mode`` (``spacetime`` or ``vtt``, the VTT
health API of ``refserver/vtt.py``); naming it in the other mode is a usage error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FAMILIES = (
    "auth",
    "rate_limit",
    "latency",
    "traversal",
    "contract",
    "health",
    "performance",
    "health_api",
    "metrics",
)
MODES = ("spacetime", "vtt")


@dataclass(frozen=True)
class Fault:
    """One way to break the contract; ``description`` says what a probe will see."""

    name: str
    family: str
    description: str
    mode: str = "spacetime"  # the server mode (``--mode``) the fault belongs to


class UnknownFault(ValueError):
    """A fault name that is not in the registry (a usage error, exit status 2)."""


_CATALOGUE: tuple[Fault, ...] = (
    # auth
    Fault("auth-open-route", "auth", "GET /jobs forgets auth: 200 with no or any token"),
    Fault(
        "auth-skip-signature",
        "auth",
        "checks claims and the HS256 alg header but not the signature",
    ),
    Fault(
        "auth-alg-none",
        "auth",
        'rejects only the exact alg "none": None/NONE/nOnE with any or no signature pass',
    ),
    Fault("auth-ignore-exp", "auth", "does not check exp or nbf"),
    Fault("auth-no-challenge", "auth", "401 without the WWW-Authenticate header"),
    Fault(
        "auth-leaky-401",
        "auth",
        "the 401 for GET /performance carries the performance document (debug leftover)",
    ),
    Fault("auth-403", "auth", "403 instead of 401 when a bearer token is present but invalid"),
    Fault(
        "auth-any-scheme",
        "auth",
        "takes whatever follows the first space as the token (Token/Basic accepted)",
    ),
    Fault("auth-trust-jwk", "auth", "verifies with the key in the token's own jwk header"),
    Fault(
        "auth-key-url-fail-open",
        "auth",
        "a token naming a jku/x5u key URL skips the signature when the key fetch fails",
    ),
    Fault(
        "auth-kid-path",
        "auth",
        "reads kid as a file path under the key dir: ../../dev/null gives the empty key",
    ),
    Fault(
        "auth-kid-sql",
        "auth",
        "looks kid up in SQL built by string formatting: x' UNION SELECT 'key'-- picks 'key'",
    ),
    Fault(
        "auth-alg-from-header",
        "auth",
        "HMACs with the hash the header's alg names: HS384, RS256/ES256, hs256, no alg pass",
    ),
    Fault(
        "auth-fallback-keys",
        "auth",
        "half-done key rotation: tokens signed with the empty key or 'secret' also pass",
    ),
    Fault(
        "auth-lax-claim-types",
        "auth",
        "exp/nbf that are strings, booleans, 1e400 or missing are coerced or skipped",
    ),
    Fault("auth-ignore-crit", "auth", "a crit header naming an unknown extension is ignored"),
    Fault(
        "auth-lax-base64",
        "auth",
        "PyJWT's leniency: padded segments and the standard +/ alphabet decode and pass",
    ),
    Fault(
        "auth-token-in-query",
        "auth",
        "with no Authorization header, takes access_token/token/jwt from the query or a cookie",
    ),
    Fault(
        "auth-first-authorization-header",
        "auth",
        "of several Authorization headers uses the first instead of refusing them",
    ),
    Fault("auth-long-token-500", "auth", "a token over 4 KiB raises in the verifier: 500"),
    # The claim rules below exist only when configured: each fault needs its option
    # (the issuer is on by default), and naming one without it is a usage error.
    Fault(
        "auth-ignore-issuer",
        "auth",
        "iss minted but never checked: another or no iss passes (needs an issuer, the default;"
        " not with --no-issuer)",
    ),
    Fault(
        "auth-ignore-audience",
        "auth",
        "aud minted but never checked: another or no aud passes (needs --audience)",
    ),
    Fault(
        "auth-ignore-lifetime",
        "auth",
        "max lifetime never enforced: exp - iat above it passes (needs --max-token-lifetime)",
    ),
    # rate_limit
    Fault("ratelimit-503", "rate_limit", "over the limit answers 503 without Retry-After (nginx)"),
    Fault("ratelimit-none", "rate_limit", "no rate limiting at all"),
    Fault("ratelimit-no-retry-after", "rate_limit", "429 without a Retry-After header"),
    Fault(
        "ratelimit-retry-after-lies",
        "rate_limit",
        "says Retry-After: 1 but blocks the client for 5 s after its latest 429",
    ),
    Fault(
        "ratelimit-trust-xff",
        "rate_limit",
        "keys the bucket by X-Forwarded-For whenever present (a fake header resets it)",
    ),
    Fault(
        "ratelimit-trust-client-headers",
        "rate_limit",
        "keys the bucket by X-Real-IP, True-Client-IP, CF-Connecting-IP or Forwarded if sent",
    ),
    Fault(
        "ratelimit-per-token",
        "rate_limit",
        "one bucket per Authorization value: any new bearer string gets a full burst",
    ),
    Fault(
        "ratelimit-per-route",
        "rate_limit",
        "one bucket per client and route: another endpoint has a full burst",
    ),
    Fault(
        "ratelimit-per-connection",
        "rate_limit",
        "keys the bucket by peer address and port: every new connection gets a full burst",
    ),
    Fault(
        "ratelimit-after-auth",
        "rate_limit",
        "limit checked after auth: requests failing auth never count and never get 429",
    ),
    Fault("ratelimit-loose", "rate_limit", "enforces 3x the configured burst"),
    # latency
    Fault("latency-slow-all", "latency", "+300 ms on every API request"),
    Fault(
        "latency-tail",
        "latency",
        "every 7th authenticated GET per endpoint gets +700 ms (p95 breach, good mean)",
    ),
    Fault("latency-slow-endpoint", "latency", "GET /scene/history only: +250 ms"),
    Fault(
        "latency-stall",
        "latency",
        "the whole API stalls 1 s every 3 s (REFSERVER_STALL_S / REFSERVER_STALL_PERIOD_S)",
    ),
    Fault("latency-slow-write", "latency", "POST /scene and POST /scene/reload: +400 ms"),
    # traversal
    Fault(
        "traversal-blocklist",
        "traversal",
        "only the seed's check (res://, no '..', .tscn suffix) on the percent-decoded path",
    ),
    Fault(
        "traversal-validate-before-decode",
        "traversal",
        "allowlist (with '%' allowed) on the raw string, percent-decoded afterwards to load",
    ),
    Fault(
        "traversal-single-decode",
        "traversal",
        "decodes once, applies the seed's check, the loader decodes again (double encoding)",
    ),
    Fault(
        "traversal-no-nfkc",
        "traversal",
        "seed's check on the percent-decoded path, NFKC only in the loader (fullwidth dots)",
    ),
    Fault(
        "traversal-slash-only-check",
        "traversal",
        "rejects only '../' and '/..'; the loader treats backslash as a separator",
    ),
    Fault(
        "traversal-crash-500",
        "traversal",
        "conforming, but bytes that are not UTF-8 after decoding raise: 500",
    ),
    Fault(
        "traversal-exists-first",
        "traversal",
        "looks the scene up before validating: any unknown path gets 404, invalid or not",
    ),
    Fault(
        "traversal-put-unchecked",
        "traversal",
        "PUT /scene applies only the seed's check to the raw string (POST conforming)",
    ),
    Fault(
        "traversal-no-length-limit",
        "traversal",
        "no 256-character limit: over-long paths get 404 instead of 400",
    ),
    Fault(
        "traversal-contains-ext",
        "traversal",
        "checks '.tscn' in path instead of the suffix: lobby.tscn.bak passes and gets 404",
    ),
    Fault(
        "traversal-percent25-detector",
        "traversal",
        "rejects '%25' as double encoding, decodes once, '%' allowed; the loader decodes again",
    ),
    Fault(
        "traversal-strip-control",
        "traversal",
        "rejects '.'/'..' segments by name, tolerates control bytes; the loader strips them",
    ),
    Fault(
        "traversal-lenient-overlong",
        "traversal",
        "refuses 2-4 byte overlongs only; the loader's RFC 2279 decoder maps %f8.., %c0%qf",
    ),
    Fault(
        "traversal-iis-percent-u",
        "traversal",
        "a '%' left after decoding is allowed; the loader decodes IIS %uXXXX (private use -> '/')",
    ),
    Fault(
        "traversal-wildcard-glob",
        "traversal",
        "allows '?'/'*' and rejects '..' by name; the loader globs, so '.?' and '??' match '..'",
    ),
    Fault(
        "traversal-textual-hex",
        "traversal",
        "rejects '.'/'..' segments by name only; the loader unescapes 0xHH text (.0x2e -> ..)",
    ),
    Fault(
        "traversal-dot-names-only",
        "traversal",
        "rejects only the segments '.' and '..' by name: '..2f..', '...', '.git' get 404",
    ),
    Fault(
        "traversal-trim-dots",
        "traversal",
        "Win32-normalises before checking (trailing dots/spaces trimmed, '.' dropped): 200",
    ),
    Fault(
        "traversal-wrapper-scheme",
        "traversal",
        "accepts any scheme://...tscn without '..'; the loader follows php://filter, zip://",
    ),
    Fault(
        "traversal-drive-relative",
        "traversal",
        "allows ':' and '()' in segments; the loader reads c:name as drive-relative (its root)",
    ),
    Fault(
        "traversal-duplicate-key-last",
        "traversal",
        "of duplicate scene_path keys the validator reads the first, the loader the last",
    ),
    Fault(
        "traversal-query-override",
        "traversal",
        "validates the body's scene_path, loads the ?scene_path= query value when present",
    ),
    Fault(
        "traversal-json-escape-scan",
        "traversal",
        "allowlist on the JSON text as written (\\ allowed); loads the parsed value (\\u002e: .)",
    ),
    Fault(
        "traversal-lenient-body",
        "traversal",
        "checks strict application/json only; BOM, text/plain and form bodies load unchecked",
    ),
    Fault(
        "traversal-nonstring-500",
        "traversal",
        "no type check on scene_path: an array, object, number or null raises, 500",
    ),
    # contract
    Fault("contract-text-plain", "contract", "GET /scenes answers JSON as text/plain"),
    Fault(
        "contract-missing-field",
        "contract",
        "/performance omits engine.nodes_in_use and cache.eviction_count",
    ),
    Fault("contract-wrong-type", "contract", '/jobs queue_length is the string "0"'),
    Fault("contract-history-shape", "contract", "/scene/history entries lack duration_ms"),
    Fault(
        "contract-error-body",
        "contract",
        "error responses carry a text/plain body like 'Unauthorized' instead of JSON",
    ),
    # health
    Fault(
        "health-200-when-unhealthy",
        "health",
        "manager reports overall_healthy false with a blocking issue but answers 200",
    ),
    Fault(
        "health-503-no-issues",
        "health",
        "manager reports unhealthy with 503 but an empty blocking_issues",
    ),
    Fault(
        "health-healthy-503",
        "health",
        "manager answers 503 while overall_healthy is true and blocking_issues empty",
    ),
    Fault("health-status-bad-state", "health", "/status language_server.state is 7"),
    Fault("health-status-missing-service", "health", "/status lacks language_server"),
    # performance
    Fault("perf-low-fps", "performance", "engine.fps 42.0 (critical)"),
    Fault("perf-vr-comfort-fps", "performance", "engine.fps 84.0 (high)"),
    Fault("perf-high-memory", "performance", "static_memory_usage 11 GiB (high)"),
    Fault("perf-memory-exhaustion", "performance", "static_memory_usage 12.5 GiB (critical)"),
    Fault("perf-cache-cold", "performance", "cache hit_rate 0.35, miss_rate 0.65 (medium)"),
    # --mode vtt: the VTT health contract (seed 004)
    Fault(
        "vtt-ready-200-when-unhealthy",
        "health_api",
        "database check fails (unhealthy) but /api/health/ready answers 200 ready",
        "vtt",
    ),
    Fault(
        "vtt-live-fails-on-critical",
        "health_api",
        "database check fails and /api/health/live answers 503 (liveness tied to a dependency)",
        "vtt",
    ),
    Fault(
        "vtt-status-inconsistent",
        "health_api",
        "database check fails but /api/health says status healthy (200)",
        "vtt",
    ),
    Fault(
        "vtt-unhealthy-200",
        "health_api",
        "database check fails, status unhealthy, but /api/health answers 200",
        "vtt",
    ),
    Fault(
        "vtt-health-slow",
        "health_api",
        "/api/health takes 2.2 s and reports the database check at 2200 ms (> 2 s warning)",
        "vtt",
    ),
    Fault("vtt-schema-missing-version", "health_api", "/api/health lacks version", "vtt"),
    # --mode vtt: the Prometheus exposition (seeds 002, 003, 004)
    Fault(
        "metrics-not-prometheus-text",
        "metrics",
        "/api/metrics/prometheus answers the JSON metrics document (application/json)",
        "vtt",
    ),
    Fault(
        "metrics-counter-reset",
        "metrics",
        "every scrape resets http_requests_total to 0 (delta exposition, StatsD-style flush)",
        "vtt",
    ),
    Fault(
        "metrics-missing-family",
        "metrics",
        "http_request_duration_seconds is observed but never registered: absent from scrapes",
        "vtt",
    ),
    Fault(
        "metrics-histogram-no-inf",
        "metrics",
        'the exposition drops the le="+Inf" bucket lines of every histogram',
        "vtt",
    ),
    Fault(
        "metrics-high-5xx",
        "metrics",
        "two of every three GET /api/metrics answer 500 (5xx ratio > 10 % of the traffic)",
        "vtt",
    ),
    Fault(
        "metrics-slow-p95",
        "metrics",
        "every 2nd GET /api/metrics takes +1.2 s (histogram p95 > 1 s over the traffic)",
        "vtt",
    ),
)

FAULTS: dict[str, Fault] = {fault.name: fault for fault in _CATALOGUE}


def parse_faults(names: Iterable[str]) -> frozenset[str]:
    """Turn user-given names into a validated set; blanks are ignored.

    Raises ``UnknownFault`` with a one-line message listing the valid names,
    because a typo must not silently start a conforming server.
    """
    chosen: set[str] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in FAULTS:
            raise UnknownFault(f"unknown fault {name!r} (valid: {', '.join(FAULTS)})")
        chosen.add(name)
    return frozenset(chosen)


def catalogue_lines() -> list[str]:
    """``NAME<TAB>FAMILY<TAB>description<TAB>MODE`` lines, in catalogue order (``--list-faults``).

    The mode is last so a reader of the first three columns keeps working.
    """
    return [f"{f.name}\t{f.family}\t{f.description}\t{f.mode}" for f in _CATALOGUE]
