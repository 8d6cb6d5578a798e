#!/usr/bin/env bash
# The shipped edge (deploy/nginx/redrain.conf) on loopback, in the foreground:
#   deploy/nginx/run-local.sh API_PORT LISTEN_PORT DRAW_RATE
# nginx listens on 127.0.0.1:LISTEN_PORT and proxies to 127.0.0.1:API_PORT,
# the global draw guard at DRAW_RATE draws/s. Only the lines redrain.conf marks
# "local:" change; everything else is the file as shipped. It runs as the
# current user with its own pid, temp and cache paths in a temporary directory
# (EDGE_DIR to choose it and keep it), logs errors to stderr, prints one
# "ready" line once it accepts connections, and stops on SIGTERM/SIGINT (at
# once) or SIGQUIT (after the requests in progress), removing what it made.
#
# Optional, for tests and benchmarks from one address (defaults: as shipped):
#   DRAW_BURST       the draw guard's burst (default DRAW_RATE/20, at least 1)
#   EDGE_ADDR_RATE   per-address requests/s (500)      EDGE_ADDR_BURST (1000)
#   EDGE_CONN        per-address requests in progress (256)
#   EDGE_WORKERS     nginx worker processes (1)        NGINX (nginx binary)
set -euo pipefail

me=$(basename "$0")
die() { echo "$me: $*" >&2; exit 2; }
usage="usage: $me API_PORT LISTEN_PORT DRAW_RATE (ports 1-65535, DRAW_RATE draws/s >= 1)"

[ $# -eq 3 ] || die "$usage"
is_int() { [[ $1 =~ ^[0-9]{1,9}$ ]] && [ "$((10#$1))" -ge "$2" ] && [ "$((10#$1))" -le "$3" ]; }
if ! { is_int "$1" 1 65535 && is_int "$2" 1 65535 && is_int "$3" 1 100000000; }; then
  die "$usage"
fi
api_port=$((10#$1)) listen_port=$((10#$2)) draw_rate=$((10#$3))
draw_burst=${DRAW_BURST:-$((draw_rate / 20 > 1 ? draw_rate / 20 : 1))}
for knob in DRAW_BURST EDGE_ADDR_RATE EDGE_ADDR_BURST EDGE_CONN EDGE_WORKERS; do
  value=${!knob:-}
  [ -z "$value" ] || is_int "$value" 1 100000000 || die "$knob must be a whole number >= 1, got '$value'"
done

nginx=${NGINX:-}
if [ -z "$nginx" ]; then
  if [ -x /usr/sbin/nginx ]; then nginx=/usr/sbin/nginx; else nginx=$(command -v nginx || true); fi
fi
[ -x "${nginx:-/nonexistent}" ] ||
  die "nginx not found (NGINX, /usr/sbin/nginx, PATH): install Debian's nginx-light (scripts/services.sh)"

here=$(cd "$(dirname "$0")" && pwd)
shipped="$here/redrain.conf"
[ -r "$shipped" ] || die "$shipped is missing"

if [ -n "${EDGE_DIR:-}" ]; then
  dir=$EDGE_DIR keep=1
  mkdir -p "$dir"
else
  dir=$(mktemp -d "${TMPDIR:-/tmp}/redrain-edge.XXXXXX") keep=0
fi
dir=$(cd "$dir" && pwd)
# The path goes into nginx's config and sed replacements as it is.
[[ $dir =~ ^[A-Za-z0-9_./-]+$ ]] || die "the edge's directory '$dir' has characters nginx's config cannot take"
pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  if [ "$keep" = 0 ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT
mkdir -p "$dir/tmp"
conf="$dir/redrain.conf"
cp "$shipped" "$conf"

# One substitution per marked line; a line that moved or changed shape is an
# error, not a silently different config.
set_line() {  # set_line ERE REPLACEMENT
  local n
  n=$(grep -cE "$1" "$conf" || true)
  [ "$n" = 1 ] || die "redrain.conf: expected one line matching /$1/, found $n"
  sed -Ei "s#$1#$2#" "$conf"
}
set_line '^( *server )127\.0\.0\.1:8000 ' "\\1127.0.0.1:$api_port "
set_line '^( *listen )80;' "\\1127.0.0.1:$listen_port;"
set_line '(zone=redrain_draw:[0-9]+m rate=)[0-9]+r/s;' "\\1${draw_rate}r/s;"
set_line '(limit_req zone=redrain_draw burst=)[0-9]+ ' "\\1$draw_burst "
set_line '^proxy_cache_path /var/lib/nginx/redrain-cache ' "proxy_cache_path $dir/cache "
[ -z "${EDGE_ADDR_RATE:-}" ] ||
  set_line '(zone=redrain_addr:[0-9]+m rate=)[0-9]+r/s;' "\\1${EDGE_ADDR_RATE}r/s;"
[ -z "${EDGE_ADDR_BURST:-}" ] ||
  set_line '(limit_req zone=redrain_addr burst=)[0-9]+ ' "\\1$EDGE_ADDR_BURST "
[ -z "${EDGE_CONN:-}" ] || set_line '(limit_conn redrain_conn )[0-9]+;' "\\1$EDGE_CONN;"

# A root master hands its workers to `user` (nobody by default, which cannot
# enter a private temporary directory): keep them as root on loopback.
user_line=""
[ "$(id -u)" != 0 ] || user_line="user root;"
cat >"$dir/nginx.conf" <<EOF
# Rendered by $me: the main context around $shipped.
$user_line
daemon off;
worker_processes ${EDGE_WORKERS:-1};
# A graceful stop (SIGQUIT) waits for open requests; never longer than this.
worker_shutdown_timeout 5s;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
error_log stderr warn;
events { worker_connections 8192; }
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $conf;
}
EOF

"$nginx" -t -q -p "$dir" -c "$dir/nginx.conf" -e stderr ||
  die "nginx refused the config rendered from $shipped (EDGE_DIR=DIR keeps the rendered files)"

"$nginx" -p "$dir" -c "$dir/nginx.conf" -e stderr &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM INT
trap 'kill -QUIT "$pid" 2>/dev/null || true' QUIT

# Ready once nginx wrote its pid file (it has bound the port) and accepts.
ready=""
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || break
  if [ -s "$dir/nginx.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$listen_port") 2>/dev/null; then
    ready=1
    echo "$me: ready: 127.0.0.1:$listen_port -> 127.0.0.1:$api_port, draws <= $draw_rate/s (burst $draw_burst), nginx pid $pid"
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ] && kill -0 "$pid" 2>/dev/null; then
  echo "$me: nginx $pid does not accept connections on 127.0.0.1:$listen_port after 10 s" >&2
fi
# A trapped signal interrupts `wait` (status > 128): wait again while nginx
# runs; once bash has reaped it, one more `wait` gives its stored status.
status=0
while :; do
  if wait "$pid"; then status=0; else status=$?; fi
  if [ "$status" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi
  break
done
if [ "$status" -gt 128 ]; then
  if wait "$pid" 2>/dev/null; then status=0; else
    code=$?
    [ "$code" = 127 ] || status=$code
  fi
fi
pid=""
exit "$status"
