#!/usr/bin/env bash
# e2e: start the real `hearth serve` on a free loopback port, query /health
# with curl, stop it with SIGTERM and check the exit status; also the CLI's
# usage errors and a port already in use. Every wait is bounded.
set -u
HEARTH=${HEARTH_BUILD:?}/app/hearth
fails=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fails=$((fails+1)); fi; }

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_health() { # port → 0 when /health answers within 10 s
	local i
	for i in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# usage errors exit 2
"$HEARTH" frobnicate >/dev/null 2>&1; check "unknown command exits 2" '[ $? -eq 2 ]'
"$HEARTH" serve --bogus >/dev/null 2>&1; check "unknown flag exits 2" '[ $? -eq 2 ]'
"$HEARTH" serve --help >"$tmp/help" 2>&1; check "serve --help exits 0" '[ $? -eq 0 ]'
check "serve --help lists --listen" 'grep -q -- --listen "$tmp/help"'
for cmd in serve chat transcribe describe plan bench tokenize version; do
	"$HEARTH" $cmd --help >/dev/null 2>&1; check "$cmd --help exits 0" '[ $? -eq 0 ]'
done
"$HEARTH" transcribe x.wav >/dev/null 2>"$tmp/err"; rc=$?
check "transcribe (stage not built) exits 2 and says so" '[ $rc -eq 2 ] && grep -q "not available yet" "$tmp/err"'
echo '{"listen": 5}' >"$tmp/bad.json"
"$HEARTH" serve --config "$tmp/bad.json" >/dev/null 2>"$tmp/err"; rc=$?
check "config with a wrong type exits 2 naming key and file" \
	'[ $rc -eq 2 ] && grep -q "listen" "$tmp/err" && grep -q "bad.json" "$tmp/err"'

# a real server
port=$(free_port)
"$HEARTH" serve --listen "127.0.0.1:$port" 2>"$tmp/serve.log" &
pid=$!
check "serve answers /health" 'wait_health $port'
body=$(curl -fsS "http://127.0.0.1:$port/health")
check "/health is JSON with status, version, uptime_s" \
	'echo "$body" | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); assert d[\"status\"]==\"ok\" and d[\"version\"] and d[\"uptime_s\"]>=0"'
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")
check "unknown route is 404" '[ "$code" = 404 ]'

# a second server on the same port fails clearly
"$HEARTH" serve --listen "127.0.0.1:$port" >/dev/null 2>"$tmp/busy.log"; rc=$?
check "port in use exits 1" '[ $rc -eq 1 ]'
check "port in use message names the address" 'grep -q "cannot listen on 127.0.0.1:$port" "$tmp/busy.log"'

kill -TERM $pid
for i in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
wait $pid; rc=$?
check "SIGTERM: clean exit 0 (ASan finds no leak)" '[ $rc -eq 0 ]'
if [ $rc -ne 0 ]; then cat "$tmp/serve.log"; fi

# SIGINT too
port=$(free_port)
"$HEARTH" serve --listen "127.0.0.1:$port" 2>"$tmp/serve2.log" &
pid=$!
wait_health $port
kill -INT $pid
for i in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
wait $pid; rc=$?
check "SIGINT: clean exit 0" '[ $rc -eq 0 ]'

# auth: with --trusted none even loopback clients must show the token, as
# any client from another network must by default
port=$(free_port)
"$HEARTH" serve --listen "127.0.0.1:$port" --trusted none --token s3cret-t0ken \
	2>"$tmp/auth.log" &
pid=$!
for i in $(seq 1 100); do
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")
	[ "$code" != 000 ] && break
	sleep 0.1
done
check "no token: 401" '[ "$code" = 401 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong-token" \
	"http://127.0.0.1:$port/health")
check "wrong token: 401" '[ "$code" = 401 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer s3cret-t0ken" \
	"http://127.0.0.1:$port/health")
check "Bearer token: 200" '[ "$code" = 200 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health?token=s3cret-t0ken")
check "?token= (browsers' WebSocket): 200" '[ "$code" = 200 ]'
check "the token never reaches the log" '! grep -q s3cret-t0ken "$tmp/auth.log"'
kill -TERM $pid; wait $pid
"$HEARTH" serve --trusted everyone >/dev/null 2>&1; rc=$?
check "--trusted with a bad value exits 2" '[ $rc -eq 2 ]'

echo "$fails failure(s)"
[ $fails -eq 0 ]
