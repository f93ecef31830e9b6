#!/usr/bin/env python3
"""Checks what users deploy: docker-compose.yaml, deploy/, the OCI image and the version.

    python3 scripts/check_deploy.py [--strict] [SECTION ...]

Sections (all by default): compose, envoy, k8s, oci, version. Each prints what it checked. Without
--strict a check whose tool is missing (the schemas that `make check-deploy` installs with npm,
Envoy, the built .wasm, skopeo, umoci) is skipped with a SKIP line; with --strict (`make
check-deploy`) a missing tool is a failure, except skopeo and umoci, which are optional extras.
Needs PyYAML and jsonschema (the machine's Python has them; `make check-deploy` makes a venv
otherwise). Exit status 0 when every check that ran passed.

Environment: ENVOY_BIN (default .venv/bin/envoy), JWT_AUTHN_WASM (default the release build),
DEPLOY_TOOLS (default target/deploy-tools: node_modules with the schemas).
"""

import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import oci  # noqa: E402  (scripts/oci.py)

WASM_DEFAULT = "target/wasm32-wasip1/release/jwt_authn_wasm.wasm"


class Checker:
    def __init__(self, strict):
        self.strict = strict
        self.failures = []

    def ok(self, message):
        print(f"ok    {message}")

    def fail(self, message):
        print(f"FAIL  {message}")
        self.failures.append(message)

    def check(self, condition, message):
        (self.ok if condition else self.fail)(message)
        return condition

    def skip(self, message):
        if self.strict:
            self.fail(f"(strict) {message}")
        else:
            print(f"SKIP  {message} (`make check-deploy` runs it)")


def path(*parts):
    return os.path.join(ROOT, *parts)


def load_yaml(rel):
    with open(path(rel), encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml_all(rel):
    with open(path(rel), encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def cargo_version():
    return oci.cargo_version(path("Cargo.toml"))


def makefile_envoy_version():
    with open(path("Makefile"), encoding="utf-8") as f:
        m = re.search(r"^ENVOY_VERSION\s*:=\s*(\S+)", f.read(), re.M)
    return m.group(1) if m else None


def envoy_bin():
    return os.environ.get("ENVOY_BIN") or path(".venv/bin/envoy")


def wasm_file():
    return os.environ.get("JWT_AUTHN_WASM") or path(WASM_DEFAULT)


def tools_dir():
    return os.environ.get("DEPLOY_TOOLS") or path("target/deploy-tools")


# ---------------------------------------------------------------------------------------------
# Envoy configuration helpers


def listeners(cfg):
    return cfg["static_resources"]["listeners"]


def clusters(cfg):
    return {c["name"]: c for c in cfg["static_resources"]["clusters"]}


def socket(addr):
    s = addr["socket_address"]
    return s["address"], int(s["port_value"])


def cluster_endpoints(cluster):
    out = []
    for ep in cluster["load_assignment"]["endpoints"]:
        for lb in ep["lb_endpoints"]:
            out.append(socket(lb["endpoint"]["address"]))
    return out


def wasm_filter(cfg):
    for listener in listeners(cfg):
        for chain in listener["filter_chains"]:
            for flt in chain["filters"]:
                hcm = flt.get("typed_config", {})
                for http_filter in hcm.get("http_filters", []):
                    if http_filter["name"] == "envoy.filters.http.wasm":
                        return listener, http_filter["typed_config"]["config"]
    raise AssertionError("no envoy.filters.http.wasm filter")


def plugin_configuration(cfg):
    _, wasm = wasm_filter(cfg)
    return json.loads(wasm["configuration"]["value"])


def tcp_proxy_targets(cfg):
    """listener port -> (address, port) of the cluster its tcp_proxy forwards to."""
    cl = clusters(cfg)
    out = {}
    for listener in listeners(cfg):
        _, port = socket(listener["address"])
        flt = listener["filter_chains"][0]["filters"][0]
        assert flt["name"] == "envoy.filters.network.tcp_proxy", flt["name"]
        (target,) = cluster_endpoints(cl[flt["typed_config"]["cluster"]])
        out[port] = target
    return out


# ---------------------------------------------------------------------------------------------
# compose


def parse_port(spec):
    """'127.0.0.1:10000:20000' -> ('127.0.0.1', 10000, 20000)."""
    parts = str(spec).split(":")
    if len(parts) == 3:
        return parts[0], int(parts[1]), int(parts[2])
    if len(parts) == 2:
        return "", int(parts[0]), int(parts[1])
    raise ValueError(spec)


def flag(command, name):
    return command[command.index(name) + 1] if name in command else None


def mounts(service):
    """container target -> host source (relative to the repository)."""
    out = {}
    for v in service.get("volumes", []):
        if isinstance(v, str):
            source, target = v.split(":")[:2]
        else:
            source, target = v["source"], v["target"]
        out[target] = os.path.normpath(source)
    return out


def section_compose(c):
    compose = load_yaml("docker-compose.yaml")
    services = compose["services"]

    # The Compose specification's schema (compose-spec's schema/compose-spec.json), as the npm
    # package dclint ships it; dclint itself then lints for errors (its style warnings are ignored).
    dclint = os.path.join(tools_dir(), "node_modules/dclint")
    schema_file = os.path.join(dclint, "schemas/compose.schema.json")
    if os.path.exists(schema_file):
        import jsonschema

        with open(schema_file, encoding="utf-8") as f:
            schema = json.load(f)
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
        for e in errors:
            c.fail(f"compose schema: {'/'.join(map(str, e.path))}: {e.message}")
        with open(os.path.join(dclint, "package.json"), encoding="utf-8") as f:
            dclint_version = json.load(f)["version"]
        c.check(not errors, f"docker-compose.yaml is valid against the Compose specification's JSON schema (from dclint {dclint_version})")
        r = subprocess.run(
            ["node", os.path.join(dclint, "bin/dclint.cjs"), "--quiet", path("docker-compose.yaml")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        c.check(r.returncode == 0, "dclint finds no errors in docker-compose.yaml")
        if r.returncode != 0:
            print(r.stdout[-3000:] + r.stderr[-1000:])
    else:
        c.skip("Compose specification schema (npm dclint) not installed")

    # Every file compose mounts or builds from exists.
    for name, svc in services.items():
        for target, source in mounts(svc).items():
            if source == WASM_DEFAULT:
                if os.path.exists(path(source)):
                    c.ok(f"{name}: mounted {source} exists")
                elif c.strict:
                    c.fail(f"{name}: {source} missing (run make build)")
                else:
                    print(f"SKIP  {name}: {source} not built yet (make build)")
                continue
            c.check(os.path.isfile(path(source)), f"{name}: mounted {source} exists")
        build = svc.get("build")
        if build:
            context = build["context"] if isinstance(build, dict) else build
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
            c.check(os.path.isdir(path(context)), f"{name}: build context {context} exists")
            c.check(os.path.isfile(path(dockerfile)), f"{name}: {dockerfile} exists")
            check_dockerfile(c, dockerfile)

    # Envoy images: the version the tests use.
    envoy_version = makefile_envoy_version()
    for name in ("edge", "envoy"):
        c.check(
            services[name]["image"] == f"envoyproxy/envoy:v{envoy_version}",
            f"{name}: image envoyproxy/envoy:v{envoy_version} (Makefile ENVOY_VERSION)",
        )

    # One network namespace, owned by edge.
    for name in ("mock-idp", "echo", "envoy"):
        c.check(services[name].get("network_mode") == "service:edge", f"{name}: shares edge's network namespace")
        c.check("ports" not in services[name], f"{name}: publishes no ports of its own (edge does)")

    # The Envoy service loads the top-level envoy.yaml and the .wasm at the path it names.
    svc = services["envoy"]
    workdir = svc["working_dir"]
    m = mounts(svc)
    config_arg = flag(svc["command"], "-c")
    config_target = os.path.normpath(os.path.join(workdir, config_arg))
    c.check(m.get(config_target) == "envoy.yaml", f"envoy: -c {config_arg} (in {workdir}) is the top-level envoy.yaml")
    top = load_yaml("envoy.yaml")
    _, wasm = wasm_filter(top)
    filename = wasm["vm_config"]["code"]["local"]["filename"]
    wasm_target = os.path.normpath(os.path.join(workdir, filename))
    c.check(m.get(wasm_target) == WASM_DEFAULT, f"envoy: envoy.yaml's {filename} resolves to the mounted {WASM_DEFAULT}")
    edge_svc = services["edge"]
    edge_target = flag(edge_svc["command"], "-c")
    c.check(mounts(edge_svc).get(edge_target) == "deploy/compose/edge.yaml", "edge: -c is deploy/compose/edge.yaml")

    # Ports: host port = the port of envoy.yaml (so `make run`'s curl commands work), container
    # port = an edge listener that forwards to that loopback port.
    edge = load_yaml("deploy/compose/edge.yaml")
    forwards = tcp_proxy_targets(edge)
    (ingress,) = [l for l in listeners(top) if l is wasm_filter(top)[0]]
    ingress_addr, ingress_port = socket(ingress["address"])
    _, admin_port = socket(top["admin"]["address"])
    top_clusters = clusters(top)
    config = plugin_configuration(top)
    idp_cluster = config["providers"][0]["remote_jwks"]["http_uri"]["cluster"]
    ((idp_addr, idp_port),) = cluster_endpoints(top_clusters[idp_cluster])
    routes = ingress["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    upstream = routes["virtual_hosts"][0]["routes"][0]["route"]["cluster"]
    ((echo_addr, echo_port),) = cluster_endpoints(top_clusters[upstream])
    wanted = {ingress_port: "the filter's listener", idp_port: "the mock identity provider", admin_port: "the admin interface"}
    published = {}
    for spec in edge_svc["ports"]:
        host_ip, host_port, container_port = parse_port(spec)
        published[host_port] = container_port
        c.check(host_ip == "127.0.0.1", f"edge: {spec} is published on the host's loopback only")
        target = forwards.get(container_port)
        c.check(target == ("127.0.0.1", host_port), f"edge: host {host_port} -> edge :{container_port} -> {target}")
    for port, what in wanted.items():
        c.check(port in published, f"{what} (127.0.0.1:{port} in envoy.yaml) is published on host port {port}")
    c.check(ingress_addr == idp_addr == echo_addr == "127.0.0.1", "envoy.yaml: listener and clusters on 127.0.0.1 (the shared namespace)")
    for port in forwards:
        c.check(port not in (ingress_port, idp_port, admin_port, echo_port), f"edge: listener :{port} does not collide with the demo's ports")
    _, edge_admin = socket(edge["admin"]["address"])
    c.check(edge_admin not in (ingress_port, idp_port, admin_port, echo_port, *forwards), f"edge: admin :{edge_admin} collides with nothing")

    # The testbed processes listen where envoy.yaml's clusters point, with the plugin's issuer.
    idp_cmd = services["mock-idp"]["command"]
    provider = config["providers"][0]
    c.check(int(flag(idp_cmd, "--port")) == idp_port, f"mock-idp: --port {idp_port} = envoy.yaml cluster {idp_cluster}")
    c.check(flag(idp_cmd, "--issuer") == provider["issuer"], f"mock-idp: --issuer {provider['issuer']} = the provider's issuer")
    if provider.get("audiences"):
        c.check(flag(idp_cmd, "--audience") in provider["audiences"], "mock-idp: --audience is one the provider accepts")
    health = services["mock-idp"]["healthcheck"]["test"]
    c.check(flag(health, "--url") == f"http://127.0.0.1:{idp_port}", "mock-idp: the health check mints from the provider's port")
    c.check(int(flag(services["echo"]["command"], "--port")) == echo_port, f"echo: --port {echo_port} = envoy.yaml cluster {upstream}")
    c.check(
        services["envoy"]["depends_on"]["mock-idp"]["condition"] == "service_healthy",
        "envoy: starts once the mock provider is healthy (its first JWKS fetch succeeds)",
    )


def check_dockerfile(c, dockerfile):
    with open(path(dockerfile), encoding="utf-8") as f:
        text = f.read()
    c.check("cargo build --release --locked -p testbed --bins" in text, f"{dockerfile}: builds the testbed binaries (locked)")
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    c.check(len(stages) >= 2, f"{dockerfile}: multi-stage ({', '.join(stages)})")
    for binary in ("mock-idp", "echo-upstream"):
        c.check(os.path.isfile(path("testbed/src/bin", binary + ".rs")), f"{dockerfile}: binary {binary} exists in testbed")
    with open(path(".dockerignore"), encoding="utf-8") as f:
        ignored = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    for needed in ("Cargo.toml", "Cargo.lock", "src", "testbed"):
        c.check(needed not in ignored and os.path.exists(path(needed)), f".dockerignore keeps {needed} in the build context")
    c.check("target" in ignored, ".dockerignore leaves target/ out of the build context")


# ---------------------------------------------------------------------------------------------
# envoy: Envoy itself validates the compose layout, the edge, and the plugin configurations of
# the Kubernetes manifests (the plugin's on_configure runs in validate mode).


def run_validate(envoy, config_path, cwd):
    return subprocess.run(
        [envoy, "--mode", "validate", "-c", config_path, "-l", "info"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def section_envoy(c):
    envoy, wasm = envoy_bin(), wasm_file()
    if not os.path.exists(envoy):
        c.skip(f"Envoy not found at {envoy}")
        return
    if not os.path.exists(wasm):
        c.skip(f"the filter is not built ({wasm})")
        return
    compose = load_yaml("docker-compose.yaml")
    svc = compose["services"]["envoy"]
    version = cargo_version()
    with tempfile.TemporaryDirectory() as root:
        # Recreate the envoy container's mounts under a scratch root and validate from its
        # working directory, as the container runs it.
        for target, source in mounts(svc).items():
            dest = os.path.join(root, target.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(wasm if source == WASM_DEFAULT else path(source), dest)
        cwd = os.path.join(root, svc["working_dir"].lstrip("/"))
        r = run_validate(envoy, flag(svc["command"], "-c"), cwd)
        out = r.stdout + r.stderr
        c.check(r.returncode == 0 and "OK" in out, "envoy --mode validate: the compose envoy container's layout (envoy.yaml + mounted .wasm)")
        c.check(
            f"jwt-authn-wasm {version} starting" in out,
            f"the plugin logs `jwt-authn-wasm {version} starting` (Cargo.toml version) at VM start",
        )
        if r.returncode != 0:
            print(out[-3000:])
    r = run_validate(envoy, path("deploy/compose/edge.yaml"), ROOT)
    c.check(r.returncode == 0, "envoy --mode validate: deploy/compose/edge.yaml")
    if r.returncode != 0:
        print((r.stdout + r.stderr)[-3000:])

    for label, config in k8s_plugin_configs():
        check_plugin_config(c, envoy, wasm, label, config)


def check_plugin_config(c, envoy, wasm, label, config):
    """Runs `config` through the plugin's configuration check inside Envoy: a copy of envoy.yaml
    with this configuration and a stub cluster for every cluster it names."""
    cfg = load_yaml("envoy.yaml")
    _, wasm_cfg = wasm_filter(cfg)
    wasm_cfg["vm_config"]["code"]["local"]["filename"] = wasm
    wasm_cfg["configuration"]["value"] = json.dumps(config)
    stub = clusters(cfg)["idp"]
    for provider in config["providers"]:
        name = provider["remote_jwks"]["http_uri"]["cluster"]
        if name not in clusters(cfg):
            extra = copy.deepcopy(stub)
            extra["name"] = name
            extra["load_assignment"]["cluster_name"] = name
            cfg["static_resources"]["clusters"].append(extra)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(cfg, f)
        tmp = f.name
    try:
        r = run_validate(envoy, tmp, ROOT)
    finally:
        os.unlink(tmp)
    c.check(r.returncode == 0, f"the plugin accepts the configuration in {label}")
    if r.returncode != 0:
        print("\n".join(l for l in (r.stdout + r.stderr).splitlines() if "jwt-authn-wasm" in l or "error" in l)[-3000:])


# ---------------------------------------------------------------------------------------------
# k8s


def k8s_objects():
    out = []
    for f in sorted(glob.glob(path("deploy/istio/*.yaml")) + glob.glob(path("deploy/envoy-gateway/*.yaml"))):
        rel = os.path.relpath(f, ROOT)
        out.extend({"file": rel, "object": d} for d in load_yaml_all(rel))
    return out


def find_in(objects, kind):
    """(file, object) of every object of this kind."""
    return [(o["file"], o["object"]) for o in objects if o["object"]["kind"] == kind]


def istio_route_names(objects):
    """Envoy route names Istio gives VirtualService http entries: `name`, or `name.match name`."""
    names = []
    for vs in find(objects, "VirtualService"):
        for http in vs["spec"].get("http", []):
            if not http.get("name"):
                continue
            matches = http.get("match") or [{}]
            for m in matches:
                names.append(f"{http['name']}.{m['name']}" if m.get("name") else http["name"])
    return names


def gateway_route_names(objects, targets):
    """Envoy route names Envoy Gateway gives the rules of the targeted HTTPRoutes."""
    names = []
    for route in find(objects, "HTTPRoute"):
        if route["metadata"]["name"] not in targets:
            continue
        ns = route["metadata"].get("namespace", "default")
        hosts = [h.replace(".", "_") for h in route["spec"].get("hostnames", ["*"])]
        for i, rule in enumerate(route["spec"]["rules"]):
            for j, _ in enumerate(rule.get("matches") or [{}]):
                names.extend(f"httproute/{ns}/{route['metadata']['name']}/rule/{i}/match/{j}/{h}" for h in hosts)
    return names


def find(objects, kind):
    return [o["object"] for o in objects if o["object"]["kind"] == kind]


def k8s_plugin_configs():
    objects = k8s_objects()
    out = []
    for file, wp in find_in(objects, "WasmPlugin"):
        out.append((f"{file} {wp['metadata']['name']} (pluginConfig)", wp["spec"]["pluginConfig"]))
    for file, eep in find_in(objects, "EnvoyExtensionPolicy"):
        for w in eep["spec"]["wasm"]:
            out.append((f"{file} (config)", w["config"]))
    return out


def section_k8s(c):
    objects = k8s_objects()
    for o in objects:
        obj = o["object"]
        body = "data" if obj.get("kind") == "ConfigMap" else "spec"
        c.check(
            all(k in obj for k in ("apiVersion", "kind", "metadata", body)) and obj["metadata"].get("name"),
            f"{o['file']}: {obj.get('kind')} has apiVersion, kind, metadata.name and {body}",
        )

    # The stats_tags that label the filter's metrics: the same in both manifests as in envoy.yaml.
    tags = load_yaml("envoy.yaml")["stats_config"]["stats_tags"]
    (istio_tags,) = [o for o in find(objects, "ConfigMap") if o["metadata"]["name"] == "jwt-authn-stats-tags"]
    shipped = json.loads(istio_tags["data"]["custom_bootstrap.json"])["stats_config"]["stats_tags"]
    c.check(shipped == tags, "Istio bootstrap override (stats-tags.yaml): stats_tags equal envoy.yaml's")
    (proxy,) = find(objects, "EnvoyProxy")
    c.check(proxy["spec"]["bootstrap"]["type"] == "Merge", "EnvoyProxy: bootstrap merged, not replaced")
    shipped = yaml.safe_load(proxy["spec"]["bootstrap"]["value"])["stats_config"]["stats_tags"]
    c.check(shipped == tags, "EnvoyProxy (envoyproxy.yaml): stats_tags equal envoy.yaml's")

    node = shutil.which("node")
    modules = os.path.join(tools_dir(), "node_modules")
    schema_kinds = {"WasmPlugin", "ServiceEntry", "DestinationRule", "VirtualService", "HTTPRoute", "BackendTLSPolicy"}
    if node and os.path.isdir(os.path.join(modules, "@kubernetes-models")):
        todo = [o for o in objects if o["object"]["kind"] in schema_kinds]
        r = subprocess.run(
            [node, path("deploy/tools/validate-k8s.mjs")],
            input=json.dumps(todo),
            capture_output=True,
            text=True,
            env={**os.environ, "NODE_PATH": modules},
            timeout=120,
        )
        for line in r.stdout.splitlines():
            c.check(line.startswith("valid "), f"CRD schema: {line}")
        c.check(r.returncode == 0, "Istio and Gateway API objects valid against their CRD schemas (@kubernetes-models)")
        if r.returncode != 0:
            print(r.stderr[-2000:])
    else:
        c.skip("CRD schemas (@kubernetes-models/istio, gateway-api) not installed")
    print("note  Envoy Gateway's Backend and EnvoyExtensionPolicy: no published schema installable here; checked field by field below")

    root_id = wasm_filter(load_yaml("envoy.yaml"))[1]["root_id"]
    version = cargo_version()

    # Istio: the plugin's cluster is the ServiceEntry's, named outbound|port||host, with TLS.
    (se,) = find(objects, "ServiceEntry")
    (dr,) = find(objects, "DestinationRule")
    route_names = istio_route_names(objects)
    for file, wp in find_in(objects, "WasmPlugin"):
        spec = wp["spec"]
        label = f"WasmPlugin {wp['metadata']['name']} ({file})"
        c.check(spec["phase"] == "AUTHN", f"{label}: phase AUTHN")
        c.check(spec.get("pluginName") == root_id, f"{label}: pluginName = the plugin's root id {root_id}")
        c.check(spec["url"].startswith("oci://") and spec["url"].endswith(f":{version}"), f"{label}: url is an oci:// image tagged {version}")
        c.check(spec.get("failStrategy", "FAIL_CLOSE") == "FAIL_CLOSE", f"{label}: fails closed")
        c.check(bool(spec.get("selector", {}).get("matchLabels")) or bool(spec.get("targetRefs")), f"{label}: selects its workloads")
        for provider in spec["pluginConfig"]["providers"]:
            http_uri = provider["remote_jwks"]["http_uri"]
            host = re.match(r"https?://([^/:]+)", http_uri["uri"]).group(1)
            c.check(host in se["spec"]["hosts"], f"ServiceEntry: hosts include the JWKS host {host}")
            port = next(p["number"] for p in se["spec"]["ports"])
            c.check(http_uri["cluster"] == f"outbound|{port}||{host}", f"{label}: cluster {http_uri['cluster']} = Istio's name for ServiceEntry {host}:{port}")
            tls = [s for s in dr["spec"]["trafficPolicy"]["portLevelSettings"] if s["port"]["number"] == port]
            c.check(dr["spec"]["host"] == host and tls and tls[0]["tls"]["mode"] == "SIMPLE", f"DestinationRule: TLS origination to {host}:{port}")
        for route in spec["pluginConfig"].get("requirement_map", {}):
            c.check(route in route_names, f"{label}: requirement_map route {route} is the Envoy route name of a VirtualService http entry {route_names}")
    c.check(not se["spec"].get("exportTo") or "*" in se["spec"]["exportTo"], "ServiceEntry: exported to every namespace, so the gateway's plugin has its cluster")

    # Envoy Gateway: required fields, and the cluster name of the route that uses the Backend.
    (eep,) = find(objects, "EnvoyExtensionPolicy")
    c.check(eep["apiVersion"] == "gateway.envoyproxy.io/v1alpha1", "EnvoyExtensionPolicy: gateway.envoyproxy.io/v1alpha1")
    refs = eep["spec"].get("targetRefs") or []
    c.check(bool(refs) and all({"group", "kind", "name"} <= set(r) for r in refs), "EnvoyExtensionPolicy: targetRefs with group, kind, name")
    (backend,) = find(objects, "Backend")
    c.check(backend["apiVersion"] == "gateway.envoyproxy.io/v1alpha1", "Backend: gateway.envoyproxy.io/v1alpha1")
    (endpoint,) = backend["spec"]["endpoints"]
    fqdn = endpoint["fqdn"]
    c.check(isinstance(fqdn.get("hostname"), str) and isinstance(fqdn.get("port"), int), "Backend: endpoints[0].fqdn has hostname and port")
    known_wasm = {"name", "rootID", "code", "config", "failOpen", "env"}
    for w in eep["spec"]["wasm"]:
        c.check(set(w) <= known_wasm, f"EnvoyExtensionPolicy: wasm fields {sorted(w)} are all known")
        c.check(w["code"]["type"] == "Image" and "image" in w["code"] and w["code"]["image"]["url"], "EnvoyExtensionPolicy: code.type Image with image.url")
        c.check(w["code"]["image"]["url"].endswith(f":{version}") and "://" not in w["code"]["image"]["url"], f"EnvoyExtensionPolicy: image reference tagged {version}, no scheme")
        c.check(w.get("rootID") == root_id, f"EnvoyExtensionPolicy: rootID = the plugin's root id {root_id}")
        c.check(w.get("failOpen") is False, "EnvoyExtensionPolicy: fails closed")
        targets = {r["name"] for r in refs if r["kind"] == "HTTPRoute"}
        generated = gateway_route_names(objects, targets)
        for route in w["config"].get("requirement_map", {}):
            c.check(route in generated, f"EnvoyExtensionPolicy: requirement_map route {route} is a route Envoy Gateway generates for {sorted(targets)} {generated}")
        for provider in w["config"]["providers"]:
            http_uri = provider["remote_jwks"]["http_uri"]
            host = re.match(r"https?://([^/:]+)", http_uri["uri"]).group(1)
            c.check(host == fqdn["hostname"], f"Backend: hostname is the JWKS host {host}")
            names = []
            for route in find(objects, "HTTPRoute"):
                ns = route["metadata"].get("namespace", "default")
                for i, rule in enumerate(route["spec"]["rules"]):
                    if any(b.get("kind") == "Backend" and b["name"] == backend["metadata"]["name"] for b in rule.get("backendRefs", [])):
                        names.append(f"httproute/{ns}/{route['metadata']['name']}/rule/{i}")
            c.check(http_uri["cluster"] in names, f"EnvoyExtensionPolicy: cluster {http_uri['cluster']} is the cluster of a route rule using Backend {backend['metadata']['name']} {names}")
    (btp,) = find(objects, "BackendTLSPolicy")
    c.check(
        any(r["kind"] == "Backend" and r["name"] == backend["metadata"]["name"] for r in btp["spec"]["targetRefs"])
        and btp["spec"]["validation"]["hostname"] == fqdn["hostname"],
        "BackendTLSPolicy: TLS to the Backend, verified for its host name",
    )


# ---------------------------------------------------------------------------------------------
# oci


def section_oci(c):
    wasm_path = wasm_file()
    if not os.path.exists(wasm_path):
        c.skip(f"the filter is not built ({wasm_path})")
        return
    with open(wasm_path, "rb") as f:
        wasm = f.read()
    version = cargo_version()
    with tempfile.TemporaryDirectory() as tmp:
        digests = []
        for n in ("a", "b"):
            out = os.path.join(tmp, n)
            subprocess.run([sys.executable, path("scripts/oci.py"), "--wasm", wasm_path, "--out", out], check=True, capture_output=True)
            with open(os.path.join(out, "index.json"), "rb") as f:
                digests.append(json.load(f)["manifests"][0]["digest"])
        c.check(digests[0] == digests[1], f"scripts/oci.py is reproducible (manifest {digests[0]} twice)")
        layout = os.path.join(tmp, "a")
        check_layout(c, layout, wasm, version)
        skopeo = shutil.which("skopeo")
        if skopeo:
            r = subprocess.run([skopeo, "inspect", "--raw", f"oci:{layout}:{version}"], capture_output=True, text=True)
            c.check(r.returncode == 0 and oci.sha256(r.stdout.encode()) == digests[0], "skopeo reads the layout and finds the same manifest")
        else:
            print("note  skopeo not installed: layout not read by a second tool (apt-get install skopeo)")
        umoci = shutil.which("umoci")
        if umoci:
            rootfs = os.path.join(tmp, "rootfs")
            r = subprocess.run([umoci, "raw", "unpack", "--rootless", "--image", f"{layout}:{version}", rootfs], capture_output=True, text=True)
            unpacked = os.path.join(rootfs, "plugin.wasm")
            same = r.returncode == 0 and os.path.exists(unpacked) and open(unpacked, "rb").read() == wasm
            c.check(same, "umoci unpacks the image to exactly plugin.wasm = the built filter")
        else:
            print("note  umoci not installed: layout not unpacked by a second tool (apt-get install umoci)")


def check_layout(c, layout, wasm, version):
    def blob(digest):
        algo, hexdigest = digest.split(":")
        with open(os.path.join(layout, "blobs", algo, hexdigest), "rb") as f:
            data = f.read()
        c.check(oci.sha256(data) == digest, f"blob {digest[:19]}... matches its digest")
        return data

    with open(os.path.join(layout, "oci-layout"), encoding="utf-8") as f:
        c.check(json.load(f) == {"imageLayoutVersion": "1.0.0"}, "oci-layout: imageLayoutVersion 1.0.0")
    with open(os.path.join(layout, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    (desc,) = index["manifests"]
    c.check(desc["mediaType"] == oci.MEDIA_MANIFEST, "index.json: one image manifest")
    c.check(desc["annotations"]["org.opencontainers.image.ref.name"] == version, f"index.json: tagged {version}")
    manifest_bytes = blob(desc["digest"])
    c.check(len(manifest_bytes) == desc["size"], "index.json: manifest size")
    manifest = json.loads(manifest_bytes)
    c.check(manifest["annotations"].get("module.wasm.image/variant") == "compat", "manifest: annotation module.wasm.image/variant=compat")
    (layer,) = manifest["layers"]
    c.check(layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip", "manifest: exactly one tar+gzip layer")
    layer_bytes = blob(layer["digest"])
    config_bytes = blob(manifest["config"]["digest"])
    c.check(len(layer_bytes) == layer["size"] and len(config_bytes) == manifest["config"]["size"], "manifest: blob sizes")
    import gzip
    import io

    tar_bytes = gzip.decompress(layer_bytes)
    config = json.loads(config_bytes)
    c.check(config["rootfs"]["diff_ids"] == [oci.sha256(tar_bytes)], "config: rootfs.diff_ids is the uncompressed layer's digest")
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        members = tar.getmembers()
        c.check([m.name for m in members] == ["plugin.wasm"], "layer: a tar holding only plugin.wasm")
        c.check(tar.extractfile(members[0]).read() == wasm, "layer: plugin.wasm is byte for byte the built filter")


# ---------------------------------------------------------------------------------------------
# version


def section_version(c):
    version = cargo_version()
    c.check(re.fullmatch(r"\d+\.\d+\.\d+", version) is not None, f"Cargo.toml: version {version}")
    with open(path("CHANGELOG.md"), encoding="utf-8") as f:
        changelog = f.read()
    c.check("Keep a Changelog" in changelog, "CHANGELOG.md follows Keep a Changelog")
    c.check(re.search(rf"^## \[{re.escape(version)}\]", changelog, re.M) is not None, f"CHANGELOG.md has a section for {version}")
    with open(path("src/host/root.rs"), encoding="utf-8") as f:
        c.check('"jwt-authn-wasm {} starting", env!("CARGO_PKG_VERSION")' in f.read(), "the plugin logs its Cargo version at VM start (src/host/root.rs)")


SECTIONS = {
    "compose": section_compose,
    "envoy": section_envoy,
    "k8s": section_k8s,
    "oci": section_oci,
    "version": section_version,
}


def main(argv):
    strict = "--strict" in argv
    names = [a for a in argv if not a.startswith("--")] or list(SECTIONS)
    c = Checker(strict)
    for name in names:
        print(f"== {name}")
        try:
            SECTIONS[name](c)
        except Exception as e:  # a malformed file is a failed check, not a crash
            c.fail(f"{name}: {type(e).__name__}: {e}")
    print(f"check-deploy: {len(c.failures)} failed" if c.failures else "check-deploy: all checks passed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
