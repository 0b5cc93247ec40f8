# Sourced by the benchmark scripts: starts a private mosquitto on a free loopback port.
#
# private_broker DIR: writes DIR/mosquitto.conf, starts the broker (log in DIR/broker.log) and
# waits until it accepts connections; sets PORT and BROKER_PID (the caller kills it on exit).
# MAX_QUEUED_BYTES (default 1 GB) bounds what the broker holds for a subscriber that lags.
private_broker() {
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat > "$1/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_queued_bytes ${MAX_QUEUED_BYTES:-1000000000}
persistence false
user root
CONF
    mosquitto -c "$1/mosquitto.conf" > "$1/broker.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.05; done
}
