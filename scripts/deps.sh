#!/bin/sh
# Installs the Debian packages mod_jklg needs to build, test and run, if any
# is missing. Idempotent; one dpkg-query when everything is there.
set -eu

PACKAGES="
apache2 apache2-dev apache2-utils libaprutil1-dbd-pgsql
libjansson-dev libsodium-dev libcurl4-openssl-dev libpq-dev libcrypt-dev
libcrack2-dev cracklib-runtime libssl-dev
pkg-config check
postgresql postgresql-client
python3 python3-pytest python3-requests python3-psycopg2 python3-aiosmtpd
python3-stripe python3-cryptography python3-jsonschema python3-yaml
redis-server redis-tools
chromium chromium-driver python3-selenium
"
[ "${JKLG_BENCH:-}" ] && PACKAGES="$PACKAGES wrk"
# make deb: Debian's packaging tools; make deb-test: a Debian root to try it in.
[ "${JKLG_DEB:-}" ] && PACKAGES="$PACKAGES dpkg-dev debhelper lintian"
[ "${JKLG_DEB_TEST:-}" ] && PACKAGES="$PACKAGES debootstrap util-linux iproute2 curl"

# One dpkg-query for all: packages it does not know are reported on stderr.
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $PACKAGES 2>/dev/null \
            | awk '$1 == "ii" { print $2 }')
missing=$(for p in $PACKAGES; do
              echo "$installed" | grep -qx "$p" || echo "$p"
          done)

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "mod_jklg needs these Debian packages, which are not installed:" >&2
    echo "  $missing" | tr '\n' ' ' >&2; echo >&2
    echo "Run 'sudo make deps' (or apt-get install them), then try again." >&2
    exit 1
fi

# apt's own progress stays visible (a first install takes minutes), its
# chatter does not: one line per package fetched and set up.
echo "Installing $(echo $missing | wc -w) Debian packages: $(echo $missing)"
export DEBIAN_FRONTEND=noninteractive
echo "apt-get update ..."
apt-get update -qq
apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 $missing \
    | grep -E '^(Get:|Setting up|E:)' || true
dpkg-query -W -f='${db:Status-Abbrev}\n' $missing 2>/dev/null | grep -qv '^ii' \
    && { echo "deps: some packages did not install (see apt's messages above)" >&2; exit 1; }
echo "Dependencies installed."
