#!/bin/sh
# Starts mosquitto 2 with the committed mosquitto.conf plus the authentication the environment
# asks for (compose mounts this folder at /iotp):
#   ./passwd present in this folder   that password file (mosquitto_passwd -c, several users);
#                                     MQTT_USER/MQTT_PASSWORD must be one of them (Node-RED and
#                                     the health check log in with them);
#   MQTT_USER and MQTT_PASSWORD set   a password file is written from them (hashed by
#                                     mosquitto_passwd) and anonymous clients are refused;
#   neither                           anonymous mode: the demo default. The broker is then open to
#                                     anyone who can reach MQTT_PORT; keep it on localhost or set
#                                     credentials.
# IOTP_MOSQUITTO_SRC / IOTP_MOSQUITTO_RUN move the input/output folders (for the tests);
# IOTP_MOSQUITTO_DRY_RUN=1 prints the effective config's path instead of starting the broker.
set -eu
src=${IOTP_MOSQUITTO_SRC:-/iotp}
run=${IOTP_MOSQUITTO_RUN:-/mosquitto/data}
effective="$run/mosquitto.effective.conf"
mkdir -p "$run"
cp "$src/mosquitto.conf" "$effective"
printf '\n# --- authentication (written by entrypoint.sh) ---\n' >> "$effective"
if [ -f "$src/passwd" ]; then
  cp "$src/passwd" "$run/passwd"
  printf 'allow_anonymous false\npassword_file %s\n' "$run/passwd" >> "$effective"
  echo "mosquitto: password authentication from docker/mosquitto/passwd"
elif [ -n "${MQTT_USER:-}" ]; then
  if [ -z "${MQTT_PASSWORD:-}" ]; then
    echo "mosquitto: MQTT_USER is set but MQTT_PASSWORD is not" >&2
    exit 1
  fi
  rm -f "$run/passwd"
  mosquitto_passwd -c -b "$run/passwd" "$MQTT_USER" "$MQTT_PASSWORD"
  printf 'allow_anonymous false\npassword_file %s\n' "$run/passwd" >> "$effective"
  echo "mosquitto: password authentication for user $MQTT_USER (from MQTT_USER/MQTT_PASSWORD)"
else
  printf 'allow_anonymous true\n' >> "$effective"
  echo "mosquitto: WARNING anonymous mode (set MQTT_USER and MQTT_PASSWORD in .env to require a password)"
fi
# mosquitto drops root for its own user and wants its password file private to it.
if [ -f "$run/passwd" ]; then
  chmod 0600 "$run/passwd"
  if id mosquitto >/dev/null 2>&1; then chown mosquitto:mosquitto "$run/passwd" "$effective"; fi
fi
if [ "${IOTP_MOSQUITTO_DRY_RUN:-}" = "1" ]; then
  echo "$effective"
  exit 0
fi
exec mosquitto -c "$effective"
