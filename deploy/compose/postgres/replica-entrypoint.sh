#!/bin/bash
# The replica: on first start, clone the primary (pg_basebackup -R writes the standby
# settings), then run as a hot standby streaming from it.
set -euo pipefail
DATA=/var/lib/postgresql/data
if [ ! -s "$DATA/PG_VERSION" ]; then
  until pg_basebackup -h postgres-primary -U replicator -D "$DATA" -R -X stream \
          --checkpoint=fast; do
    echo "waiting for the primary..."; sleep 2
  done
  chmod 0700 "$DATA"
fi
exec postgres -c hot_standby=on -c max_connections=300
