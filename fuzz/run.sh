#!/bin/sh
# run.sh: build the libFuzzer target fuzz/http_request.c (clang, ASan+UBSan) and fuzz
# jobsd-http's raw-request path for SECONDS (default 60), starting from fuzz/corpus/http.
# New interesting inputs go to $OUT/corpus (not the checked-in corpus); crashes to $OUT.
#   fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
set -e
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
[ $# -gt 0 ] && shift
OUT=${FUZZ_OUT:-build/fuzz}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT/corpus" "$OUT/llhttp"
PKG_CFLAGS=$(pkg-config --cflags msgpack yajl libcrypto inih)
PKG_LIBS=$(pkg-config --libs msgpack yajl libcrypto inih)
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
for f in api http llhttp; do
	$CC -g -O1 -fsanitize=fuzzer-no-link,address -w -I/usr/share/include/llhttp \
	    -c -o "$OUT/llhttp/$f.o" /usr/share/llhttp/$f.c
done
HTTP_SRCS=$(ls http/*.c | grep -v -e '^http/main.c$' -e '^http/server.c$')
$CC -g -O1 $SAN -std=gnu11 -D_GNU_SOURCE -I. -Icommon -Iipc -Idaemon \
    -I/usr/share/include/llhttp $PKG_CFLAGS -o "$OUT/http_request" \
    fuzz/http_request.c $HTTP_SRCS common/*.c ipc/*.c daemon/store*.c "$OUT"/llhttp/*.o \
    $PKG_LIBS -ldb -lev -lm
exec "$OUT/http_request" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 \
    -timeout=10 -artifact_prefix="$OUT/" "$@" "$OUT/corpus" fuzz/corpus/http
