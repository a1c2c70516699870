# shellcheck shell=bash
# Sourced by scripts/kubelet-e2e.sh: its verdicts, helpers and probes (they read its globals).
ok()   { echo "PASS $1${2:+: $2}"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
skip() { echo "SKIP $1${2:+: $2}"; }
# verdict NAME CONDITION-RC DETAIL
verdict() { if [[ $2 == 0 ]]; then ok "$1" "$3"; else bad "$1" "$3"; fi; }
one()  { tr '\n\r' '  ' <<<"$1" | cut -c1-240; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}'; }
now()  { date +%s.%N; }

# ---- helpers --------------------------------------------------------------------------------
uid_of()   { "${K[@]}" get pod "$1" -o jsonpath='{.metadata.uid}' 2>/dev/null; }
# crictl ids (sandboxes / all containers) labelled with a pod UID
sandboxes_of()  { "${C[@]}" pods --label "io.kubernetes.pod.uid=$1" -q 2>/dev/null; }
containers_of() { "${C[@]}" ps -a --label "io.kubernetes.pod.uid=$1" -q 2>/dev/null; }
# cid POD-UID CONTAINER-NAME [STATE]: the newest container of that name
cid() { "${C[@]}" ps -a --label "io.kubernetes.pod.uid=$1" --name "^$2\$" ${3:+--state "$3"} --latest -q 2>/dev/null; }
# remember the sandbox ids of all our pods (the kubelet copies pod labels onto sandboxes), so the
# leftover checks at the end cover every e2e pod, not only e2e-main
remember_sandboxes() { "${C[@]}" pods --label "$SEL" -q >>"$TMP/sandboxes" 2>/dev/null; }
ready_wait() { "${K[@]}" wait --for=condition=Ready "pod/$1" --timeout="${2:-120}s" >/dev/null 2>&1; }
pod_json() { "${K[@]}" get pod "$1" -o json 2>/dev/null; }
# until_ok SECONDS CMD...: retry CMD every second until it succeeds or SECONDS passed
until_ok() {
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do (( $(date +%s) >= end )) && return 1; sleep 1; done
}
veth_count() { ip -o link show type veth 2>/dev/null | wc -l; }
nsfs_count() { awk '$9 == "nsfs"' /proc/self/mountinfo | wc -l; }
netns_list() { find /run/netns /var/run/netns -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -u | tr '\n' ' '; }
# kubelet_get PATH: the kubelet API through the API server's node proxy, or, where the API server
# refuses to proxy to the node's address (the lab's lab-node -> 127.0.0.1: "address not allowed"),
# straight from the kubelet's port (KUBELET_URL, anonymous access as the lab kubelet allows).
kubelet_get() {
  "${K[@]}" get --raw "/api/v1/nodes/lab-node/proxy/$1" 2>/dev/null ||
    curl -sfk -m 10 "$KUBELET_URL/$1" 2>/dev/null
}
summary() { kubelet_get stats/summary; }

# ---- probes of what a deleted pod may leave behind (globals set by the caller) --------------
mounts_naming() { [[ -n $ids_re ]] && grep -E "$ids_re" /proc/self/mountinfo | awk '{print $5}'; }
ns_pins() { awk -v want=" $pod_ns" '$9 == "nsfs" && index(want, " " $4 " ") {print $4 "@" $5}' /proc/self/mountinfo; }
procs_naming() {
  local f cmd
  for f in /proc/[0-9]*/cmdline; do
    cmd=$(exec 2>/dev/null; tr '\0' ' ' <"$f") || continue   # the process may be gone
    [[ -n $ids_re && $cmd =~ $ids_re ]] && { f=${f#/proc/}; echo "${f%/cmdline}:${cmd:0:70}"; }
  done
}
procs_in_ns() { (( ${#lnames[@]} )) && find /proc/[0-9]*/ns -maxdepth 1 \( "${lnames[@]}" \) 2>/dev/null; }
cgroups_of() { find /sys/fs/cgroup -mindepth 2 -maxdepth 7 -type d \( "${cgnames[@]}" \) 2>/dev/null; }
veth_there() { [[ -n $host_if ]] && ip -o link show 2>/dev/null | awk -F': ' -v n="$host_if" '{sub(/@.*/, "", $2)} $2 == n'; }
# host-local IPAM lease files: named after the IP, holding the container (sandbox) id
leases() {
  local ld s lds
  IFS=: read -r -a lds <<<"${LEASE_DIR:-}"
  for ld in "${lds[@]}"; do
    [[ -d $ld ]] || { echo "(no dir $ld)"; continue; }
    [[ -n $pod_ip && -e $ld/$pod_ip ]] && echo "$ld/$pod_ip"
    for s in $sb_ids; do grep -rlF "$s" "$ld" 2>/dev/null; done
  done
}
cnt() { "$@" | grep -c .; }

# ---- crash-backoff, watched in the background while the other checks run ---------------------
# Polls e2e-crash every second for up to 120 s; writes one PASS/FAIL line to $TMP/crash.result.
crash_watch() {
  local end=$(( $(date +%s) + 120 )) seen="" rc=0 last="" reason st j="" cuid id code
  while (( $(date +%s) < end )); do
    j=$(pod_json e2e-crash) || { sleep 1; continue; }
    st=$(jq -r '.status.containerStatuses[0] // {} | [(.restartCount // 0), (.lastState.terminated.exitCode // "-"), (.state.waiting.reason // ((.state // {}) | keys[0]) // "-")] | @tsv' <<<"$j")
    IFS=$'\t' read -r rc last reason <<<"$st"
    [[ $reason == CrashLoopBackOff ]] && seen=yes
    (( rc >= 2 )) && [[ $last == 3 && -n $seen ]] && break
    sleep 1
  done
  cuid=$(jq -r .metadata.uid <<<"$j")
  id=$(cid "$cuid" crash exited) code=""
  [[ -n $id ]] && code=$("${C[@]}" inspect "$id" 2>/dev/null | jq -r .status.exitCode)
  local d
  d="restartCount $rc, lastState.terminated.exitCode $last, CrashLoopBackOff ${seen:-never} seen, crictl exitCode of last exited container ${code:-?} ($(since "$t_create")s after create)"
  if (( rc >= 2 )) && [[ $last == 3 && -n $seen && ${code:-3} == 3 ]]; then echo "PASS crash-backoff: $d"
  else echo "FAIL crash-backoff: $d"; fi > "$TMP/crash.result"
}

cleanup() {
  local p
  for p in "${bgpids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${bgpids[@]}"; do wait "$p" 2>/dev/null; done
  if [[ -n $("${K[@]}" get pods -l "$SEL" -o name 2>/dev/null) ]]; then
    "${K[@]}" delete pods -l "$SEL" --grace-period=2 --timeout=60s >/dev/null 2>&1 ||
      "${K[@]}" delete pods -l "$SEL" --grace-period=0 --force >/dev/null 2>&1
  fi
  [[ -n $gc_pulled ]] && "${C[@]}" rmi "$IMAGE_GC_IMAGE" >/dev/null 2>&1
  rm -rf "$TMP" "$HOSTDIR"
}

stats_ok() {
  summary | jq -e --arg uid "$MAIN_UID" '
    [.pods[] | select(.podRef.uid == $uid) | .containers[]] as $c
    | ($c | length) == 2 and all($c[]; ((.cpu.usageNanoCores // 0) > 0 or (.cpu.usageCoreNanoSeconds // 0) > 0)
        and (.memory.workingSetBytes // 0) > 0 and (.rootfs.usedBytes != null))' >/dev/null 2>&1
}

restart_counts() { "${K[@]}" get pod e2e-main -o jsonpath='{range .status.containerStatuses[*]}{.name}={.restartCount} {end}' 2>/dev/null; }
