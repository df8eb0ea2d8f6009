#!/bin/sh
# Builds the Debian package libapache2-mod-jklg with Debian's own tooling
# (dpkg-buildpackage, debhelper, dh_apache2) in a copy of the source tree
# under build/deb/, so the developer's build/ objects are left alone, then
# checks it with lintian.
#
#   scripts/deb.sh            (make deb)  ->  build/deb/libapache2-mod-jklg_<version>_<arch>.deb
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
out=$top/build/deb
package=libapache2-mod-jklg

# One version: the Makefile's VERSION must be debian/changelog's.
make_version=$(sed -n 's/^VERSION *:\{0,1\}= *//p' Makefile)
deb_version=$(dpkg-parsechangelog -S Version)
if [ "${deb_version%%-*}" != "$make_version" ]; then
    echo "deb: debian/changelog is at $deb_version but the Makefile's VERSION is $make_version;" >&2
    echo "     add a changelog entry: dch -v $make_version 'New version.'" >&2
    exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=${package}_${deb_version}_${arch}.deb

# The source tree as it is now (uncommitted changes included), without
# build products, local state or version control.
src=$out/src/$package-$make_version
rm -rf "$out/src"
mkdir -p "$src"
tar -C "$top" -c --exclude=./build --exclude=./var --exclude=./.git \
    --exclude=__pycache__ --exclude='*.pyc' . | tar -C "$src" -x

echo "deb: building $deb in $src"
(cd "$src" && dpkg-buildpackage -b -us -uc --no-sign) > "$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "deb: dpkg-buildpackage failed; full log in $out/build.log" >&2
    exit 1
}
mv "$out/src/$deb" "$out/$deb"
rm -f "$out"/src/*.buildinfo "$out"/src/*.changes

echo "deb: contents"
dpkg-deb --info "$out/$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$out/$deb" | awk '{ print "  " $1, $6, $7, $8 }'

echo "deb: lintian"
lintian --info --display-info --fail-on error,warning "$out/$deb"
echo "deb: lintian clean (errors and warnings); built $out/$deb"
