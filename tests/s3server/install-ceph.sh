#!/usr/bin/env bash
# Install the Debian packages that tests/s3server/ceph.sh needs (Ceph 16 on Debian 12, Ceph 18 on Debian 13):
# one monitor, one OSD and the RADOS Gateway, plus curl for the readiness probe.
# Idempotent and quiet: does nothing when everything is already installed.
set -euo pipefail

packages=(radosgw ceph-mon ceph-osd curl)

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [[ "$status" == "installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "install-ceph.sh: cần quyền root để cài: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt_install() {
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" \
        >"$log" 2>&1
}
# The package lists may be missing on a fresh machine: refresh once, then retry.
if ! apt_install; then
    if ! { apt-get update -q >>"$log" 2>&1 && apt_install; }; then
        echo "install-ceph.sh: apt-get install ${missing[*]} thất bại:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
fi
