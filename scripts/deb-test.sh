#!/bin/bash
# make deb-test: installs build/deb/libapache2-mod-jklg_*.deb with apt in a
# clean Debian 12 root and checks that it works there: a2enmod, configtest,
# jklg-migrate against a PostgreSQL of that root, Apache serving
# /api/health with 200 and a registration whose mail lands in the spool,
# the example site refused by configtest while its placeholders (CHANGE)
# are left and accepted once filled in, then removal and purge leaving
# Apache's configuration valid.
#
# build/deb-root/base   debootstrap of bookworm (minbase), made once, kept
# build/deb-root/run    a fresh copy of base for each run
# build/deb-root/apt-archives   .debs apt downloaded, reused by later runs
# build/deb-root/deb-test.log   this run's log
#
# Every mount and process lives in private mount and PID namespaces
# (unshare): when a phase ends, fails or is interrupted, the kernel kills
# what it started (Apache, PostgreSQL) and drops its mounts. The check runs
# in its own network namespace too, so its ports never meet the host's.
#
# The mirror is the host's Debian mirror (apt's configuration) unless
# JKLG_DEB_MIRROR says otherwise; without either, http://deb.debian.org/debian.
set -euo pipefail

suite=bookworm
package=libapache2-mod-jklg
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build/deb-root
base=$dir/base
run=$dir/run
archives=$dir/apt-archives
log=$dir/deb-test.log

in_root() {
    chroot "$run" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive "$@"
}

t0=${DEB_TEST_T0:-$(date +%s)}
step() { printf '\n[deb-test %4ss] %s\n' $(( $(date +%s) - t0 )) "$*"; }
fail() { echo "deb-test: FAILED: $*" >&2; exit 1; }

# /proc of the namespace, a pseudo-terminal instance for apt and dpkg, and
# /dev/shm for PostgreSQL; all vanish with the mount namespace.
mount_root() {
    mount -t proc proc "$run/proc"
    mkdir -p "$run/dev/pts" "$run/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$run/dev/pts"
    mount -t tmpfs -o mode=1777 tmpfs "$run/dev/shm"
}

# --- phase 1, in its own mount and PID namespace: apt install ----------------

install_phase() {
    local deb_name=$1
    mount_root
    mount --bind "$archives" "$run/var/cache/apt/archives"

    step "apt-get update (in the root)"
    in_root apt-get -q update

    step "apt-get install ./$deb_name (dependencies from the mirror, recommends as an operator gets them)"
    in_root apt-get -q -y install "/tmp/$deb_name"

    step "apt-get install postgresql (the test's database server)"
    in_root apt-get -q -y --no-install-recommends install postgresql

    step "installed"
    in_root dpkg-query -W -f='  ${Package} ${Version} ${db:Status-Abbrev}\n' \
        "$package" apache2 apache2-bin libaprutil1-dbd-pgsql postgresql-client cracklib-runtime
    in_root dpkg -L "$package" | grep -E '^/(etc|usr/bin|usr/lib)/|/sql/0' | sed 's/^/  /'
}

# --- phase 2, in its own mount, PID and network namespaces: does it work ----

check_phase() {
    local pgver pw
    ip link set lo up
    mount_root
    mount -t tmpfs -o mode=755 tmpfs "$run/run"
    mkdir -p "$run/run/lock"
    trap stop_services EXIT
    # The host's name means nothing in here; say which name to use.
    echo 'ServerName localhost' > "$run/etc/apache2/conf-available/servername.conf"
    in_root a2enconf -q servername

    pgver=$(ls "$run/etc/postgresql")
    pw=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')

    step "PostgreSQL $pgver: start, role and database jklg"
    in_root install -d -o postgres -g postgres -m 2775 /run/postgresql
    in_root pg_ctlcluster "$pgver" main start
    in_root runuser -u postgres -- psql -X -q -c "CREATE ROLE jklg LOGIN PASSWORD '$pw'"
    in_root runuser -u postgres -- createdb -O jklg jklg

    step "jklg-migrate (twice: the second run has nothing to do)"
    in_root jklg-migrate "postgres://jklg:$pw@127.0.0.1/jklg"
    in_root jklg-migrate "postgres://jklg:$pw@127.0.0.1/jklg"

    step "a2enmod jklg (enables its dependencies dbd and socache_shmcb)"
    in_root a2enmod jklg
    step "apache2ctl configtest: module enabled, no site using it yet"
    in_root apache2ctl configtest

    step "a test site on 127.0.0.1:8080 with the example's required directives"
    head -c 48 /dev/urandom | base64 > "$run/etc/apache2/jklg-test-jwt.key"
    in_root chown root:www-data /etc/apache2/jklg-test-jwt.key
    in_root chmod 640 /etc/apache2/jklg-test-jwt.key
    in_root install -d -o www-data -g www-data -m 750 /var/spool/jklg
    cat > "$run/etc/apache2/sites-available/jklg-test.conf" <<EOF
Listen 127.0.0.1:8080
DBDriver pgsql
DBDParams "host=127.0.0.1 port=5432 dbname=jklg user=jklg password=$pw connect_timeout=3 keepalives=1"
<VirtualHost 127.0.0.1:8080>
    ServerName jklg.test
    JKLGPublicURL https://www.jklg.test
    JKLGJWTKey t1 file:/etc/apache2/jklg-test-jwt.key
    JKLGMailFrom "JKLG test <noreply@jklg.test>"
    JKLGMailSpool /var/spool/jklg
    <Location /api>
        SetHandler jklg
    </Location>
</VirtualHost>
EOF
    sed 's/password=[^ ]*/password=.../; s/^/  /' "$run/etc/apache2/sites-available/jklg-test.conf"
    in_root a2ensite jklg-test
    in_root apache2ctl configtest

    step "apache2ctl start"
    in_root apache2ctl start
    local code='' body=$run/tmp/health.json i
    for i in $(seq 1 60); do
        code=$(curl -s -o "$body" -w '%{http_code}' http://127.0.0.1:8080/api/health || true)
        [ "$code" = 200 ] && break
        sleep 0.5
    done
    step "GET /api/health -> $code"
    cat "$body"; echo
    [ "$code" = 200 ] || { tail -n 20 "$run/var/log/apache2/error.log"; fail "health answered '$code', not 200"; }
    grep -q '"status": *"ok"' "$body" || fail "health is not {\"status\":\"ok\"}"

    step "POST /api/customers/register -> a verification mail in the spool"
    code=$(curl -s -o "$run/tmp/register.json" -w '%{http_code}' \
        -H 'Content-Type: application/json' http://127.0.0.1:8080/api/customers/register \
        -d '{"email": "ana@example.com", "password": "Lisbon-in-May-2027", "first_name": "Ana", "last_name": "Silva"}' || true)
    echo "  HTTP $code: $(cat "$run/tmp/register.json")"
    case $code in 2??) ;; *) tail -n 20 "$run/var/log/apache2/error.log"; fail "register answered $code" ;; esac
    for i in $(seq 1 40); do
        ls "$run"/var/spool/jklg/*.eml >/dev/null 2>&1 && break
        sleep 0.5
    done
    ls "$run"/var/spool/jklg/*.eml >/dev/null 2>&1 || fail "no mail in /var/spool/jklg"
    grep -h '^Subject:' "$run"/var/spool/jklg/*.eml | sed 's/^/  /'
    if grep -qE '\[jklg:(error|crit|alert|emerg)\]' "$run/var/log/apache2/error.log"; then
        grep -E '\[jklg:' "$run/var/log/apache2/error.log" | tail -n 10
        fail "mod_jklg logged errors"
    fi

    step "apache2ctl stop; PostgreSQL stop"
    stop_services
    trap - EXIT

    example_site_phase "$pw"

    step "apt-get remove, the example site enabled: Apache's configuration stays valid"
    in_root apt-get -q -y remove "$package"
    [ ! -e "$run/etc/apache2/mods-enabled/jklg.load" ] || fail "jklg.load still enabled after remove"
    [ ! -e "$run/etc/apache2/sites-enabled/jklg.conf" ] || fail "site jklg still enabled after remove"
    in_root apache2ctl configtest
    step "apt-get purge: no file of the package left"
    in_root apt-get -q -y purge "$package"
    local left
    left=$(find "$run/etc/apache2" "$run/usr/share/$package" "$run/usr/bin/jklg-migrate" \
                "$run/usr/lib/apache2/modules/mod_jklg.so" -name '*jklg*' 2>/dev/null \
           | grep -v jklg-test || true)
    [ -z "$left" ] || fail "left after purge: $left"
}

# The example site as the package installs it, enabled by an admin with
# the files it reads made as the README says: configtest must refuse it
# while a placeholder (the word CHANGE) is left, naming DBDParams' password
# with file and line, and pass once each is filled in.
example_site_phase() {
    local pw=$1 out conf=/etc/apache2/sites-available/jklg.conf f
    step "the example site with its placeholders left: configtest refuses, naming each"
    in_root a2dissite jklg-test
    in_root a2ensite jklg
    head -c 48 /dev/urandom | base64 > "$run/etc/apache2/jklg-jwt-2026.key"
    echo sk_test_debtest > "$run/etc/apache2/jklg-stripe.key"
    echo whsec_debtest > "$run/etc/apache2/jklg-whsec.key"
    # As the README has the admin make it (openssl rand -base64 32).
    head -c 32 /dev/urandom | base64 > "$run/etc/apache2/jklg-mfa.key"
    for f in jklg-jwt-2026.key jklg-stripe.key jklg-whsec.key jklg-mfa.key; do
        in_root chmod 600 "/etc/apache2/$f"
    done
    echo "export JKLG_SMTP_PASSWORD='deb-test'" >> "$run/etc/apache2/envvars"
    if out=$(in_root apache2ctl configtest 2>&1); then
        echo "$out"
        fail "configtest passed with the example's placeholders left"
    fi
    echo "$out" | sed 's/^/  /'
    echo "$out" | grep -q "JKLG01800: DBDParams on line [0-9]* of /etc/apache2/sites-enabled/jklg.conf still holds the placeholder CHANGE in password=" \
        || fail "configtest did not name DBDParams' password=CHANGE"
    echo "$out" | grep -q "JKLG01800: JKLGPublicURL on line" \
        || fail "configtest did not name JKLGPublicURL"

    step "the placeholders filled in: configtest passes"
    sed -i "s/password=CHANGE/password=$pw/; s/pk_live_CHANGE/pk_test_debtest/; s/CHANGE/jklg-test/g" "$run$conf"
    if grep -v '^ *#' "$run$conf" | grep -q CHANGE; then
        fail "a CHANGE is left in $conf"
    fi
    in_root apache2ctl configtest
    # Purge must find no file of ours: these are the admin's, not the package's.
    rm -f "$run"/etc/apache2/jklg-{jwt-2026,stripe,whsec,mfa}.key
}

stop_services() {
    in_root apache2ctl stop 2>/dev/null || true
    for i in $(seq 1 20); do
        [ -e "$run/run/apache2/apache2.pid" ] || break
        sleep 0.5
    done
    in_root pg_ctlcluster "$(ls "$run/etc/postgresql")" main stop -m fast 2>/dev/null || true
}

# --- the driver --------------------------------------------------------------

host_sources() {
    # Debian's own lines from the host's apt configuration, for our suite.
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
        'Identifier: Packages' 2>/dev/null |
        awk -v s="$suite" '$2 == s || $2 == s "-updates" || $2 == s "-security" { print $1, $2 }' |
        sort -u
}

main() {
    [ "$(id -u)" = 0 ] || fail "run as root (debootstrap, chroot, namespaces)"
    local version arch deb sources mirror
    version=$(cd "$top" && dpkg-parsechangelog -S Version)
    arch=$(dpkg --print-architecture)
    deb=$top/build/deb/${package}_${version}_${arch}.deb
    [ -f "$deb" ] || fail "$deb not found: make deb first"

    if [ -n "${JKLG_DEB_MIRROR:-}" ]; then
        mirror=$JKLG_DEB_MIRROR
        sources="$mirror $suite
$mirror $suite-updates"
    else
        sources=$(host_sources)
        mirror=$(echo "$sources" | awk -v s="$suite" '$2 == s { print $1; exit }')
        if [ -z "$mirror" ]; then
            mirror=http://deb.debian.org/debian
            sources="$mirror $suite
$mirror $suite-updates
http://deb.debian.org/debian-security $suite-security"
        fi
    fi
    step "package $(basename "$deb"); mirror $mirror"

    mkdir -p "$dir" "$archives"
    if [ ! -e "$base/.complete" ]; then
        step "debootstrap --variant=minbase $suite into $base (once; kept for later runs)"
        rm -rf "$base.tmp" "$base"
        debootstrap --variant=minbase "$suite" "$base.tmp" "$mirror" > "$dir/debootstrap.log" 2>&1 || {
            tail -n 20 "$dir/debootstrap.log"
            fail "debootstrap failed; full log in $dir/debootstrap.log"
        }
        rm -f "$base.tmp"/var/cache/apt/archives/*.deb
        touch "$base.tmp/.complete"
        mv "$base.tmp" "$base"
    else
        step "debootstrap root cached in $base (rm -rf build/deb-root to make a new one)"
    fi

    step "fresh root $run (copy of the cached one)"
    # A run's mounts live in namespaces that are gone by now; never delete
    # through a mount point all the same.
    if grep -q " $run/" /proc/mounts; then fail "something is mounted under $run"; fi
    rm -rf "$run"
    cp -a "$base" "$run"
    echo "$sources" | awk '{ print "deb", $1, $2, "main" }' > "$run/etc/apt/sources.list"
    sed 's/^/  /' "$run/etc/apt/sources.list"
    cp -L /etc/resolv.conf "$run/etc/resolv.conf"
    # apt's output as in a log, without dpkg's progress counters.
    echo 'Dpkg::Use-Pty "0";' > "$run/etc/apt/apt.conf.d/90deb-test"
    # Services are started by the test itself, not by package scripts.
    printf '#!/bin/sh\nexit 101\n' > "$run/usr/sbin/policy-rc.d"
    chmod 755 "$run/usr/sbin/policy-rc.d"
    cp "$deb" "$run/tmp/"

    export DEB_TEST_T0=$t0
    unshare --mount --pid --fork --kill-child --propagation private \
        "$0" --install "$(basename "$deb")" ||
        fail "installing the package failed (the last step above); log in $log"
    unshare --mount --pid --net --fork --kill-child --propagation private \
        "$0" --check ||
        fail "checking the installed package failed (the last step above); log in $log"

    step "PASSED in $(( $(date +%s) - t0 )) s"
}

case ${1:-} in
    --install) install_phase "$2" ;;
    --check) check_phase ;;
    *)
        mkdir -p "$dir"
        main 2>&1 | tee "$log"
        ;;
esac
