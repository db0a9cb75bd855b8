#!/bin/sh
# The `bootlab` command inside the container (docker compose exec bootlab bootlab token,
# ... bootlab check-config): the same CLI as serve, from /app, so the default
# config/appliance.yaml and the state volume are the running appliance's.
cd /app && exec node /app/dist/services/cli.js "$@"
