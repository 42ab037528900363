#!/bin/sh
# Installs jobsd's build and test dependencies from Debian 12's archive.
# --if-missing: do nothing when every package is already installed.
set -eu
PKGS="build-essential pkg-config libev-dev libmsgpack-dev libdb-dev check node-llhttp \
libinih-dev libssl-dev libyajl-dev"
# Extra tool sets: --fuzz (libFuzzer), --deb (Debian packaging), --torture (valgrind,
# db5.3_stat, curl for make valgrind / make torture).
case "${1:-}" in
--fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
--deb) PKGS="$PKGS debhelper dpkg-dev fakeroot" ;;
--torture) PKGS="$PKGS valgrind db5.3-util curl" ;;
esac

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	[ "${1:-}" = "--if-missing" ] || echo "install-deps: all build dependencies present"
	exit 0
fi
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
