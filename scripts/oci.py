#!/usr/bin/env python3
"""Package the filter as an OCI image layout that Istio and Envoy Gateway can pull (`make oci`).

The image follows the "compat" variant of the Wasm image specification (solo-io/wasm,
spec/spec-compat.md), the format both Istio's and Envoy Gateway's image fetchers try first: an
ordinary OCI image whose single layer (application/vnd.oci.image.layer.v1.tar+gzip) is a tar
holding `plugin.wasm`, with the manifest annotation `module.wasm.image/variant: compat`. The
"oci" variant (a raw application/vnd.module.wasm.content.layer.v1+wasm layer) is accepted by
Envoy Gateway only with exactly two layers, so compat is the one format both accept, and any
registry stores it.

No Docker engine is needed: Python's standard library only. The output is deterministic (fixed
mtimes, owners and modes, gzip without a name or time stamp, sorted JSON), so the same .wasm gives
the same manifest digest; pin the image by that digest (`@sha256:...`, or Istio's and Envoy
Gateway's `sha256` field).

    python3 scripts/oci.py --wasm target/wasm32-wasip1/release/jwt_authn_wasm.wasm \
        --out target/oci/jwt-authn-wasm [--version 0.1.0, default: Cargo.toml's]

Push the layout with any OCI tool, for example
    oras cp --from-oci-layout target/oci/jwt-authn-wasm:0.1.0 REGISTRY/jwt-authn-wasm:0.1.0
    skopeo copy oci:target/oci/jwt-authn-wasm:0.1.0 docker://REGISTRY/jwt-authn-wasm:0.1.0
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layer_tar(wasm: bytes) -> bytes:
    """An uncompressed tar with the single member `plugin.wasm`, byte-for-byte reproducible."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("plugin.wasm")
        info.size = len(wasm)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(wasm))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build(wasm: bytes, version: str):
    """Returns (blobs by digest, manifest bytes, index bytes)."""
    tar = layer_tar(wasm)
    layer = gzip_bytes(tar)
    config = canonical(
        {
            "architecture": "wasm",
            "os": "wasip1",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
        }
    )
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": MEDIA_LAYER, "digest": sha256(layer), "size": len(layer)}],
            "annotations": {
                "module.wasm.image/variant": "compat",
                "org.opencontainers.image.title": "jwt-authn-wasm",
                "org.opencontainers.image.version": version,
                "org.opencontainers.image.description": "JWT authentication filter for Envoy (proxy-wasm)",
                "org.opencontainers.image.licenses": "Apache-2.0",
            },
        }
    )
    index = canonical(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [
                {
                    "mediaType": MEDIA_MANIFEST,
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": version},
                }
            ],
        }
    )
    blobs = {sha256(b): b for b in (layer, config, manifest)}
    return blobs, manifest, index


def write_layout(out: str, blobs, index: bytes):
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "blobs", "sha256"))
    with open(os.path.join(out, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(index)
    for digest, data in blobs.items():
        with open(os.path.join(out, "blobs", "sha256", digest.split(":", 1)[1]), "wb") as f:
            f.write(data)


def cargo_version(path=os.path.join(os.path.dirname(__file__), "..", "Cargo.toml")) -> str:
    """The `version` of the [package] section of Cargo.toml."""
    section = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[package]" and line.startswith("version") and "=" in line:
                return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit("oci.py: no [package] version in Cargo.toml")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wasm", required=True, help="the filter's .wasm")
    parser.add_argument("--version", help="the image tag (default: the version in Cargo.toml)")
    parser.add_argument("--out", required=True, help="the OCI layout directory to (re)create")
    args = parser.parse_args(argv)
    if not args.version:
        args.version = cargo_version()
    with open(args.wasm, "rb") as f:
        wasm = f.read()
    if not wasm.startswith(b"\0asm"):
        print(f"oci.py: {args.wasm} is not a WebAssembly module", file=sys.stderr)
        return 1
    blobs, manifest, index = build(wasm, args.version)
    write_layout(args.out, blobs, index)
    print(f"OCI image layout {args.out} (tag {args.version})")
    print(f"  plugin.wasm {sha256(wasm)} ({len(wasm)} bytes)")
    print(f"  manifest    {sha256(manifest)}")
    print(f"push: oras cp --from-oci-layout {args.out}:{args.version} REGISTRY/jwt-authn-wasm:{args.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
