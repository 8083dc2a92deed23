#!/usr/bin/env bash
# Run a throw-away Ceph cluster (one monitor, one BlueStore OSD on a file, one RADOS Gateway)
# on 127.0.0.1 for the test suite. Everything lives under STATE_DIR; nothing in /var/lib/ceph.
#
#   ceph.sh start STATE_DIR PORT   S3 API on 127.0.0.1:PORT; monitor on PORT+1; OSD ports in
#                                  PORT+2..PORT+10. Writes STATE_DIR/env (S3_ENDPOINT,
#                                  S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION) and returns once the
#                                  S3 API answers signed requests; daemons keep running.
#   ceph.sh stop STATE_DIR         Stops the daemons started in STATE_DIR (by their pid files).
#
# Needs the packages of install-ceph.sh. Authentication inside the cluster is disabled; the
# only credentials are those of the S3 user created with radosgw-admin.
set -euo pipefail

readonly START_TIMEOUT=90 # seconds, for the whole start
readonly STOP_TIMEOUT=20  # seconds between SIGTERM and SIGKILL
readonly MON=mon.a OSD=osd.0 RGW=client.rgw.a # daemon names, also of pid/log files
readonly S3_REGION=us-east-1
readonly S3_USER=archive-test
readonly EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
readonly BLOCK_SIZE=$((16 * 1024 * 1024 * 1024)) # sparse file; real use is what is written

fail() {
    echo "ceph.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: ceph.sh start STATE_DIR PORT | ceph.sh stop STATE_DIR" >&2
    exit 2
}

# --- small helpers -------------------------------------------------------------------------

port_in_use() { # PORT → true when something accepts connections on 127.0.0.1:PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

random_token() { # LENGTH → random alphanumeric string
    local token=""
    while ((${#token} < $1)); do
        token+=$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9')
    done
    printf '%s' "${token:0:$1}"
}

seconds_left() {
    echo $((deadline - SECONDS))
}

log_tail() { # NAME → last lines of that daemon's logs
    local file
    for file in "$state/log/$1.out" "$state/log/$1.log"; do
        [[ -s "$file" ]] || continue
        echo "--- cuối tệp $file ---" >&2
        tail -n 25 "$file" >&2
    done
}

# --- daemons -------------------------------------------------------------------------------

pid_of() { # NAME → pid of our running daemon, or nothing
    local file="$state/run/$1.pid" pid
    [[ -s "$file" ]] || return 0
    pid=$(<"$file")
    # The pid may have been reused: it is ours only if its command line names our config.
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$conf"; then
        echo "$pid"
    fi
}

launch() { # NAME COMMAND... → run a daemon in the foreground of its own session, record its pid
    local name=$1
    shift
    setsid "$@" -f -c "$conf" </dev/null >>"$state/log/$name.out" 2>&1 &
    echo $! >"$state/run/$name.pid"
}

is_running() { # PID → true while the process exists and is not a zombie awaiting its reaper
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ "${stat##*) }" != Z* ]]
}

any_alive() { # PID... → true while one of them runs
    local pid
    for pid in "$@"; do
        is_running "$pid" && return 0
    done
    return 1
}

stop_daemons() { # NAME... → SIGTERM them together, SIGKILL what still runs after STOP_TIMEOUT
    local name pid pids=() waited=0
    for name in "$@"; do
        pid=$(pid_of "$name")
        [[ -n "$pid" ]] && pids+=("$pid")
    done
    if ((${#pids[@]} > 0)); then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        while any_alive "${pids[@]}" && ((waited < STOP_TIMEOUT * 10)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if any_alive "${pids[@]}"; then
            kill -KILL "${pids[@]}" 2>/dev/null || true
            while any_alive "${pids[@]}"; do sleep 0.1; done
        fi
    fi
    for name in "$@"; do
        rm -f "$state/run/$name.pid"
    done
}

stop_all() {
    # One at a time: radosgw hangs in its shutdown once the OSD is gone, and a stopping OSD
    # waits 5 s for the monitor to acknowledge its goodbye.
    stop_daemons "$RGW"
    stop_daemons "$OSD"
    stop_daemons "$MON"
}

ensure_alive() { # NAME → fail with its log when the daemon has exited
    if ! is_running "$(<"$state/run/$1.pid")"; then
        log_tail "$1"
        fail "$1 đã dừng trong lúc khởi động"
    fi
}

wait_for() { # NAME DESCRIPTION COMMAND... → retry COMMAND until it succeeds or time runs out
    local name=$1 description=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ensure_alive "$name"
        if (($(seconds_left) <= 0)); then
            log_tail "$name"
            fail "quá ${START_TIMEOUT}s mà vẫn chưa có $description"
        fi
        sleep 0.5
    done
}

# --- cluster commands ----------------------------------------------------------------------

ceph_cli() {
    timeout 15 ceph -c "$conf" --connect-timeout 10 "$@"
}

run_step() { # DESCRIPTION COMMAND... → run a one-shot command, failing with its output
    local description=$1 output
    shift
    if ! output=$("$@" 2>&1); then
        echo "$output" | tail -n 25 >&2
        fail "bước '$description' thất bại"
    fi
    printf '%s' "$output"
}

osd_is_up() {
    ceph_cli osd stat | grep -q '1 up'
}

s3_answers_signed() {
    local code
    code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 5 \
        --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$access_key:$secret_key" \
        -H "x-amz-content-sha256: $EMPTY_SHA256" \
        "http://127.0.0.1:$port/")
    [[ "$code" == 200 ]]
}

s3_answers() {
    curl -s --noproxy '*' -o /dev/null --max-time 5 "http://127.0.0.1:$port/"
}

class_dir() { # → the directory of the OSD's object classes, which radosgw needs
    local dir
    for dir in /usr/lib/*/rados-classes /usr/lib64/rados-classes /usr/lib/rados-classes; do
        [[ -d "$dir" ]] && echo "$dir" && return
    done
    fail "không tìm thấy thư mục rados-classes (gói ceph-osd)"
}

write_config() { # FSID MON_PORT
    local classes
    classes=$(class_dir)
    cat >"$conf" <<EOF
# Generated by tests/s3server/ceph.sh for one test run; every path is inside $state.
[global]
fsid = $1
mon_host = [v2:127.0.0.1:$2]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_msgr2 = true
ms_bind_ipv6 = false
ms_bind_port_min = $((port + 2))
ms_bind_port_max = $((port + 10))
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_allow_insecure_global_id_reclaim = false
# Without authentication only "crc" framing exists; radosgw would otherwise insist on "secure".
ms_mon_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_client_mode = crc
ms_cluster_mode = crc
ms_service_mode = crc
run_dir = $state/run
admin_socket = $state/run/\$cluster-\$name.asok
log_file = $state/log/\$name.log
log_to_stderr = false
err_to_stderr = true
crash_dir = $state/crash
keyring = $state/keyring
mon_data = $state/mon/\$cluster-\$id
osd_data = $state/osd/\$cluster-\$id
rgw_data = $state/rgw/\$cluster-\$id
mon_cluster_log_file = $state/log/cluster.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
# One monitor needs no batching of map updates: commit them at once (start 16 s → 5 s).
paxos_propose_interval = 0.05
paxos_min_wait = 0.01

[osd]
# Debian 13's OSD looks for its classes under a relative path by default (EOPNOTSUPP in radosgw).
osd_class_dir = $classes
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_fsck_on_mkfs = false
bluestore_block_size = $BLOCK_SIZE
bluestore_cache_autotune = false
bluestore_cache_size = 67108864
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1

[client]
rgw_frontends = beast endpoint=127.0.0.1:$port
rgw_thread_pool_size = 32
rgw_enable_usage_log = false
EOF
}

# --- start / stop --------------------------------------------------------------------------

start() {
    deadline=$((SECONDS + START_TIMEOUT))
    if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1024 || port + 10 > 65535)); then
        fail "PORT phải là số từ 1024 đến 65525, không phải '$port'"
    fi
    [[ -e "$conf" ]] && fail "$state đã chứa một cụm Ceph; hãy dừng nó và dùng thư mục mới"
    local required
    for required in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool curl; do
        command -v "$required" >/dev/null ||
            fail "thiếu chương trình '$required'; hãy chạy tests/s3server/install-ceph.sh"
    done
    local candidate
    for candidate in $(seq "$port" $((port + 10))); do
        port_in_use "$candidate" && fail "cổng $candidate (cần cho PORT..PORT+10) đang bận"
    done

    mkdir -p "$state"/{run,log,crash,mon,osd/ceph-0,rgw}
    started=false
    trap '$started || stop_all' EXIT
    trap 'exit 1' INT TERM
    local fsid osd_uuid mon_port=$((port + 1)) osd_id
    fsid=$(</proc/sys/kernel/random/uuid)
    osd_uuid=$(</proc/sys/kernel/random/uuid)
    write_config "$fsid" "$mon_port"

    run_step "monmaptool" monmaptool --create --fsid "$fsid" \
        --addv a "[v2:127.0.0.1:$mon_port]" "$state/monmap" >/dev/null
    run_step "ceph-mon --mkfs" ceph-mon -c "$conf" --mkfs -i a --monmap "$state/monmap" >/dev/null
    launch "$MON" ceph-mon -i a
    wait_for "$MON" "monitor trên 127.0.0.1:$mon_port" ceph_cli mon stat

    osd_id=$(run_step "ceph osd new" ceph_cli osd new "$osd_uuid")
    [[ "$osd_id" == 0 ]] || fail "monitor cấp số OSD '$osd_id' thay vì 0"
    run_step "ceph-osd --mkfs" ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null
    launch "$OSD" ceph-osd -i 0
    wait_for "$OSD" "OSD ở trạng thái up" osd_is_up

    launch "$RGW" radosgw -n "$RGW"
    wait_for "$RGW" "API S3 trên 127.0.0.1:$port" s3_answers

    access_key=$(random_token 20)
    secret_key=$(random_token 40)
    run_step "radosgw-admin user create" radosgw-admin -c "$conf" user create \
        --uid "$S3_USER" --display-name "$S3_USER" \
        --access-key "$access_key" --secret "$secret_key" >/dev/null
    wait_for "$RGW" "yêu cầu S3 có chữ ký thành công trên 127.0.0.1:$port" s3_answers_signed

    cat >"$state/env.tmp" <<EOF
S3_ENDPOINT=127.0.0.1:$port
S3_ACCESS_KEY=$access_key
S3_SECRET_KEY=$secret_key
S3_REGION=$S3_REGION
EOF
    mv "$state/env.tmp" "$state/env"
    started=true
}

main() {
    [[ $# -ge 2 ]] || usage
    local command=$1
    [[ "$command" == start ]] && mkdir -p "$2"
    [[ -d "$2" ]] || exit 0 # stop: nothing was ever started there
    state=$(cd "$2" && pwd -P)
    conf="$state/ceph.conf"
    case "$command" in
    start)
        [[ $# -eq 3 ]] || usage
        port=$3
        start
        ;;
    stop)
        [[ $# -eq 2 ]] || usage
        stop_all
        ;;
    *) usage ;;
    esac
}

main "$@"
