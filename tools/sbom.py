#!/usr/bin/env python3
"""corelab's software bill of materials (CycloneDX 1.5 JSON), checked.

cargo-cyclonedx describes the `corelab` binary's Rust dependencies (normal dependencies of
corelab-cli for one target: what is linked into the binary). The web UI is bundled into that
binary's distribution too (ui/dist, served by `corelab serve`), so its npm runtime packages
(package-lock.json, dev packages excluded: esbuild and playwright build and test it, they are not
shipped) are added as components. With --binary the binary's SHA-256 is recorded on the
top-level component, tying the SBOM to one build.

Checks, each failing with what and where:
  - every Rust package `cargo tree` says the binary links is a component, and nothing else is;
  - every component has a licence, and every npm licence is on deny.toml's allow list (cargo deny
    checks the Rust ones);
  - every registry crate carries its SHA-256 from Cargo.lock.

Usage: tools/sbom.py --cyclonedx PATH --out PATH [--binary PATH] [--target TRIPLE]
"""

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fail(msg):
    print(f"sbom: {msg}", file=sys.stderr)
    sys.exit(1)


def allowed_licences():
    with open(os.path.join(ROOT, "deny.toml"), "rb") as f:
        return set(tomllib.load(f)["licenses"]["allow"])


def npm_components(allow):
    """The UI's shipped npm packages as CycloneDX components."""
    path = os.path.join(ROOT, "ui", "package-lock.json")
    with open(path) as f:
        lock = json.load(f)
    out = []
    for key, pkg in sorted(lock.get("packages", {}).items()):
        if not key or pkg.get("dev"):
            continue
        name = key.split("node_modules/")[-1]
        version = pkg.get("version")
        licence = pkg.get("license")
        if not version:
            fail(f"{path}: {key} has no version")
        if not licence:
            fail(f"{path}: {name}@{version} declares no licence")
        if licence not in allow:
            fail(f"{path}: {name}@{version} is licensed {licence!r}, not on deny.toml's allow list")
        comp = {
            "type": "library",
            "bom-ref": f"npm:{name}@{version}",
            "name": name,
            "version": version,
            "scope": "required",
            "licenses": [{"expression": licence}],
            "purl": f"pkg:npm/{name.replace('@', '%40')}@{version}",
        }
        integrity = pkg.get("integrity", "")
        if integrity.startswith("sha512-"):
            digest = base64.b64decode(integrity[len("sha512-"):]).hex()
            comp["hashes"] = [{"alg": "SHA-512", "content": digest}]
        out.append(comp)
    return out


def linked_crates(target):
    """(name, version) of every package the corelab binary links, by cargo tree."""
    cmd = [
        "cargo", "tree", "--locked", "-p", "corelab-cli", "-e", "normal",
        "--target", target, "--prefix", "none", "--format", "{p}",
    ]
    text = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    found = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("v"):
            found.add((parts[0], parts[1][1:]))
    return found


def lock_checksums():
    with open(os.path.join(ROOT, "Cargo.lock"), "rb") as f:
        lock = tomllib.load(f)
    return {(p["name"], p["version"]): p.get("checksum") for p in lock["package"]}


def relative_refs(bom):
    """Absolute workspace paths in bom-refs and purls become repository-relative, so the SBOM
    does not depend on where the checkout lies."""
    prefix = "path+file://" + ROOT + "/"
    text = json.dumps(bom).replace(prefix, "path+file:")
    return json.loads(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cyclonedx", required=True, help="cargo-cyclonedx's output for the binary")
    ap.add_argument("--out", required=True)
    ap.add_argument("--binary", help="the built binary, whose SHA-256 is recorded")
    ap.add_argument("--target", default="x86_64-unknown-linux-gnu")
    a = ap.parse_args()

    with open(a.cyclonedx) as f:
        bom = relative_refs(json.load(f))
    allow = allowed_licences()
    comps = bom.get("components", [])

    # Rust: exactly what the binary links, each with a licence and Cargo.lock's checksum.
    linked = linked_crates(a.target)
    top = bom["metadata"]["component"]
    in_bom = {(c["name"], c["version"]) for c in comps} | {("corelab-cli", top["version"])}
    missing = sorted(linked - in_bom)
    if missing:
        fail(f"{a.cyclonedx}: linked but not in the SBOM: {missing[:10]} ({len(missing)} in all)")
    # cargo-cyclonedx resolves features as for the whole workspace (cargo metadata), so it also
    # lists crates that only another member's features pull in (image's AVIF encoder, say);
    # `cargo build -p corelab-cli` does not link them, so they are not in what we ship.
    unlinked = {c["bom-ref"] for c in comps if (c["name"], c["version"]) not in linked}
    comps = [c for c in comps if c["bom-ref"] not in unlinked]
    bom["dependencies"] = [
        dict(d, dependsOn=[r for r in d.get("dependsOn", []) if r not in unlinked])
        for d in bom.get("dependencies", [])
        if d.get("ref") not in unlinked
    ]
    sums = lock_checksums()
    for c in comps:
        if not c.get("licenses"):
            fail(f"{a.cyclonedx}: {c['name']}@{c['version']} has no licence")
        want = sums.get((c["name"], c["version"]))
        if want:
            got = [h["content"] for h in c.get("hashes", []) if h.get("alg") == "SHA-256"]
            if got != [want]:
                fail(f"{a.cyclonedx}: {c['name']}@{c['version']}: hash {got} is not Cargo.lock's {want}")

    npm = npm_components(allow)
    comps.extend(npm)
    bom["components"] = comps
    deps = bom.setdefault("dependencies", [])
    for d in deps:
        if d.get("ref") == top.get("bom-ref"):
            d.setdefault("dependsOn", []).extend(c["bom-ref"] for c in npm)

    if a.binary:
        with open(a.binary, "rb") as f:
            top["hashes"] = [{"alg": "SHA-256", "content": hashlib.sha256(f.read()).hexdigest()}]

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(bom, f, indent=1, sort_keys=True)
        f.write("\n")
    print(
        f"sbom: {a.out}: {len(comps) - len(npm)} Rust crates and {len(npm)} npm packages, "
        f"every one licensed" + (f"; binary sha256 {top['hashes'][0]['content'][:16]}…" if a.binary else "")
    )


if __name__ == "__main__":
    main()
