#!/usr/bin/env bash
# Runs a command against a live `hsd serve` on loopback (used by CTest, see tests/CMakeLists.txt).
#
#   run_with_server.sh HSD_BIN SHARED_DIR -- SERVER_ARGS... -- COMMAND...
#
# Starts `HSD_BIN serve -m SHARED_DIR/models/hsd-target.gguf --port 0 SERVER_ARGS...`, reads the
# port it picked from its stderr ("hsd serve: listening on http://127.0.0.1:PORT ..."), waits for
# GET /health to answer 200, then runs COMMAND with
#   HSD_URL=http://127.0.0.1:PORT  HSD_BIN  HSD_SHARED (absolute)  HSD_SERVER_PID  HSD_SERVER_LOG
# exported. Afterwards it sends SIGTERM and requires the server to exit with status 0 within
# HSD_STOP_TIMEOUT seconds (default 30; else kill -9 and fail). The exit status is COMMAND's when
# it failed, else the server's. Timeouts (seconds): HSD_START_TIMEOUT (default 60, 180 when
# HSD_SANITIZER_BUILD=1), HSD_STOP_TIMEOUT.
#
# Node.js and the OpenAI client (tests/server/node_modules/openai) are required, not optional: a
# missing one fails the test with the command that installs it.
set -u

die() {
    echo "run_with_server: $*" >&2
    exit 1
}

[ $# -ge 4 ] || die "usage: $0 HSD_BIN SHARED_DIR -- SERVER_ARGS... -- COMMAND..."
HSD_BIN=$1
SHARED=$2
shift 2
[ "${1:-}" = "--" ] || die "expected -- after SHARED_DIR"
shift
SERVER_ARGS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    SERVER_ARGS+=("$1")
    shift
done
[ "${1:-}" = "--" ] || die "expected -- before COMMAND"
shift
[ $# -gt 0 ] || die "no COMMAND given"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v node >/dev/null 2>&1 || die "node (Node.js >= 18) is not installed; install it, then run: npm ci --prefix tests/server"
[ -f "$HERE/node_modules/openai/package.json" ] ||
    die "the OpenAI Node.js client is missing ($HERE/node_modules/openai); run: npm ci --prefix tests/server"
command -v curl >/dev/null 2>&1 || die "curl is not installed"
[ -x "$HSD_BIN" ] || die "HSD_BIN '$HSD_BIN' is not an executable"
[ -f "$SHARED/models/hsd-target.gguf" ] || die "no $SHARED/models/hsd-target.gguf"
SHARED=$(cd "$SHARED" && pwd)

if [ "${HSD_SANITIZER_BUILD:-0}" = "1" ]; then
    START_TIMEOUT=${HSD_START_TIMEOUT:-180}
else
    START_TIMEOUT=${HSD_START_TIMEOUT:-60}
fi
STOP_TIMEOUT=${HSD_STOP_TIMEOUT:-30}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hsd-server-test.XXXXXX") || die "mktemp failed"
LOG=$WORK/server.log
SERVER_PID=

dump_log() {
    echo "----- server log ($LOG), last 40 lines -----" >&2
    tail -n 40 "$LOG" >&2 2>/dev/null
    echo "-------------------------------------------" >&2
}

# On any exit (also CTest's timeout signal): never leave the server behind.
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "run_with_server: interrupted" >&2; exit 130' INT TERM

"$HSD_BIN" serve -m "$SHARED/models/hsd-target.gguf" --port 0 "${SERVER_ARGS[@]}" >"$LOG" 2>&1 &
SERVER_PID=$!

# 1. The port, from the "listening on" line.
PORT=
deadline=$((SECONDS + START_TIMEOUT))
while [ -z "$PORT" ]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        wait "$SERVER_PID"
        rc=$?
        SERVER_PID=
        dump_log
        die "the server exited with status $rc before listening"
    fi
    PORT=$(sed -n 's|^hsd serve: listening on http://[^:]*:\([0-9][0-9]*\).*|\1|p' "$LOG" | head -n 1)
    [ -n "$PORT" ] && break
    [ $SECONDS -lt $deadline ] || { dump_log; die "no 'listening on' line within ${START_TIMEOUT}s"; }
    sleep 0.1
done
URL=http://127.0.0.1:$PORT

# 2. /health 200 (503 while loading).
while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/health")
    [ "$code" = "200" ] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        wait "$SERVER_PID"
        rc=$?
        SERVER_PID=
        dump_log
        die "the server exited with status $rc while loading"
    fi
    [ $SECONDS -lt $deadline ] || { dump_log; die "GET /health did not answer 200 within ${START_TIMEOUT}s (last: $code)"; }
    sleep 0.2
done
echo "run_with_server: server pid $SERVER_PID ready at $URL (${SERVER_ARGS[*]})" >&2

# 3. The command.
export HSD_URL=$URL HSD_BIN HSD_SHARED=$SHARED HSD_SERVER_PID=$SERVER_PID HSD_SERVER_LOG=$LOG
"$@"
cmd_rc=$?
[ $cmd_rc -eq 0 ] || echo "run_with_server: the command failed with status $cmd_rc" >&2

# 4. Graceful stop: SIGTERM, exit status 0 within the bound.
server_rc=0
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID"
    server_rc=$?
    echo "run_with_server: the server died during the test (status $server_rc)" >&2
    [ $server_rc -ne 0 ] || server_rc=1
else
    kill -TERM "$SERVER_PID"
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$SERVER_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "run_with_server: the server did not exit within ${STOP_TIMEOUT}s of SIGTERM; killing it" >&2
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        server_rc=1
    else
        wait "$SERVER_PID"
        server_rc=$?
        [ $server_rc -eq 0 ] || echo "run_with_server: the server exited with status $server_rc after SIGTERM" >&2
    fi
fi
SERVER_PID=
[ $server_rc -eq 0 ] && [ $cmd_rc -eq 0 ] || dump_log

if [ $cmd_rc -ne 0 ]; then exit $cmd_rc; fi
exit $server_rc
