#!/usr/bin/env bash
# The local cloud's EC2 API: a moto server on 127.0.0.1.
#   scripts/local_cloud.sh start    start it unless it already answers
#   scripts/local_cloud.sh stop     stop the one this script started
#   scripts/local_cloud.sh status   say whether it answers
# The instances it emulates are backed by containers (roles/local_cloud);
# its state lives in memory, so after a stop the next provision starts afresh
# and the backend removes the containers of the instances that are gone.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PORT=${GEOSTACK_MOTO_PORT:-4566}
STATE=${GEOSTACK_STATE_DIR:-$here/.cache/local_cloud}
PIDFILE=$STATE/moto-$PORT.pid
LOG=$STATE/moto-$PORT.log
MOTO=${GEOSTACK_VENV:-$here/.venv}/bin/moto_server

say() { printf '[local-cloud] %s\n' "$*"; }
answers() {
  # moto answers its own dashboard API; anything else on the port is not ours.
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$PORT/moto-api/data.json" 2>/dev/null
}

case "${1:-status}" in
  start)
    if answers; then say "EC2 emulator answers on 127.0.0.1:$PORT"; exit 0; fi
    [ -x "$MOTO" ] || { say "ERROR: $MOTO not found; run 'make setup' first" >&2; exit 1; }
    mkdir -p "$STATE"
    nohup "$MOTO" -H 127.0.0.1 -p "$PORT" >>"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 50); do
      if answers; then say "EC2 emulator started on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"), log $LOG)"; exit 0; fi
      sleep 0.2
    done
    say "ERROR: the emulator did not answer on 127.0.0.1:$PORT; see $LOG" >&2
    exit 1
    ;;
  stop)
    if [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null; then
      say "EC2 emulator stopped"
    else
      say "no emulator started by this script on port $PORT"
    fi
    rm -f "$PIDFILE"
    ;;
  status)
    if answers; then say "EC2 emulator answers on 127.0.0.1:$PORT"; else say "EC2 emulator is not running"; exit 3; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
