#!/usr/bin/env bash
# A Debian 12 base image with Python 3.11, made locally for machines that reach no
# container registry: `debootstrap` (Debian's package) of a minimal bookworm root from
# the Debian mirror, imported with `podman import`. Prints the image name.
#
# The Dockerfile's stages need only what the public python:3.11-slim-bookworm image
# also has: python3.11 at /usr/local/bin (a link to Debian's), its venv module, CA
# certificates, apt. Cached: the tag carries the sha256 of this script, so an existing
# image is reused until the recipe changes.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/infra/podman/containers.conf}"
MIRROR="${HIVE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY="${HIVE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
stamp=$(sha256sum "$0" | cut -c1-12)
image="localhost/openhive/base:bookworm-$stamp"

if podman image exists "$image"; then
    echo "$image"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/openhive-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
echo "local-base-image: debootstrap bookworm into $root" >&2
nice -n 10 debootstrap --variant=minbase \
    --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

# Same suites as the public image (security updates included), one file per suite set.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# The public image's interpreter path, so the Dockerfile names one Python for both bases.
for name in python3.11 python3 python; do
    ln -sf /usr/bin/python3.11 "$root/usr/local/bin/$name"
done
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb

echo "local-base-image: importing as $image" >&2
tar -C "$root" --numeric-owner -c . | podman import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$image" >/dev/null
echo "$image"
