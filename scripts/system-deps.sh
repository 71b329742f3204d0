#!/usr/bin/env bash
# Debian packages the test suite needs, installed when missing (as root; otherwise only reported):
#   postgresql     the PostgreSQL storage tests (a throw-away cluster, scripts/pg-cluster.sh)
#   chromium       the web COP browser tests (driven by Playwright, no browser download)
#   libpango-1.0-0 libpangoft2-1.0-0  WeasyPrint, for PDF reports
#   poppler-utils  pdftoppm, to check rendered report pages as images
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so' || missing+=(libpango-1.0-0)
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so' || missing+=(libpangoft2-1.0-0)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages (install them as root): ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
