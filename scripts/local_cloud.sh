#!/usr/bin/env bash
# The local cloud's AWS API: a moto server on 127.0.0.1 (scripts/local_cloud_server.py).
#   scripts/local_cloud.sh start    start it unless it already answers
#   scripts/local_cloud.sh stop     stop the one this script started; its state stays
#   scripts/local_cloud.sh status   say whether it answers
#   scripts/local_cloud.sh reset    stop it and forget its state (every instance)
# The instances it emulates are backed by containers (roles/local_cloud). Its
# records (instances, VPC, subnets, security groups, key pairs, tags) are
# written to a snapshot beside the local secrets after every change and loaded
# on start, so a stop, a start or a reboot keeps the cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PORT=${GEOSTACK_MOTO_PORT:-4566}
STATE=${GEOSTACK_STATE_DIR:-$here/.cache/local_cloud}
PIDFILE=$STATE/moto-$PORT.pid
LOG=$STATE/moto-$PORT.log
PYTHON=${GEOSTACK_VENV:-$here/.venv}/bin/python
SNAPSHOT=${GEOSTACK_CLOUD_STATE:-$HOME/.cache/geostack/local_cloud/aws-$PORT.state}
# How long a start waits for it to answer, and a stop for it to exit (seconds).
WAIT=${GEOSTACK_MOTO_WAIT:-90}

say() { printf '[local-cloud] %s\n' "$*"; }
answers() {
  # The server's own health answer: anything else on the port is not ours.
  python3 -c 'import sys, urllib.request
sys.exit(urllib.request.urlopen(sys.argv[1], timeout=5).read() != b"geostack local cloud\n")' \
    "http://127.0.0.1:$PORT/geostack/local-cloud/health" 2>/dev/null
}

case "${1:-status}" in
  start)
    if answers; then say "EC2 emulator answers on 127.0.0.1:$PORT"; exit 0; fi
    [ -x "$PYTHON" ] || { say "ERROR: $PYTHON not found; run 'make setup' first" >&2; exit 1; }
    mkdir -p "$STATE"
    nohup "$PYTHON" "$here/scripts/local_cloud_server.py" --port "$PORT" --state "$SNAPSHOT" >>"$LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$PIDFILE"
    # It answers in about a second on an idle machine; a busy one (a test
    # suite beside it) may take many more, so wait while it is alive.
    for _ in $(seq 1 "$((WAIT * 5))"); do
      if answers; then say "EC2 emulator started on 127.0.0.1:$PORT (pid $pid, state $SNAPSHOT, log $LOG)"; exit 0; fi
      if ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$PIDFILE"
        say "ERROR: the emulator exited before it answered on 127.0.0.1:$PORT; the end of $LOG:" >&2
        tail -n 20 "$LOG" >&2
        exit 1
      fi
      sleep 0.2
    done
    say "ERROR: the emulator (pid $pid) did not answer on 127.0.0.1:$PORT within $WAIT s; see $LOG" >&2
    exit 1
    ;;
  stop | reset)
    if [ -f "$PIDFILE" ] && pid=$(cat "$PIDFILE") && kill "$pid" 2>/dev/null; then
      # It writes its state as it exits: wait for that, or a start right
      # after would find the old one still answering, then gone.
      for _ in $(seq 1 "$((WAIT * 5))"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then
        say "ERROR: the emulator (pid $pid) did not exit within $WAIT s of SIGTERM; see $LOG" >&2
        exit 1
      fi
      say "EC2 emulator stopped"
    else
      say "no emulator started by this script on port $PORT"
    fi
    rm -f "$PIDFILE"
    if [ "$1" = reset ]; then
      rm -f "$SNAPSHOT"
      say "its state is forgotten: the next start knows no instance"
    elif [ -f "$SNAPSHOT" ]; then
      say "the cluster stays: its instances come back with 'make cloud-up' (state $SNAPSHOT); 'make cluster-down' removes it"
    fi
    ;;
  status)
    if answers; then say "EC2 emulator answers on 127.0.0.1:$PORT"; else say "EC2 emulator is not running"; exit 3; fi
    ;;
  *) echo "usage: $0 start|stop|status|reset" >&2; exit 2 ;;
esac
