#!/usr/bin/env bash
# kubelet end-to-end checks of a CRI runtime, for what critest does not cover: a real kubelet
# (v1.26.1) drives the runtime, kubectl drives the kubelet. Runs against the one-node control plane
# of the shared lab (shared/kubelet-env/k8s-up.sh ENDPOINT): namespace default, node lab-node, no
# scheduler (pods set nodeName), images busybox:latest and registry.k8s.io/e2e-test-images/httpd
# from the lab registry.
#
# Pods (label lab=kubelet-e2e), all removed on exit:
#   e2e-main   init container -> emptyDir + hostPath; httpd serving the emptyDir; busybox "box"
#              (prints "tick N" every second, echoes "stdin: LINE" for attached stdin)
#   e2e-term   one container that traps SIGTERM and exits, one that logs and ignores it
#   e2e-crash  `exit 3` under restartPolicy Always
#   e2e-after  created after the runtime restart (RESTART_CMD)
# Checks: init-container, emptydir, hostpath, grace-term, grace-kill, crash-backoff, imagefs-stats,
# image-gc, pod-stats, logs-follow, exec-tty, port-forward, attach, cp-in, cp-out,
# restart-survive, restart-new-pod, and after deleting e2e-main: gone-crictl, gone-mounts,
# gone-netns, gone-veth, gone-process, gone-cgroup, gone-lease (crictl, mounts, processes and cgroups
# also for the sandbox ids of the other e2e pods).
# Prints PASS/FAIL/SKIP per check and ends with "N passed, M failed" (SKIP not counted); exit 1
# if any failed.
#
# Usage: kubelet-e2e.sh unix:///path/to/cri.sock      (the endpoint k8s-up.sh was started with)
# Environment:
#   RESTART_CMD    shell command that SIGKILLs the runtime daemon and starts it again (returns once
#                  it is started); unset: the restart checks print SKIP
#   LEASE_DIR      colon-separated host-local IPAM lease dirs of the runtime's pod network (files
#                  named after the leased IP); unset: gone-lease prints SKIP
#   IMAGE_GC_WAIT  seconds to wait for the kubelet's image GC to remove an unused image pulled with
#                  crictl at the start (default 0: only the GC configuration is reported). Needs a
#                  kubelet with GC enabled and the disk above imageGCHighThresholdPercent (the lab's
#                  config sets 100 = GC disabled). GC runs every 5 min and removes only images first
#                  seen by an earlier GC/detection pass at least imageMinimumGCAge (default 2m) ago,
#                  so a fresh image can take up to two periods: IMAGE_GC_WAIT=660 to be sure.
#   IMAGE_GC_IMAGE the unused image pulled for that (default registry.k8s.io/e2e-test-images/nginx:1.14-2)
#   PF_PORT        local port for port-forward (default 18081)
#   KUBELET_URL    kubelet API for /stats/summary and /configz when the API server's node proxy
#                  refuses (default https://127.0.0.1:10250)
#   LAB_DIR        default /opt/lab (kubectl, crictl in $LAB_DIR/bin)
set -uo pipefail
LAB_DIR=${LAB_DIR:-/opt/lab}
EP=${1:?usage: kubelet-e2e.sh unix:///path/to/cri.sock}
[[ $EP == unix:///* ]] || { echo "endpoint must be unix:///path (got '$EP')" >&2; exit 2; }
export KUBECONFIG=${KUBECONFIG:-$LAB_DIR/k8s/admin.kubeconfig} KUBECACHEDIR=${KUBECACHEDIR:-$LAB_DIR/k8s/kubectl-cache}
KUBECTL=$LAB_DIR/bin/kubectl CRICTL=$LAB_DIR/bin/crictl
K=("$KUBECTL" --request-timeout=30s)
C=("$CRICTL" --runtime-endpoint "$EP" --image-endpoint "$EP" --timeout 30s)
PF_PORT=${PF_PORT:-18081}
KUBELET_URL=${KUBELET_URL:-https://127.0.0.1:10250}
IMAGE_GC_WAIT=${IMAGE_GC_WAIT:-0}
IMAGE_GC_IMAGE=${IMAGE_GC_IMAGE:-registry.k8s.io/e2e-test-images/nginx:1.14-2}
SEL=lab=kubelet-e2e
TMP=$(mktemp -d /tmp/kubelet-e2e.XXXXXX)
HOSTDIR=$(mktemp -d /tmp/kubelet-e2e-host.XXXXXX)   # the hostPath volume
TOKEN=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
pass=0 fail=0 bgpids=() gc_pulled=""
START=$(date +%s)

# ok/bad/skip/verdict, the kubectl/crictl/kubelet helpers and the probes: kubelet-e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/kubelet-e2e/lib.sh"

trap cleanup EXIT
trap 'exit 130' INT TERM HUP

"${K[@]}" get node lab-node >/dev/null || { echo "no node lab-node (KUBECONFIG=$KUBECONFIG); run k8s-up.sh first" >&2; exit 2; }
"${C[@]}" version >/dev/null || { echo "no CRI runtime answering on $EP" >&2; exit 2; }
if [[ -n $("${K[@]}" get pods -l "$SEL" -o name 2>/dev/null) ]]; then
  echo "removing e2e pods left from an earlier run"
  "${K[@]}" delete pods -l "$SEL" --grace-period=2 --timeout=90s >/dev/null 2>&1
fi
# host-wide state before any of our pods exists (reported at the end, not judged)
base_veth=$(veth_count) base_nsfs=$(nsfs_count) base_netns=$(netns_list)
echo "# kubelet-e2e against $EP, $(date -u +%FT%TZ); baseline: $base_veth veths, $base_nsfs nsfs mounts, netns [${base_netns% }]"
echo "host-file $TOKEN" > "$HOSTDIR/from-host.txt"

# ---- pods -----------------------------------------------------------------------------------
manifest() {
  sed -e "s|@TOKEN@|$TOKEN|g" -e "s|@HOSTDIR@|$HOSTDIR|g" "$(dirname "${BASH_SOURCE[0]}")/kubelet-e2e/pods.yaml"
}
t_create=$(now)
if out=$(manifest | "${K[@]}" apply -f - 2>&1); then echo "# created: $(one "$out")"
else bad create "$(one "$out")"; echo "$pass passed, $fail failed"; exit 1; fi

crash_watch & bgpids+=("$!")

# ---- image GC: pull an unused image now, look for it at the end -----------------------------
gc_cfg=$(kubelet_get configz | jq -c '.kubeletconfig | {imageGCHighThresholdPercent, imageGCLowThresholdPercent, imageMinimumGCAge}' 2>/dev/null)
gc_high=$(jq -r '.imageGCHighThresholdPercent // empty' <<<"$gc_cfg" 2>/dev/null)
if (( IMAGE_GC_WAIT > 0 )) && [[ -n $gc_high && $gc_high != 100 ]]; then
  if "${C[@]}" pull "$IMAGE_GC_IMAGE" >/dev/null 2>&1; then gc_pulled=yes; gc_t0=$(date +%s); fi
fi

# ---- 1 init-container -----------------------------------------------------------------------
if ready_wait e2e-main 120; then ready=yes; else ready=""; fi
j=$(pod_json e2e-main)
MAIN_UID=$(jq -r .metadata.uid <<<"$j")
init=$(jq -r '.status.initContainerStatuses[0].state.terminated | "\(.exitCode) \(.reason)"' <<<"$j")
in_box=$(timeout 30 "${K[@]}" exec e2e-main -c box -- cat /work/init.txt 2>&1)
first_log=$("${K[@]}" logs e2e-main -c box 2>&1 | head -n1)
[[ -n $ready && $init == "0 Completed" && $in_box == "init-token $TOKEN" && $first_log == "init-token $TOKEN" ]]
verdict init-container $? "pod Ready ${ready:-NO} ($(since "$t_create")s), init exit '$init', box reads '$(one "$in_box")' from the emptyDir, box log starts '$(one "$first_log")'"

# ---- 2 emptydir / hostpath ------------------------------------------------------------------
in_httpd=$(timeout 30 "${K[@]}" exec e2e-main -c httpd -- cat /usr/local/apache2/htdocs/shared/page.txt 2>&1)
[[ $in_httpd == "page $TOKEN" ]]
verdict emptydir $? "box wrote /work/page.txt, httpd sees it in its mount: '$(one "$in_httpd")'"
h_in=$(timeout 30 "${K[@]}" exec e2e-main -c box -- cat /host/from-host.txt 2>&1)
h_out=$(cat "$HOSTDIR/from-pod.txt" 2>&1) h_init=$(cat "$HOSTDIR/init-saw.txt" 2>&1)
[[ $h_in == "host-file $TOKEN" && $h_out == "box wrote this $TOKEN" && $h_init == "host-file $TOKEN" ]]
verdict hostpath $? "$HOSTDIR: container reads '$(one "$h_in")', host reads '$(one "$h_out")', init saw '$(one "$h_init")'"

remember_sandboxes
# ---- 3 termination grace period -------------------------------------------------------------
# Exit codes come from two places, as either may miss them: the API (a watch on the pod; the
# kubelet's last status update before it removes the object) and the runtime (crictl inspect,
# polled until the kubelet removes the exited containers, which it may do at once for a deleted pod).
if ready_wait e2e-term 90; then
  TERM_UID=$(uid_of e2e-term)
  stub_id=$(cid "$TERM_UID" stubborn running) trap_id=$(cid "$TERM_UID" trap running)
  # follow the trap container's log and the pod's status while it is deleted
  "${K[@]}" logs -f e2e-term -c trap >"$TMP/trap.log" 2>&1 & tl=$!; bgpids+=("$tl")
  watch_term() {
    "$KUBECTL" get pod e2e-term -w -o json >"$TMP/term.watch" 2>"$TMP/term.watch.err" & tw=$!; bgpids+=("$tw")
    until_ok 10 grep -q '"uid"' "$TMP/term.watch"
  }
  watch_term || { kill "$tw" 2>/dev/null; watch_term; }
  poll_codes() {
    local id
    while :; do
      for id in $stub_id $trap_id; do
        "${C[@]}" inspect "$id" 2>/dev/null | jq -r 'select(.status.state == "CONTAINER_EXITED") | "\(.status.metadata.name)=\(.status.exitCode)"'
      done
      sleep 0.3
    done >>"$TMP/term.crictl"
  }
  poll_codes & tp=$!; bgpids+=("$tp")
  until_ok 10 grep -q trap-ready "$TMP/trap.log"
  remember_sandboxes
  until_ok 10 grep -q stubborn-ready <("${K[@]}" logs e2e-term -c stubborn 2>/dev/null)
  t0=$(now)
  out=$("${K[@]}" delete pod e2e-term --grace-period=5 --timeout=60s 2>&1); drc=$?
  took=$(since "$t0")
  sleep 1
  kill "$tl" "$tw" "$tp" 2>/dev/null
  api_codes=$(jq -r '.status.containerStatuses[]? | select(.state.terminated) | "\(.name)=\(.state.terminated.exitCode)"' "$TMP/term.watch" 2>/dev/null | sort -u | tr '\n' ' ')
  cri_codes=$(sort -u "$TMP/term.crictl" 2>/dev/null | tr '\n' ' ')
  codes=" $api_codes $cri_codes"
  [[ -z ${api_codes// /} ]] && api_codes="none$( [[ -s $TMP/term.watch.err ]] && echo " (watch: $(one "$(cat "$TMP/term.watch.err")"))")"
  # code_ok NAME CODE: some source saw NAME exit with CODE and none saw another code
  code_ok() {
    local seen
    seen=$(grep -oE " $1=-?[0-9]+" <<<"$codes" | sed 's/.*=//' | sort -u | tr '\n' ' ')
    [[ $seen == "$2 " ]]
  }
  trap_log=$(grep -c 'TERM received' "$TMP/trap.log") trap_host=$(cat "$HOSTDIR/term-trap.log" 2>/dev/null)
  [[ $drc == 0 && $trap_log -ge 1 && $trap_host == "TERM received" ]] && code_ok trap 0
  verdict grace-term $? "kubectl logs -f saw 'TERM received' x$trap_log, hostPath log '$(one "$trap_host")', exit codes API: $api_codes / crictl: ${cri_codes:-none}"
  stub_host=$(cat "$HOSTDIR/term-stubborn.log" 2>/dev/null)
  # SIGKILL at the deadline: the deletion takes about the grace period (5 s), not 30, and exit 137
  awk -v t="$took" 'BEGIN{exit !(t >= 4.5 && t < 15)}' && [[ $drc == 0 && $stub_host == "TERM ignored" ]] && code_ok stubborn 137
  verdict grace-kill $? "delete --grace-period=5 took ${took}s ($(one "$out")); SIGTERM ignored ('$(one "$stub_host")'), exit codes API: $api_codes / crictl: ${cri_codes:-none}"
else
  bad grace-term "e2e-term not Ready in 90 s: $(one "$("${K[@]}" get pod e2e-term -o jsonpath='{.status.containerStatuses}' 2>&1)")"
  bad grace-kill "e2e-term not Ready"
fi

# ---- 6 pod-stats (/stats/summary) -----------------------------------------------------------
t0=$(now)
until_ok 60 stats_ok; src=$?
s=$(summary | jq -r --arg uid "$MAIN_UID" '[.pods[] | select(.podRef.uid == $uid) | .containers[]
      | "\(.name): cpu \(.cpu.usageNanoCores // "-")nc/\(.cpu.usageCoreNanoSeconds // "-")ns ws \(.memory.workingSetBytes // "-") rootfs \(.rootfs.usedBytes // "-")"] | join("; ")' 2>&1)
verdict pod-stats $src "after $(since "$t0")s: $(one "$s")"

# ---- 5 imagefs-stats / image-gc -------------------------------------------------------------
ifs=$(summary | jq -c '.node.runtime.imageFs // {}' 2>/dev/null)
cfs=$("${C[@]}" imagefsinfo -o json 2>/dev/null)
# crictl v1.29 prints {"status": {"imageFilesystems": [...]}}; older ones {"status": {...}}
mp=$(jq -r '(.status.imageFilesystems[0] // .status).fsId.mountpoint // empty' <<<"$cfs" 2>/dev/null)
cused=$(jq -r '(.status.imageFilesystems[0] // .status).usedBytes.value // empty' <<<"$cfs" 2>/dev/null)
read -r kcap kused kavail < <(jq -r '"\(.capacityBytes // 0) \(.usedBytes // 0) \(.availableBytes // 0)"' <<<"${ifs:-null}")
read -r dsize davail < <( [[ -n $mp ]] && df -B1 --output=size,avail "$mp" 2>/dev/null | tail -n1)
du_b=$( [[ -n $mp ]] && du -sxB1 "$mp" 2>/dev/null | cut -f1)
# capacity: the filesystem holding the runtime's image mountpoint (df); used: the runtime's own
# figure (crictl imagefsinfo), which the kubelet passes through; du of the mountpoint for reference
awk -v kc="${kcap:-0}" -v ku="${kused:-0}" -v ds="${dsize:-0}" -v cu="${cused:--1}" 'BEGIN{
  d = kc - ds; if (d < 0) d = -d
  e = ku - cu; if (e < 0) e = -e
  exit !(kc > 0 && ku > 0 && ds > 0 && d <= ds / 100 && cu >= 0 && e <= (ku > 200e6 ? ku / 10 : 20e6))}'
verdict imagefs-stats $? "summary imageFs capacity $kcap used $kused available $kavail; crictl imagefsinfo used ${cused:-?} at ${mp:-?}; df size ${dsize:-?} avail ${davail:-?}; du ${du_b:-?}"

if [[ -z $gc_high ]]; then
  bad image-gc "kubelet configz unreadable: $(one "$gc_cfg")"
elif [[ $gc_high == 100 ]]; then
  skip image-gc "not exercised: the kubelet's image GC is disabled (configz $gc_cfg; 100 = disabled, kubelet.go 'Disable image GC'); ImageFsInfo checked above"
elif (( IMAGE_GC_WAIT <= 0 )); then
  usage=$(awk -v c="${kcap:-0}" -v a="${kavail:-0}" 'BEGIN{if (c > 0) printf "%d", 100 - int(a * 100 / c); else print "?"}')
  skip image-gc "not exercised (IMAGE_GC_WAIT unset): configz $gc_cfg, imageFs usage $usage%; GC runs every 5 min and only at usage >= high threshold"
fi

# ---- 7 logs-follow --------------------------------------------------------------------------
"${K[@]}" logs -f e2e-main -c box --tail=1 >"$TMP/follow.log" 2>&1 & lf=$!; bgpids+=("$lf")
t0=$(now)
first=$(until_ok 10 grep -m1 -o 'tick [0-9]*' "$TMP/follow.log" >/dev/null; grep -m1 -o 'tick [0-9]*' "$TMP/follow.log")
n1=${first#tick }
grown() { [[ $(grep -c '^tick ' "$TMP/follow.log") -ge 4 ]]; }
until_ok 10 grown
lines=$(grep -c '^tick ' "$TMP/follow.log") last=$(grep '^tick ' "$TMP/follow.log" | tail -n1)
alive=no; kill -0 "$lf" 2>/dev/null && alive=yes
kill "$lf" 2>/dev/null; wait "$lf" 2>/dev/null
gone=yes; kill -0 "$lf" 2>/dev/null && gone=no
[[ -n $n1 && $lines -ge 4 && ${last#tick } -ge $(( ${n1:-0} + 3 )) && $alive == yes && $gone == yes ]]
verdict logs-follow $? "followed from '$first' to '$last' ($lines lines in $(since "$t0")s), still following: $alive, ended when killed: $gone"

# ---- 8 exec-tty (exec -it under script(1) for a pty; the window size is set on that pty) ------
# CRI exec carries no initial window size: the kubelet passes kubectl's resize events on, so the
# size can arrive just after the process started; wait up to 5 s for it (busybox's `stty size`
# prints nothing and exits 0 while the size is 0x0).
# shellcheck disable=SC2016  # expanded by the container's shell
size_loop='tty; n=0; until s=$(stty size 2>/dev/null); [ -n "$s" ] && [ "${s%% *}" != 0 ] || [ $n -ge 10 ]; do n=$((n + 1)); sleep 0.5; done; echo "size $s"; exit 7'
out=$(timeout 30 script -qec "stty rows 37 cols 101; ${K[*]} exec -it e2e-main -c box -- sh -c '$size_loop'" /dev/null </dev/null 2>&1); rc=$?
out=$(tr -d '\r' <<<"$out")
[[ $rc == 7 && $out =~ /dev/pts/[0-9]+ && $out == *"size 37 101"* ]]
verdict exec-tty $? "rc $rc, output '$(one "$out")' (expected /dev/pts/N, 'size 37 101', rc 7)"

# ---- 9 port-forward -------------------------------------------------------------------------
if ss -Hltn "sport = :$PF_PORT" | grep -q .; then
  bad port-forward "local port $PF_PORT already in use (set PF_PORT)"
else
  "${K[@]}" port-forward --address 127.0.0.1 pod/e2e-main "$PF_PORT:80" >"$TMP/pf.log" 2>&1 & pf=$!; bgpids+=("$pf")
  until_ok 10 grep -q '^Forwarding from' "$TMP/pf.log"
  o1=$(curl -s -m 10 "http://127.0.0.1:$PF_PORT/shared/page.txt" 2>&1); r1=$?
  o2=$(curl -s -m 10 "http://127.0.0.1:$PF_PORT/shared/page.txt" 2>&1); r2=$?
  kill "$pf" 2>/dev/null; wait "$pf" 2>/dev/null
  [[ $r1 == 0 && $r2 == 0 && $o1 == "page $TOKEN" && $o2 == "page $TOKEN" ]]
  verdict port-forward $? "curl 127.0.0.1:$PF_PORT/shared/page.txt twice: rc $r1/$r2 '$(one "$o1")'; $(one "$(head -n2 "$TMP/pf.log")")"
fi

# ---- 10 attach ------------------------------------------------------------------------------
out=$( (sleep 1; echo "hello-attach $TOKEN"; sleep 4) | timeout 10 "${K[@]}" attach -i e2e-main -c box 2>&1)
ticks=$(grep -c '^tick ' <<<"$out")
[[ $out == *"stdin: hello-attach $TOKEN"* ]] && (( ticks >= 2 ))
verdict attach $? "$ticks tick lines streamed, echo: '$(grep -m1 '^stdin:' <<<"$out")'"

# ---- 11 cp (tar in the container) -----------------------------------------------------------
head -c 49152 /dev/urandom | base64 >"$TMP/cp-in.txt"
want=$(md5sum <"$TMP/cp-in.txt" | cut -d' ' -f1)
out=$(timeout 60 "${K[@]}" cp "$TMP/cp-in.txt" default/e2e-main:/tmp/cp-in.txt -c box 2>&1); rc=$?
got=$(timeout 30 "${K[@]}" exec e2e-main -c box -- md5sum /tmp/cp-in.txt 2>&1 | cut -d' ' -f1)
[[ $rc == 0 && $got == "$want" ]]
verdict cp-in $? "host -> container $(stat -c %s "$TMP/cp-in.txt") bytes, md5 host $want container $(one "$got") $(one "$out")"
gen=$(timeout 30 "${K[@]}" exec e2e-main -c box -- sh -c 'head -c 100000 /dev/urandom > /tmp/gen.bin && md5sum /tmp/gen.bin' 2>&1 | cut -d' ' -f1)
out=$(timeout 60 "${K[@]}" cp default/e2e-main:/tmp/gen.bin "$TMP/gen.bin" -c box 2>&1); rc=$?
out2=$(timeout 60 "${K[@]}" cp default/e2e-main:/tmp/cp-in.txt "$TMP/cp-back.txt" -c box 2>&1); rc2=$?
got=$(md5sum <"$TMP/gen.bin" 2>/dev/null | cut -d' ' -f1)
[[ $rc == 0 && $rc2 == 0 && -n $gen && $got == "$gen" ]] && cmp -s "$TMP/cp-in.txt" "$TMP/cp-back.txt"
verdict cp-out $? "container -> host: gen.bin md5 container $(one "$gen") host ${got:-none} ($(stat -c %s "$TMP/gen.bin" 2>/dev/null) bytes); cp-in.txt back identical: $(cmp -s "$TMP/cp-in.txt" "$TMP/cp-back.txt" && echo yes || echo no) $(one "$out $out2" | grep -v '^ *$')"

# ---- 4 crash-backoff (background watcher) ---------------------------------------------------
for _ in $(seq 120); do [[ -s $TMP/crash.result ]] && break; sleep 1; done
if [[ -s $TMP/crash.result ]]; then
  line=$(cat "$TMP/crash.result"); echo "$line"
  if [[ $line == PASS* ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
else bad crash-backoff "watcher gave no result"; fi
remember_sandboxes
# deleted, and its sandbox removed by the kubelet, before the runtime restart below: the kubelet
# stops a deleted pod's sandbox again after the API object is gone, and kubelet 1.26 does not
# retry a StopPodSandbox that failed then (the runtime was down): that sandbox would stay until a
# kubelet restart, with any runtime (and containerd 1.6.20 SIGKILLed in the middle of one left
# the sandbox's shim running). The kubelet's container GC removes it within a minute.
CRASH_UID=$(uid_of e2e-crash)
"${K[@]}" delete pod e2e-crash --grace-period=2 --timeout=60s >/dev/null 2>&1
crash_gone() { [[ -z $("${C[@]}" pods --label "io.kubernetes.pod.uid=$CRASH_UID" -q 2>/dev/null) ]]; }
[[ -n $CRASH_UID ]] && until_ok 90 crash_gone

# ---- 13 runtime killed with SIGKILL under a running kubelet ---------------------------------
if [[ -z ${RESTART_CMD:-} ]]; then
  skip restart-survive "RESTART_CMD not set"
  skip restart-new-pod "RESTART_CMD not set"
else
  ids_before=$("${C[@]}" ps --label "io.kubernetes.pod.uid=$MAIN_UID" --state running -q 2>/dev/null | sort | tr '\n' ' ')
  rc_before=$(restart_counts)
  t0=$(now)
  out=$(timeout 90 bash -c "$RESTART_CMD" 2>&1); rrc=$?
  until_ok 60 "${C[@]}" version >/dev/null 2>&1; back=$?
  t_back=$(since "$t0")
  sleep 12     # a few PLEG relists (1 s) and a pod sync (syncFrequency 10 s) after the runtime is back
  ids_after=$("${C[@]}" ps --label "io.kubernetes.pod.uid=$MAIN_UID" --state running -q 2>/dev/null | sort | tr '\n' ' ')
  rc_after=$(restart_counts)
  ready_wait e2e-main 30; rdy=$?
  ex=$(timeout 30 "${K[@]}" exec e2e-main -c box -- cat /work/page.txt 2>&1)
  [[ $rrc == 0 && $back == 0 && -n ${ids_before// /} && $ids_before == "$ids_after" && $rc_before == "$rc_after" && $rdy == 0 && $ex == "page $TOKEN" ]]
  verdict restart-survive $? "RESTART_CMD rc $rrc ($(one "$out")), runtime answering after ${t_back}s; $(wc -w <<<"$ids_before") running container ids -> same: $([[ $ids_before == "$ids_after" ]] && echo yes || echo "NO ($ids_after)"); restartCount '$rc_before' -> '${rc_after}'; Ready rc $rdy; exec after: '$(one "$ex")'"

  t0=$(now)
  out=$("${K[@]}" apply -f - 2>&1 <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: e2e-after, namespace: default, labels: {lab: kubelet-e2e}}
spec:
  nodeName: lab-node
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 2
  containers:
  - {name: sleeper, image: busybox:latest, command: [sh, -c, 'echo up; exec sleep 3600']}
EOF
)
  ready_wait e2e-after 90; r=$?
  remember_sandboxes
  t_ready=$(since "$t0")
  AFTER_UID=$(uid_of e2e-after)
  run_n=$("${C[@]}" ps --label "io.kubernetes.pod.uid=$AFTER_UID" --state running -q 2>/dev/null | wc -l)
  dout=$("${K[@]}" delete pod e2e-after --timeout=60s 2>&1); d=$?
  left=$("${C[@]}" ps --label "io.kubernetes.pod.uid=$AFTER_UID" --state running -q 2>/dev/null | wc -l)
  left_sb=$("${C[@]}" pods --label "io.kubernetes.pod.uid=$AFTER_UID" --state ready -q 2>/dev/null | wc -l)
  [[ $r == 0 && $run_n == 1 && $d == 0 && $left == 0 && $left_sb == 0 ]]
  verdict restart-new-pod $? "$(one "$out"): Ready after ${t_ready}s ($run_n running), deleted rc $d ($(one "$dout")), then $left running containers, $left_sb ready sandboxes"
fi

# ---- 12 a deleted pod leaves nothing behind -------------------------------------------------
# What to look for, taken while the pod runs: its sandbox and container ids, IP, the inodes of its
# network/ipc/uts namespaces and the host end of its eth0 (the index in eth0's iflink). Each probe
# also runs before the delete, to show it finds the live pod. Host-wide counts (veths, nsfs mounts,
# /run/netns) are printed but not judged: other runtimes on this host may add and remove their own.
remember_sandboxes
sb_ids=$(sandboxes_of "$MAIN_UID" | tr '\n' ' ') c_ids=$(containers_of "$MAIN_UID" | tr '\n' ' ')
all_sb=$(sort -u "$TMP/sandboxes" 2>/dev/null | tr '\n' ' ')   # e2e-main's and the other e2e pods'
ids_re=$(echo "$MAIN_UID $all_sb $sb_ids $c_ids" | xargs -n1 | sort -u | xargs | tr ' ' '|')
pod_ip=$("${K[@]}" get pod e2e-main -o jsonpath='{.status.podIP}' 2>/dev/null)
# namespace paths the runtime reports for the sandbox in its verbose info, if any
ns_paths=$(for s in $sb_ids; do "${C[@]}" inspectp "$s" 2>/dev/null | jq -r '.. | strings | select(test("^/(var/)?run/netns/|^/proc/[0-9]+/ns/net$|/netns/"))'; done | sort -u | tr '\n' ' ')
# shellcheck disable=SC2016  # expanded by the container's shell
pod_ns=$(timeout 30 "${K[@]}" exec e2e-main -c box -- sh -c 'for n in net ipc uts; do readlink /proc/self/ns/$n; done' 2>/dev/null | grep -E '^(net|ipc|uts):\[[0-9]+\]$' | tr '\n' ' ')
iflink=$(timeout 30 "${K[@]}" exec e2e-main -c box -- cat /sys/class/net/eth0/iflink 2>/dev/null | tr -dc 0-9)
host_if=$( [[ -n $iflink ]] && ip -o link show 2>/dev/null | awk -F': ' -v i="$iflink" '$1 == i {sub(/@.*/, "", $2); print $2}')
lnames=()   # find -lname takes a glob: escape the brackets of "net:[INODE]"
for n in $pod_ns; do n=${n//\[/\\[}; lnames+=(${lnames:+-o} -lname "${n//\]/\\]}"); done
cgnames=(-name "*$MAIN_UID*" -o -name "*${MAIN_UID//-/_}*")   # cgroupfs pod<uid>, systemd ..._pod<u_i_d>.slice
for i in $all_sb $sb_ids $c_ids; do cgnames+=(-o -name "*$i*"); done
# probes: one line per thing found
b_m=$(cnt mounts_naming) b_pin=$(cnt ns_pins) b_pn=$(cnt procs_naming) b_pi=$(cnt procs_in_ns) b_cg=$(cnt cgroups_of) b_lease=$(leases | sort -u | grep -c .)

t0=$(now)
dout=$("${K[@]}" delete pod e2e-main --timeout=90s 2>&1); d=$?
t_del=$(since "$t0")
sb_left() { local s; for s in $all_sb; do "${C[@]}" inspectp "$s" >/dev/null 2>&1 && echo "$s"; done; }
gone_all() {
  [[ -z $(sandboxes_of "$MAIN_UID") && -z $(containers_of "$MAIN_UID") && -z $(sb_left) &&
     -z $("${K[@]}" get pods -l "$SEL" -o name 2>/dev/null) ]]
}
t0=$(now)
until_ok 100 gone_all; g=$?
left=$( (sandboxes_of "$MAIN_UID"; containers_of "$MAIN_UID"; sb_left) | sort -u | wc -l)
[[ $d == 0 && $g == 0 && -n ${sb_ids// /} ]]
verdict gone-crictl $? "delete rc $d in ${t_del}s ($(one "$dout")); sandbox ${sb_ids:0:13} + $(wc -w <<<"$c_ids") containers, and all $(wc -w <<<"$all_sb") e2e sandboxes, removed from the runtime $(since "$t0")s later ($left left; the kubelet's container GC runs every 60 s)"

m=$(mounts_naming | head -n5 | tr '\n' ' ')
[[ -z $m && -n $ids_re ]]
verdict gone-mounts $? "mountinfo entries naming e2e-main's uid/container ids or any e2e sandbox id: $b_m before delete, $(wc -w <<<"$m") after${m:+: $m}"

pins=$(ns_pins | tr '\n' ' ')
ns_left=""; for p in $ns_paths; do [[ -e $p ]] && ns_left+="$p "; done
[[ $(wc -w <<<"$pod_ns") == 3 && -z $pins && -z $ns_left ]]
verdict gone-netns $? "nsfs mounts (pins) of the pod's namespaces [${pod_ns% }]: $b_pin before delete, $(wc -w <<<"$pins") after${pins:+: $pins}; runtime's netns path [${ns_paths% }] ${ns_left:+STILL THERE }(host: nsfs mounts $base_nsfs -> $(nsfs_count), /run/netns [${base_netns% }] -> [$(netns_list | sed 's/ $//')])"

still=$(veth_there)
host_if_d=${host_if:-"not found (eth0 iflink '$iflink')"}
[[ -n $host_if && -z $still ]]
verdict gone-veth $? "host end of the pod's eth0: $host_if_d $([[ -n $still ]] && echo "STILL THERE" || echo gone) (host veth count $base_veth before the test, $(veth_count) now)"

pn=$(procs_naming | head -n3 | tr '\n' ' ') pi=$(procs_in_ns | head -n3 | tr '\n' ' ')
[[ $b_pi -gt 0 && -z $pn && -z $pi ]]
verdict gone-process $? "processes naming e2e-main's container ids or any e2e sandbox id: $b_pn before delete, $(wc -w <<<"$pn") after${pn:+: $pn}; in the pod's namespaces: $b_pi before, $(wc -w <<<"$pi") after${pi:+: $pi}"

cg=$(cgroups_of | head -n5 | tr '\n' ' ')
[[ $b_cg -gt 0 && -z $cg ]]
verdict gone-cgroup $? "cgroup dirs named after pod uid ${MAIN_UID:0:8}... or its sandbox/containers under /sys/fs/cgroup: $b_cg before delete, $(wc -w <<<"$cg") after${cg:+: $cg}"

if [[ -z ${LEASE_DIR:-} ]]; then
  skip gone-lease "LEASE_DIR not set (pod IP was ${pod_ip:-?})"
else
  l_now=$(leases | sort -u | tr '\n' ' ')
  [[ -n $pod_ip && $b_lease -gt 0 && -z $l_now ]]
  verdict gone-lease $? "lease files for pod IP ${pod_ip:-?} / sandbox id in $LEASE_DIR: $b_lease before delete, $(wc -w <<<"$l_now") after${l_now:+: $l_now}"
fi

# ---- image GC wait (opt-in) -----------------------------------------------------------------
if [[ -n $gc_pulled ]]; then
  img_there() { "${C[@]}" inspecti "$IMAGE_GC_IMAGE" >/dev/null 2>&1; }
  left_s=$(( IMAGE_GC_WAIT - ($(date +%s) - gc_t0) ))
  gone_img() { ! img_there; }
  (( left_s > 0 )) && until_ok "$left_s" gone_img
  if ! img_there; then gc_pulled=""; ok image-gc "unused $IMAGE_GC_IMAGE (pulled with crictl) removed by the kubelet's image GC within $(( $(date +%s) - gc_t0 ))s; configz $gc_cfg"
  else bad image-gc "unused $IMAGE_GC_IMAGE still present after ${IMAGE_GC_WAIT}s; configz $gc_cfg"; fi
elif (( IMAGE_GC_WAIT > 0 )) && [[ -n $gc_high && $gc_high != 100 ]]; then
  bad image-gc "could not pull $IMAGE_GC_IMAGE"
fi

echo "# total $(( $(date +%s) - START ))s"
echo "$pass passed, $fail failed"
(( fail == 0 ))
