#!/bin/sh
# Healthy = the broker answers a subscription to its uptime topic (with the stack's credentials
# when it requires them).
set -eu
if [ -n "${MQTT_USER:-}" ]; then
  exec mosquitto_sub -h 127.0.0.1 -p 1883 -u "$MQTT_USER" -P "${MQTT_PASSWORD:-}" -t '$SYS/broker/uptime' -C 1 -W 3
fi
exec mosquitto_sub -h 127.0.0.1 -p 1883 -t '$SYS/broker/uptime' -C 1 -W 3
