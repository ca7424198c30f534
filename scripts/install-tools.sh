#!/usr/bin/env bash
# Project-local tools that are not Python packages. Idempotent; installs only what is missing.
# The dashboard: npm ci in web/ and Debian's chromium for its browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v git >/dev/null && command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq git curl >/dev/null; }

# The pinned Codex CLI (codex_cli backend): `npm ci` from the committed lock in tools/codex
# into .tools/codex, so the version and every tarball hash are exact. Skipped when the
# installed tree was built from the same lock (the stamp is the lock's sha256).
install_codex() {
  local src=tools/codex dest=.tools/codex
  local want have
  want=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
  have=$(cat "$dest/.lock-sha256" 2>/dev/null || true)
  if [[ "$want" == "$have" && -x "$dest/node_modules/.bin/codex" ]]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "install-tools: npm not found; the codex_cli backend will report the CLI as missing" >&2
    return 0
  fi
  echo "install-tools: installing the pinned Codex CLI into $dest" >&2
  mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  npm ci --prefix "$dest" --no-audit --no-fund --loglevel=error >&2
  echo "$want" >"$dest/.lock-sha256"
}
install_codex

# hive-confine, the launcher in front of every governed process (services/sandbox/native):
# built from our own C source into .tools/bin, static so it loads fast and works in any
# image. Rebuilt when the source changes (the stamp is its sha256).
install_confine() {
  local src=services/sandbox/native/hive-confine.c dest=.tools/bin/hive-confine
  local want have
  want=$(sha256sum "$src" | cut -d' ' -f1)
  have=$(cat "$dest.sha256" 2>/dev/null || true)
  if [[ "$want" == "$have" && -x "$dest" ]]; then
    return 0
  fi
  if ! command -v cc >/dev/null || [[ ! -e /usr/lib/x86_64-linux-gnu/libc.a && ! -e /usr/lib/aarch64-linux-gnu/libc.a ]]; then
    echo "install-tools: installing a C compiler for hive-confine" >&2
    apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null
  fi
  mkdir -p "$(dirname "$dest")"
  cc -O2 -Wall -Wextra -Werror -static -o "$dest.tmp" "$src"
  mv "$dest.tmp" "$dest"
  echo "$want" >"$dest.sha256"
}
install_confine

# The dashboard's dependencies: `npm ci` from web/package-lock.json (stamped like Codex).
install_web() {
  local want have
  want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  have=$(cat web/node_modules/.lock-sha256 2>/dev/null || true)
  if [[ "$want" == "$have" && -x web/node_modules/.bin/next ]]; then
    return 0
  fi
  command -v npm >/dev/null || { echo "install-tools: npm is required for the dashboard (web/)" >&2; exit 1; }
  echo "install-tools: npm ci in web/" >&2
  NEXT_TELEMETRY_DISABLED=1 npm ci --prefix web --no-audit --no-fund --loglevel=error >&2
  echo "$want" >web/node_modules/.lock-sha256
}
install_web

# Debian's Chromium for the dashboard's browser tests (driven by playwright-core; no browser
# download). Only when missing; CHROMIUM names another binary.
install_chromium() {
  [[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] && return 0
  command -v apt-get >/dev/null || { echo "install-tools: no apt-get; install chromium and set CHROMIUM" >&2; exit 1; }
  echo "install-tools: apt-get install chromium" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
install_chromium

# What only the tests need (`--test`: `make test-tools`, run by `make test`): podman for
# the container contract tests, and a local Kubernetes control plane. `--containers`:
# podman alone (`make images`).
# podman + runc (crun fails on this host's cgroup layout: infra/podman/containers.conf),
# debootstrap for the local base image. Debian's packages; installed only when missing.
install_container_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "install-tools: apt-get install ${missing[*]}" >&2
  apt-get update -qq
  # With recommends, as measured: podman's networking (CNI plugins, iptables) and the rest.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The control plane the Kubernetes tests run (tests/support/kube_cluster.py): etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and kwok, built from the Go
# module proxy with the wrapper module tools/kube-control-plane (its go.sum pins every
# module). kwok's stock stages (node-initialize, node-heartbeat-with-lease and the
# general pod lifecycle) are taken from the same verified kwok module. Rebuilt only
# when the recipe changes (the stamp hashes go.mod, go.sum, the etcd main and this
# function's flags).
install_kube_control_plane() {
  local src=tools/kube-control-plane dest=.tools/kube
  local go=go
  command -v go >/dev/null || go=/usr/local/go/bin/go
  [[ -x "$(command -v "$go")" ]] || {
    echo "install-tools: Go (1.26) not found; the Kubernetes tests need it" >&2; return 1; }
  local flags="-trimpath -ldflags=-s_-w CGO_ENABLED=0"
  local want have
  want=$(cat "$src/go.mod" "$src/go.sum" "$src/etcd/main.go" <(echo "$flags") | sha256sum | cut -d' ' -f1)
  have=$(cat "$dest/.stamp" 2>/dev/null || true)
  [[ "$want" == "$have" ]] && return 0
  echo "install-tools: building the Kubernetes control plane into $dest (cold: about 10 min)" >&2
  rm -rf "$dest" && mkdir -p "$dest/bin"
  local start=$SECONDS
  (
    cd "$src"
    export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false -mod=readonly"
    nice -n 10 "$go" build -ldflags='-s -w' -o "../../$dest/bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      sigs.k8s.io/kwok/cmd/kwok \
      ./etcd
    local kwok
    kwok=$("$go" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
    for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
        pod/general/pod-create pod/general/pod-init-container-running \
        pod/general/pod-init-container-completed pod/general/pod-ready \
        pod/general/pod-complete pod/general/pod-delete; do
      echo "---"
      cat "$kwok/kustomize/stage/$stage.yaml"
    done >"../../$dest/kwok-stages.yaml"
  )
  echo "install-tools: control plane built in $((SECONDS - start)) s" >&2
  echo "$want" >"$dest/.stamp"
}

# checkov (infra/checkov.yaml) in a venv of its own, from its hash-locked requirements;
# rebuilt when the lock changes.
install_checkov() {
  local src=tools/checkov/requirements.txt dest=.tools/checkov
  local uv=(${UV:-uv})
  command -v "${uv[0]}" >/dev/null || uv=(python3 -m uv)
  local want have
  want=$(sha256sum "$src" | cut -d' ' -f1)
  have=$(cat "$dest/.lock-sha256" 2>/dev/null || true)
  [[ "$want" == "$have" && -x "$dest/bin/checkov" ]] && return 0
  echo "install-tools: installing checkov into $dest" >&2
  rm -rf "$dest"
  "${uv[@]}" venv -q --python 3.11 "$dest"
  "${uv[@]}" pip sync -q --python "$dest/bin/python" --require-hashes "$src"
  echo "$want" >"$dest/.lock-sha256"
}

case "${1:-}" in
  --test)
    install_container_tools
    # The role images build (mostly downloads) while the control plane compiles (CPU):
    # the container tests rebuild them anyway, from podman's layer cache once done here.
    # A failure here is not fatal: the tests' own build reports it in full.
    mkdir -p .tools/images
    bash scripts/images.sh >.tools/images/prebuild.log 2>&1 &
    images=$!
    install_kube_control_plane
    install_checkov
    wait "$images" || echo "install-tools: image prebuild failed (.tools/images/prebuild.log)" >&2
    ;;
  --containers) install_container_tools ;;
  "") ;;
  *) echo "install-tools: unknown option $1" >&2; exit 2 ;;
esac
