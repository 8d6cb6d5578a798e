#!/usr/bin/env bash
# Make sure the services the test suite needs are up on loopback, starting them
# if they are not. Exits non-zero (and the suite does not run) if one cannot be
# reached: tests never skip a missing service.
set -euo pipefail

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
mariadb_up() { mariadb -h 127.0.0.1 -P 3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }

wait_for() {  # wait_for <check> <tries> <name>
  for _ in $(seq "$2"); do "$1" && return 0; sleep 0.2; done
  echo "services: $3 is not reachable" >&2
  return 1
}

if ! redis_up; then
  echo "services: starting Redis on 127.0.0.1:6379" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
wait_for redis_up 100 "Redis on 127.0.0.1:6379"

if ! mariadb_up; then
  echo "services: starting MariaDB on 127.0.0.1:3306" >&2
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
wait_for mariadb_up 300 "MariaDB on 127.0.0.1:3306 (user root, empty password)"

# The edge tests run Debian's nginx (nginx-light) through
# deploy/nginx/run-local.sh: their own master on loopback ports with their own
# config, so whatever the package's service does (it may start on :80) does not
# matter to them, and it is left alone.
# The browser tests drive Debian's Chromium (Playwright's own download does not
# work here) and screenshot pages in Chinese (real glyphs need Noto CJK); a fresh
# machine has neither yet.
# (fc-list is read into a variable first: `fc-list | grep -q` under pipefail
# fails with SIGPIPE when grep stops reading early.)
has_font() { local fonts; fonts=$(fc-list 2>/dev/null || true); grep -q "$1" <<<"$fonts"; }
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v promtool >/dev/null || need+=(prometheus) # promtool checks deploy/prometheus
has_font "Noto Sans CJK" || need+=(fonts-noto-cjk)
has_font "Noto Color Emoji" || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  echo "services: installing ${need[*]} for the browser, edge and monitoring tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi
[ -x /usr/bin/chromium ] || { echo "services: /usr/bin/chromium is missing" >&2; exit 1; }
[ -x /usr/sbin/nginx ] || { echo "services: /usr/sbin/nginx is missing (nginx-light)" >&2; exit 1; }
has_font "Noto Sans CJK" || { echo "services: fonts-noto-cjk is missing" >&2; exit 1; }
command -v promtool >/dev/null || { echo "services: promtool is missing (prometheus)" >&2; exit 1; }
echo "services: Redis, MariaDB, Chromium, fonts, nginx and promtool are up" >&2
