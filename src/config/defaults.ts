/** The config file read when none is named. */
export const DEFAULT_CONFIG_PATH = '/etc/coracle/coracle.toml';

/**
 * The embedded defaults, as the TOML that `coracle config default` prints. It is the one
 * source of the defaults: the loader parses it and lays the user's file over it.
 */
export const DEFAULT_CONFIG_TOML = `# Coracle configuration. Every key below is at its default; a file needs only the keys it
# changes. Command-line flags override the file.

# Durable state: images, snapshots, pod and container records.
root = "/var/lib/coracle"
# Volatile state: sockets, namespace pins, monitors' files. Lost at reboot, as it should be.
state = "/run/coracle"

[grpc]
# The CRI socket that kubelet and crictl connect to (mode 0660, parent dir 0700).
socket = "/run/coracle/coracle.sock"
# Message size limits in bytes, as kubelet's.
max_recv_message_size = 16777216
max_send_message_size = 16777216

[log]
# error, warn, info or debug.
level = "info"
# json (one object per line) or text.
format = "json"

[runtime]
# The handler used when a pod names no RuntimeClass handler.
default_handler = "runc"

# Handlers: RuntimeClass handler name -> OCI runtime binary (a name on PATH or a path).
[runtime.handlers.runc]
path = "runc"

[runtime.handlers.crun]
path = "crun"

[cni]
# The cluster's network configs. CRI pods use the first one (sorted by name) in conf_dir, as
# libcni does; Coracle never writes there, and NetworkReady stays false until one appears.
conf_dir = "/etc/cni/net.d"
# Where plugin binaries are looked for, in order.
bin_dirs = ["/usr/lib/cni", "/opt/cni/bin"]
# Coracle's own network: a bridge with host-local IPAM and portmap, its config written to
# ROOT/cni/net.d. The CLI's containers always use it (as nerdctl's default network).
network_name = "coracle"
bridge = "coracle0"
pod_subnet = "10.88.0.0/16"
# Which network CRI pods get: "" for the cluster's (conf_dir), or network_name to put them on
# Coracle's own network, for a node with no cluster CNI.
pod_network = ""

[image]
# Layers downloaded at once per pull.
max_concurrent_downloads = 3
# A pull that receives no bytes for this many seconds is cancelled.
pull_progress_timeout = 60

[streaming]
# host:port of the exec/attach/port-forward server; port 0 picks a free one. The URLs point
# here (kubelet's); [remote] listen also serves it, to "coracle -H tcp://".
address = "127.0.0.1:0"
# A streaming connection with no traffic for this many seconds is closed (4 h, as kubelet).
idle_timeout = 14400
# Seconds a client has to send its request (the upgrade) after connecting.
handshake_timeout = 5
# Seconds an exec or attach client has, once upgraded, to open its streams (30 s, as kubelet);
# and a port-forward stream to be joined by its pair.
stream_creation_timeout = 30
# Bytes one SPDY header block may inflate to; a larger one closes that connection.
max_header_bytes = 262144
# Streams open at once on one SPDY connection; more are refused (an exec opens up to 5,
# a port-forward 2 per forwarded connection: kubectl port-forward opens a pair per TCP
# connection it forwards).
max_streams_per_connection = 1024
# Bytes one connection may hold that were received and not yet read by their destination,
# each piece charged 256 bytes more for its bookkeeping and each open SPDY stream 2 KiB; past
# it the connection is not read until they are (a stream nobody reads yet is reset at a
# quarter of this). The same cap, counted apart, applies to what a SPDY connection has queued
# for its client to read: past it every source feeding the connection (a forwarded port, a
# process's output) is held and new streams are refused, until half of it is read.
max_buffered_bytes = 4194304
# The same over all connections together: past it, a connection holding more than 256 KiB is
# not read until the total is back under. What the streaming server holds of its clients'
# input is thus at most this plus 256 KiB per connection (64 + 128 x 0.25 = 96 MiB with these
# defaults); add per connection its socket buffers and one websocket message being received
# (at most a quarter of max_buffered_bytes, and 1 MiB). What SPDY connections queue for their
# clients counts toward this total too.
max_total_buffered_bytes = 67108864
# Connections upgraded with a valid token, at once; one more is answered 503 and closed.
max_connections = 128
# Connections not upgraded yet, at once (each has handshake_timeout to upgrade); one more
# closes the oldest of them.
max_pending_connections = 64

[remote]
# Also serve both CRI services and Coracle's own on tcp://HOST:PORT, with mutual TLS only:
# the daemon's certificate and key, and the CA whose signature a client's certificate must
# carry. Empty: the unix socket alone. The streaming server (exec, attach, port-forward) is
# served there too, to clients that negotiate ALPN http/1.1 (or none): "coracle -H tcp://"
# streams over it, never over [streaming] address.
listen = ""
ca = ""
cert = ""
key = ""
# Which client certificates the CA signed are let in: any certificate matching one entry of
# either list. Empty both: every one the CA signed, each one root on this node (the daemon
# warns at start). A refused client gets PERMISSION_DENIED (403 on a streaming connection);
# its subject is logged.
#  allowed_subjects: ATTR=value pairs joined by commas, all of which the certificate's
#    subject must have: ["CN=admin", "CN=ops,O=Example"]; a comma inside a value is
#    escaped, "O=Ops\\\\, Inc" in TOML.
#  allowed_sans: subjectAltNames, one of which the certificate must carry: "DNS:name" (no
#    wildcards), "IP:address", "URI:uri" (exact, as spiffe://cluster/ns/x), "email:address".
# TLS 1.3 only. SIGHUP rereads ca, cert and key (new connections use them; open ones keep
# theirs) and, from this file, the two allow-lists: open connections they no longer let in
# are closed. A file or config that does not load leaves the old ones in use and is logged
# as an error; other settings, listen and the paths included, take a restart.
allowed_subjects = []
allowed_sans = []

[metrics]
# host:port to serve Prometheus metrics on, at /metrics ([v6]:port for IPv6; port 0 picks a
# free one, logged at start). Plain HTTP with no authentication: keep it on loopback or a
# node-local address. Empty: off, and none of it is loaded. The metrics: docs/metrics.md.
address = ""

[registry]
# The daemon's own registry credentials: a docker-config-format file (the "auths" of
# ~/.docker/config.json: {"auths": {"HOST[:PORT]": {"auth": base64(user:password)}}}, Docker
# Hub's key "https://index.docker.io/v1/"), absolute; empty for none. Used for a pull whose
# request carries no credentials (kubelet's come first), read at each such pull. It must be
# owned by root with mode 0600 or stricter, else the pull fails naming the file. Credential
# helpers (credsStore, credHelpers) are not supported: only "auths" is read.
config_path = ""

# Registry hosts, by the host name that image references use. For each: mirrors tried in
# order; plain_http allows http:// mirrors and reaching the host itself over http;
# no_fallback stops the host itself from being tried after its mirrors. For example:
#
# [registry.hosts."docker.io"]
# mirrors = ["http://127.0.0.1:5000"]
# plain_http = true
# no_fallback = true
[registry.hosts]
`;
