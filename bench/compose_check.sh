#!/usr/bin/env bash
# Opt-in check of the Docker images and the compose stack, for real (not part of `python -m pytest`).
#
#   sudo bash bench/compose_check.sh 2>&1 | tee bench/results/compose_check.txt
#
# What it does, on a Debian bookworm machine with no image registry in reach:
#   1. installs what it needs (docker.io, docker-compose 1.29, debootstrap; chromium and Playwright
#      for the browser check) and starts dockerd if none runs (overlay2, else vfs; cgroupfs);
#   2. builds stand-ins for the base images once and keeps them (`debootstrap --variant=minbase
#      bookworm` + `docker import`; python:3.11-slim = Debian's python3 with a venv first on PATH;
#      redis:7-alpine = Debian's redis-server and redis-cli). They are a test fixture only: the
#      Dockerfiles keep naming the official images, and a real image of that name is used as is.
#      pip inside the builds reaches the package index with this machine's CA bundle, which the
#      python stand-in carries and names in PIP_CERT;
#   3. `docker-compose -p spikeboard-check up --build -d --scale worker=2` with a generated
#      REDIS_PASSWORD, then checks: Redis healthy, password required, no host port; the web app
#      answers /_stcore/health and chromium renders the Launch page from the container; a run
#      submitted through the web container's workers modules is trained by a worker container and
#      finishes; `docker kill` of the worker training a long run -> the other worker resumes it from
#      its checkpoint; `down` then `up`: runs, metrics and probes are still there; the web image
#      holds no torch and is much smaller than the worker image;
#   4. stops what it started and removes its containers, network and volumes; the images stay cached.
#
# The first run downloads torch (several GB) inside the worker build; see the README for timings.
# SPIKEBOARD_CHECK_FRESH=1 rebuilds the two images from nothing (times a cold build);
# SPIKEBOARD_CHECK_FRESH=all also redoes debootstrap and the stand-ins. Keeps >= 25 GB free
# (SPIKEBOARD_CHECK_MIN_FREE_GB) or stops before building. Logs: /var/cache/spikeboard-check/logs.
# Traffic: the Debian mirror and the Python package index (builds), otherwise loopback and the
# local containers only. Needs root.
set -Eeuo pipefail
{  # the whole script is one block, so bash has read all of it before it runs (safe to edit meanwhile)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SPIKEBOARD_CHECK_CACHE:-/var/cache/spikeboard-check}"   # debootstrap tree and logs
PROJECT="${SPIKEBOARD_CHECK_PROJECT:-spikeboard-check}"
CA_BUNDLE="${SPIKEBOARD_CHECK_CA:-/etc/ssl/certs/ca-certificates.crt}"
MIRROR="${SPIKEBOARD_CHECK_MIRROR:-http://deb.debian.org/debian}"
MIN_FREE_GB="${SPIKEBOARD_CHECK_MIN_FREE_GB:-25}"
CHROMIUM=/usr/bin/chromium
LOGS="$CACHE/logs"
START=$(date +%s.%N)
STARTED_DOCKERD=""
declare -a SUMMARY=()

mkdir -p "$CACHE" "$LOGS"
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
log() { printf '[%7ss] %s\n' "$(since "$START")" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
note() { SUMMARY+=("$*"); log "$*"; }

log "compose check of $ROOT ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo no-git)$(cd "$ROOT" && git diff --quiet HEAD -- Dockerfile Dockerfile.web docker-compose.yml .dockerignore 2>/dev/null || echo ', with local edits'))"
[ "$(id -u)" = 0 ] || fail "needs root (apt-get, dockerd, debootstrap)"
log "command: ${SPIKEBOARD_CHECK_FRESH:+SPIKEBOARD_CHECK_FRESH=$SPIKEBOARD_CHECK_FRESH }bash bench/compose_check.sh"

free_gb() { df -BG --output=avail "$1" | tail -1 | tr -dc 0-9; }
check_disk() {
    local where
    for where in "$ROOT" /var/lib; do
        [ "$(free_gb "$where")" -ge "$MIN_FREE_GB" ] || fail "only $(free_gb "$where") GB free on $where (need $MIN_FREE_GB)"
    done
}
check_disk

# -- 1. tools ------------------------------------------------------------------------------------
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x "$CHROMIUM" ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq >"$LOGS/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >>"$LOGS/apt.log" 2>&1 \
        || { tail -20 "$LOGS/apt.log"; fail "apt-get install ${need[*]}"; }
fi
if ! python3 -c "import playwright" 2>/dev/null; then
    pin=$(grep -E '^playwright==' "$ROOT/requirements-dev.txt")
    log "pip install $pin"
    python3 -m pip install -q "$pin" >"$LOGS/pip.log" 2>&1 || { tail -20 "$LOGS/pip.log"; fail "pip install $pin"; }
fi
log "docker-compose $(docker-compose version --short), $(docker --version)"

# -- 2. dockerd ----------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    for driver in overlay2 vfs; do
        log "starting dockerd (storage driver $driver, cgroupfs)"
        dockerd --storage-driver "$driver" --exec-opt native.cgroupdriver=cgroupfs >"$LOGS/dockerd.log" 2>&1 &
        STARTED_DOCKERD=$!
        for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; kill -0 "$STARTED_DOCKERD" 2>/dev/null || break; sleep 0.5; done
        docker info >/dev/null 2>&1 && break
        kill "$STARTED_DOCKERD" 2>/dev/null || true; wait "$STARTED_DOCKERD" 2>/dev/null || true; STARTED_DOCKERD=""
    done
    docker info >/dev/null 2>&1 || { tail -20 "$LOGS/dockerd.log"; fail "dockerd did not start"; }
fi
log "dockerd: $(docker info -f '{{.ServerVersion}}, {{.Driver}}, cgroup driver {{.CgroupDriver}}')"

DC=(docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml")
cleanup() {
    local rc=$?
    trap - EXIT
    if [ $rc -ne 0 ]; then
        log "failed (exit $rc); last logs of the stack:"
        "${DC[@]}" logs --no-color --tail=30 2>&1 | sed 's/^/    /' | tail -90 || true
    fi
    log "cleanup: docker-compose down -v (containers, network, the check's volumes; images stay)"
    "${DC[@]}" down -v --remove-orphans >"$LOGS/down.log" 2>&1 || true
    docker image prune -f >/dev/null 2>&1 || true   # superseded (untagged) builds; tagged images stay
    if [ -n "$STARTED_DOCKERD" ]; then
        log "stopping the dockerd this script started (pid $STARTED_DOCKERD)"
        kill "$STARTED_DOCKERD" 2>/dev/null || true
        wait "$STARTED_DOCKERD" 2>/dev/null || true
    fi
    exit $rc
}
trap cleanup EXIT

# -- 3. stand-in base images (built once, kept) ----------------------------------------------------
is_standin() { [ "$(docker image inspect -f '{{index .Config.Labels "spikeboard.standin"}}' "$1" 2>/dev/null)" = yes ]; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

BASE=spikeboard-standin/bookworm:minbase
if [ "${SPIKEBOARD_CHECK_FRESH:-}" = all ]; then  # time everything from nothing: debootstrap, stand-ins too
    log "SPIKEBOARD_CHECK_FRESH=all: removing the stand-in images and the debootstrap tree"
    for img in python:3.11-slim redis:7-alpine; do is_standin "$img" && docker image rm -f "$img" >/dev/null; done
    docker image rm -f "$BASE" >/dev/null 2>&1 || true
    rm -rf "$CACHE/rootfs"
fi
if ! have_image "$BASE"; then
    if [ ! -f "$CACHE/rootfs/.complete" ]; then
        log "debootstrap --variant=minbase bookworm (once)"
        rm -rf "$CACHE/rootfs"
        t=$(now)
        debootstrap --variant=minbase bookworm "$CACHE/rootfs" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1 \
            || { tail -20 "$LOGS/debootstrap.log"; fail "debootstrap"; }
        touch "$CACHE/rootfs/.complete"
        log "debootstrap done in $(since "$t") s"
    fi
    log "docker import -> $BASE"
    tar -C "$CACHE/rootfs" --exclude=./.complete -c . | docker import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        -c 'CMD ["bash"]' - "$BASE" >/dev/null
fi

build_standin() {  # tag, Dockerfile text (stdin); context = a folder holding the CA bundle
    local tag=$1 ctx
    ctx=$(mktemp -d)
    cp "$CA_BUNDLE" "$ctx/ca-bundle.crt"
    cat >"$ctx/Dockerfile"
    local t; t=$(now)
    docker build -t "$tag" "$ctx" >"$LOGS/standin-${tag//[:\/]/_}.log" 2>&1 \
        || { tail -30 "$LOGS/standin-${tag//[:\/]/_}.log"; rm -rf "$ctx"; fail "building stand-in $tag"; }
    rm -rf "$ctx"
    log "stand-in $tag built in $(since "$t") s"
}

APT_PREP='printf "Acquire::Check-Valid-Until \"false\";\n" > /etc/apt/apt.conf.d/99standin \
 && printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'

if have_image python:3.11-slim && ! is_standin python:3.11-slim; then
    log "python:3.11-slim: a real image of that name is here, used as is"
elif ! have_image python:3.11-slim; then
    build_standin python:3.11-slim <<EOF
FROM $BASE
LABEL spikeboard.standin=yes
RUN $APT_PREP && apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \\
 && rm -rf /var/lib/apt/lists/* && python3 -m venv /usr/local/python
# The index is reached through this machine's TLS proxy: pip gets its CA bundle (stand-in only).
COPY ca-bundle.crt /etc/ssl/standin-ca-bundle.crt
ENV PATH=/usr/local/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PIP_CERT=/etc/ssl/standin-ca-bundle.crt LANG=C.UTF-8
RUN python --version && pip --version
CMD ["python3"]
EOF
fi

if have_image redis:7-alpine && ! is_standin redis:7-alpine; then
    log "redis:7-alpine: a real image of that name is here, used as is"
elif ! have_image redis:7-alpine; then
    build_standin redis:7-alpine <<EOF
FROM $BASE
LABEL spikeboard.standin=yes
RUN $APT_PREP && apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools \\
 && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
CMD ["redis-server"]
EOF
fi
log "base images: python:3.11-slim $(is_standin python:3.11-slim && echo '(stand-in)'), redis:7-alpine $(is_standin redis:7-alpine && echo '(stand-in)')"

# -- 4. up ----------------------------------------------------------------------------------------
export REDIS_PASSWORD SPIKEBOARD_WEB_PORT SPIKEBOARD_WEB_BIND=127.0.0.1
REDIS_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
SPIKEBOARD_WEB_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WEB_URL="http://127.0.0.1:$SPIKEBOARD_WEB_PORT"
"${DC[@]}" down -v --remove-orphans >"$LOGS/down.log" 2>&1 || true   # leftovers of an interrupted check
if [ -n "${SPIKEBOARD_CHECK_FRESH:-}" ]; then  # 1 (or all): time the images' builds from nothing
    log "SPIKEBOARD_CHECK_FRESH: removing ${PROJECT}_worker and ${PROJECT}_web (and their build cache)"
    docker image rm -f "${PROJECT}_worker" "${PROJECT}_web" >/dev/null 2>&1 || true
    docker image prune -f >/dev/null 2>&1 || true
fi

check_disk
log "\$ docker-compose -p $PROJECT -f docker-compose.yml up --build -d --scale worker=2   (REDIS_PASSWORD: 48 random hex digits; web on $WEB_URL)"
t=$(now)
"${DC[@]}" up --build -d --scale worker=2 >"$LOGS/up-build.log" 2>&1 || { tail -40 "$LOGS/up-build.log"; fail "docker-compose up --build"; }
note "up --build (images built or taken from the build cache, containers started): $(since "$t") s"
UP_T=$t
df -h /var/lib/docker | tail -1 | awk '{print "    disk after the build: " $4 " free on " $6}'

cid() { "${DC[@]}" ps -q "$1" | head -${2:-1} | tail -1; }
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$1"; }
inspect_times() {  # container -> "started_at first_passing_healthcheck_at" (unix s; ? when none passed yet)
    docker inspect "$1" | python3 -c '
import datetime, json, re, sys
def ts(s):  # RFC 3339 with nanoseconds, as docker writes it
    base, frac, tz = re.match(r"(.*?T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s).groups()
    return datetime.datetime.fromisoformat(base + ("+00:00" if tz == "Z" else tz)).timestamp() + float(frac or 0)
state = json.load(sys.stdin)[0]["State"]
ok = [ts(e["End"]) for e in (state.get("Health") or {}).get("Log") or [] if e["ExitCode"] == 0]
started = ts(state["StartedAt"])
print(f"{started:.3f}", f"{min(ok):.3f}" if ok else "?")'
}
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }
wait_stack() {  # label, time `up` began. Health-check times come from docker's health log, not from polling.
    local label=$1 up_t=$2 redis web deadline r_start r_ok w_start w_ok w_http
    deadline=$(( $(date +%s) + 180 ))
    redis=$(cid redis); web=$(cid web)
    until [ "$(health "$redis")" = healthy ]; do [ "$(date +%s)" -lt $deadline ] || fail "redis never healthy"; sleep 0.2; done
    read -r r_start r_ok <<<"$(inspect_times "$redis")"
    until curl -fsS "$WEB_URL/_stcore/health" >/dev/null 2>&1; do [ "$(date +%s)" -lt $deadline ] || fail "web never answered $WEB_URL/_stcore/health"; sleep 0.2; done
    w_http=$(now)
    until [ "$(health "$web")" = healthy ]; do [ "$(date +%s)" -lt $deadline ] || fail "web container never healthy: $(health "$web")"; sleep 0.5; done
    read -r w_start w_ok <<<"$(inspect_times "$web")"
    note "$label: redis healthy $(secs "$r_start" "$r_ok") s after its container started; web container started $(secs "$r_start" "$w_start") s after redis (it waits for redis healthy)"
    note "$label: web answers /_stcore/health $(secs "$w_start" "$w_http") s after its container started; its HEALTHCHECK (every 15 s) passed at $(secs "$w_start" "$w_ok") s; whole stack healthy $(secs "$up_t" "$w_ok") s after 'up' began"
}
wait_stack "first up" "$UP_T"

REDIS_C=$(cid redis); WEB_C=$(cid web)
WORKERS=($("${DC[@]}" ps -q worker))
[ ${#WORKERS[@]} -eq 2 ] || fail "expected 2 worker containers, got ${#WORKERS[@]}"
for c in "${WORKERS[@]}"; do [ "$(health "$c")" = running ] || fail "worker $c is $(health "$c")"; done
log "containers: redis $(docker inspect -f '{{.Name}}' "$REDIS_C"), web $(docker inspect -f '{{.Name}}' "$WEB_C"), workers $(for c in "${WORKERS[@]}"; do docker inspect -f '{{.Name}}' "$c"; done | tr '\n' ' ')"

# Redis: no host port, and a password is required.
ports=$(docker inspect -f '{{range $p, $b := .NetworkSettings.Ports}}{{$p}}->{{$b}} {{end}}' "$REDIS_C")
[ -z "$(docker port "$REDIS_C")" ] || fail "redis publishes a host port: $(docker port "$REDIS_C")"
log "redis ports: ${ports:-none} (no host binding)"
noauth=$(docker exec "$REDIS_C" sh -c 'unset REDISCLI_AUTH; redis-cli ping' 2>&1 || true)
case "$noauth" in *NOAUTH*) log "redis without the password: $noauth";; *) fail "redis answered without a password: $noauth";; esac
[ "$(docker exec "$REDIS_C" redis-cli config get appendonly | tail -1)" = yes ] || fail "redis append-only file is off"
docker port "$WEB_C" | sed 's/^/    web port: /'

# A real browser renders the Launch page served by the web container.
t=$(now)
python3 - "$WEB_URL" "$CHROMIUM" "$LOGS/launch.png" <<'EOF' || fail "the Launch page did not render in chromium"
import sys
from playwright.sync_api import sync_playwright
url, chromium, shot = sys.argv[1:]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_text("Launch a training run").wait_for()
    page.get_by_role("button", name="Launch run").wait_for()
    errors = page.locator('[data-testid="stException"]').count()
    page.screenshot(path=shot, full_page=True)
    browser.close()
    assert errors == 0, f"{errors} exception box(es) on the page"
    print("    chromium: 'Launch a training run' and the 'Launch run' button rendered, no exception box")
EOF
note "browser: Launch page rendered from the container in $(since "$t") s (screenshot $LOGS/launch.png)"

# -- 5. runs through the web container's workers modules -----------------------------------------------
# No download works here: a small synthetic dataset in MNIST's layout goes into the dataset volume.
docker exec "${WORKERS[0]}" python -c "
from snn_core.data import make_synthetic
make_synthetic('/data', n_train=10000, n_test=500, seed=0)
print('    synthetic MNIST-layout dataset written to the dataset volume (10000 train / 500 test)')"

web_py() { docker exec -i "$WEB_C" python - "$@"; }
submit() {  # JSON config -> run id, through workers.submission in the web container
    web_py "$1" <<'EOF'
import json, sys
from workers import connection, submission
result = submission.submit_run(connection.connect(), json.loads(sys.argv[1]), force=True)
print(result.record.id)
EOF
}
record() {  # run id -> "status worker epochs-seen"
    web_py "$1" <<'EOF'
import sys
from workers import connection
from workers.store import RunStore
store = RunStore(connection.connect())
rec = store.require_run(sys.argv[1])
epochs = ",".join(str(e["epoch"]) for e in store.epoch_history(rec.id)) or "-"
prog = rec.progress or {}
at = f"{prog.get('epoch', 0)}:{prog.get('batch') or 0}/{prog.get('batches') or '?'}"
resumed = prog.get("resumed_from")
resumed = f"{resumed['epoch']}:{resumed['batch']}" if resumed else "-"
print(rec.status.value, rec.worker or "-", epochs, at, resumed, (rec.error or "").replace(" ", "_")[:200] or "-")
EOF
}
rec() {  # run id -> sets ST WK EP AT RES ERR: status, worker, epochs stored, progress epoch:batch/batches,
         # the checkpoint (epoch:batch) a resume started from while that is the latest progress, error
    local r
    r=$(record "$1") || fail "reading run $1 through the web container"
    read -r ST WK EP AT RES ERR <<<"$r"
}
wait_status() {  # run id, wanted status, timeout s
    local deadline=$(( $(date +%s) + $3 ))
    while :; do
        rec "$1"
        [ "$ST" = "$2" ] && return 0
        case "$ST" in failed|cancelled) fail "run $1 ended $ST: $ERR";; esac
        [ "$(date +%s)" -lt $deadline ] || fail "run $1 not $2 after $3 s (now: $ST $WK $EP)"
        sleep 1
    done
}
container_of() {  # RQ worker name (hostname.pid) -> container id
    local host=${1%%.*} c
    for c in "${WORKERS[@]}"; do [ "$(docker inspect -f '{{.Config.Hostname}}' "$c")" = "$host" ] && { echo "$c"; return; }; done
}

SHORT='{"T": 10, "epochs": 2, "train_limit": 1000, "test_limit": 200, "hidden": [10], "seed": 1}'
t=$(now)
RUN1=$(submit "$SHORT") || fail "submitting through the web container"
wait_status "$RUN1" finished 600
c=$(container_of "$WK")
[ -n "$c" ] || fail "run $RUN1 was trained by $WK, not by one of the worker containers"
note "short run $RUN1 (T=10, 2 epochs, 1000 images): submitted in the web container, trained by $(docker inspect -f '{{.Name}}' "$c") ($WK), finished in $(since "$t") s; epochs $EP"

# A long run; once it has its epoch-1 checkpoint and is a fifth into epoch 2, docker kill the container
# training it. The other worker's reaper sees the lease lapse and requeues the run, which resumes from
# the checkpoint: epoch 2 is trained again, epoch 1 is not, no epoch is lost or stored twice.
EPOCHS=3
LONG='{"T": 40, "epochs": '$EPOCHS', "hidden": [128], "seed": 2}'
RUN2=$(submit "$LONG") || fail "submitting through the web container"
t=$(now)
while :; do
    rec "$RUN2"
    if [ "$ST" = running ] && [ "$EP" = 1 ] && [ "${AT%%:*}" = 2 ]; then
        b=${AT#*:}; n=${b#*/}; b=${b%/*}
        [ "$n" != "?" ] && [ $((b * 5)) -ge "$n" ] && break
    fi
    case "$ST" in finished|failed|cancelled) fail "long run $RUN2 ended ($ST) before the kill";; esac
    [ "$(since "$t" | cut -d. -f1)" -lt 600 ] || fail "long run $RUN2 never got into epoch 2 (now: $ST $EP $AT)"
    sleep 0.3
done
victim=$(container_of "$WK")
[ -n "$victim" ] || fail "long run trained by $WK, not a worker container"
for c in "${WORKERS[@]}"; do [ "$c" != "$victim" ] && other=$c; done
docker kill "$victim" >/dev/null
t=$(now)
rec "$RUN2"
kill_epochs=$EP; kill_at=$AT
log "long run $RUN2 (T=40, hidden 128, $EPOCHS epochs of 10000 images) on $(docker inspect -f '{{.Name}}' "$victim"): docker kill at epoch:batch $kill_at, epochs stored: $kill_epochs"
[ "$kill_epochs" = 1 ] || fail "the kill did not land in epoch 2 (epochs stored: $kill_epochs)"
while :; do
    rec "$RUN2"
    if [ "$ST" = running ] && [ "$(container_of "$WK")" = "$other" ]; then break; fi
    [ "$(since "$t" | cut -d. -f1)" -lt 180 ] || fail "nobody resumed $RUN2 within 180 s (now: $ST $WK $EP $AT)"
    sleep 0.2
done
took_over=$(since "$t")
first_at=$AT; first_res=$RES
# Resumed from the epoch-1 checkpoint, the new horse starts in epoch 2 (from scratch it would say epoch 1).
[ "${first_at%%:*}" -ge 2 ] || fail "the other worker started the run at epoch:batch $first_at, not from the checkpoint"
note "docker kill at epoch:batch $kill_at: $(docker inspect -f '{{.Name}}' "$other") took the run over $took_over s after the kill (lease 15 s), first seen at epoch:batch $first_at$([ "$first_res" != - ] && echo ", resumed from checkpoint $first_res")"
wait_status "$RUN2" finished 900
want=$(seq -s, 1 $EPOCHS)
[ "$EP" = "$want" ] || fail "long run epochs $EP, wanted $want (lost or repeated epochs)"
note "long run finished on $(docker inspect -f '{{.Name}}' "$(container_of "$WK")") $(since "$t") s after the kill; epochs stored $EP: each once"
log "killed worker container: $(health "$victim"), restarts $(docker inspect -f '{{.RestartCount}}' "$victim") (unless-stopped does not restart what docker kill stopped)"

# -- 6. down, up: the data is kept --------------------------------------------------------------------
snapshot() {
    web_py <<'EOF'
from workers import connection
from workers.store import RunStore
store = RunStore(connection.connect())
for rec in sorted(store.list_runs(), key=lambda r: r.id):
    epochs = store.epoch_history(rec.id)
    ckpt = store.load_checkpoint(rec.id)
    print(f"{rec.id} {rec.status.value} epochs={','.join(str(e['epoch']) for e in epochs)} "
          f"metric_entries={len(store.read_metrics(rec.id))} probe_epochs={','.join(map(str, store.probe_epochs(rec.id)))} "
          f"checkpoint_bytes={len(ckpt) if ckpt else 0} test_acc={[round(e['test_acc'], 4) for e in epochs]}")
EOF
}
before=$(snapshot)
echo "$before" | sed 's/^/    before down: /'
t=$(now)
"${DC[@]}" down >>"$LOGS/down.log" 2>&1
log "docker-compose down: $(since "$t") s (volumes kept)"
t=$(now)
"${DC[@]}" up -d --scale worker=2 >"$LOGS/up2.log" 2>&1 || { tail -20 "$LOGS/up2.log"; fail "second up"; }
wait_stack "second up" "$t"
REDIS_C=$(cid redis); WEB_C=$(cid web); WORKERS=($("${DC[@]}" ps -q worker))
after=$(snapshot)
echo "$after" | sed 's/^/    after up:    /'
[ -n "$before" ] && [ "$before" = "$after" ] || fail "data changed across down/up"
note "down/up: all $(echo "$after" | wc -l) runs kept, each with the same epochs, metric entries, probes and checkpoint after docker-compose down + up"

# -- 7. images --------------------------------------------------------------------------------------
WEB_IMG=$(docker inspect -f '{{.Image}}' "$WEB_C"); WORKER_IMG=$(docker inspect -f '{{.Image}}' "${WORKERS[0]}")
if docker run --rm --entrypoint python "$WEB_IMG" -c "import torch" >/dev/null 2>&1; then fail "the web image can import torch"; fi
docker run --rm --entrypoint python "$WEB_IMG" -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ('torch', 'torchvision', 'numba')))" \
    || fail "the web image holds torch, torchvision or numba"
docker run --rm --entrypoint python "$WORKER_IMG" -c "import torch" || fail "the worker image has no torch"
size() { docker image inspect -f '{{.Size}}' "$1"; }
ws=$(size "$WEB_IMG"); ks=$(size "$WORKER_IMG"); base=$(size python:3.11-slim)
[ $((ks)) -gt $((3 * ws)) ] || fail "web image ($ws B) not much smaller than the worker image ($ks B)"
note "image sizes: web $((ws / 1000000)) MB, worker $((ks / 1000000)) MB (base python:3.11-slim $((base / 1000000)) MB); web has no torch/torchvision/numba"
log "user in the images: web $(docker run --rm --entrypoint id "$WEB_IMG" -un), worker $(docker run --rm --entrypoint id "$WORKER_IMG" -un)"

echo
echo "== summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores) =="
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "  total: $(since "$START") s"
log "all checks passed"
exit 0
}
