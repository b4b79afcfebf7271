#!/usr/bin/env bash
# The two-organization lab: OrgA (orga.example, engine on 127.0.0.1) and
# OrgB (domaene.tld, engine on 127.0.0.2) exchange domain-secured mail.
#
# Each organization gets its own store and lab CA and is provisioned only
# with xshell, following the walkthrough step by step (every command is
# printed as it runs). A DNS responder (dnsmasq) on loopback serves MX and A
# records for both domains; both engines (xshell-transport) run; then:
#   1. inbound: each engine accepts a message the partner sends with
#      xshell's Send-MailMessage presenting the partner's own certificate
#      (-CertificateThumbprint, key from the partner's store), and refuses
#      the partner's domain without a certificate (530 5.7.1);
#   2. outbound: a message submitted (Send-MailMessage) to each
#      organization's submission connector is relayed by its engine to the partner over Domain
#      Security and lands in the partner's Maildir.
# The delivered headers and the tracking-log lines that prove it are shown.
#
#   ./examples/lab.sh                 # temporary folder, removed at the end
#   KEEP=1 ./examples/lab.sh          # keep the folder to look around
#
# Knobs for tests and CI (all optional):
#   XSHELL_BIN, XSHELL_TRANSPORT_BIN  use these binaries instead of building
#   LAB_PORT, LAB_SUBMIT_PORT, LAB_DNS_PORT, LAB_METRICS_PORT
#                                     ports (default: random free)
#   LAB_OUTBOUND=0                    skip part 2 (relay through the engines)
#   LAB_OUT=DIR                       write a machine-readable result there:
#       summary (key=value lines), the delivered messages (*.eml), both
#       tracking logs and both engines' metrics (metrics-*.txt), kept after
#       the lab folder is removed
#
# The lab CAs are for demonstrations only, never for production.
set -Eeuo pipefail
trap 'printf "\nlab: FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() {
  printf '\nlab: FAILED: %s\n' "$*" >&2
  exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || die "'$1' is not installed (${2:-apt-get install $1})"; }
# What the lab needs from the system: dnsmasq (the MX and A records on
# loopback), and protoc to build. Mail is sent with xshell's own Send-MailMessage. As root with
# apt-get, a missing dnsmasq is installed; otherwise the lab says how.
has() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
need_pkg() { # need_pkg COMMAND PACKAGE
  has "$1" && return 0
  local install="apt-get update && apt-get install -y $2"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "lab: '$1' is not installed; installing it: $install"
    (export DEBIAN_FRONTEND=noninteractive && apt-get update -qq && apt-get install -y -qq "$2") >&2 ||
      die "installing $2 failed; run: $install"
    has "$1" || die "'$1' is still missing after installing $2"
  else
    die "'$1' is not installed; run: sudo sh -c '$install'"
  fi
}
need_pkg dnsmasq dnsmasq-base
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)

# --- binaries --------------------------------------------------------------
if [ -z "${XSHELL_BIN:-}" ] || [ -z "${XSHELL_TRANSPORT_BIN:-}" ]; then
  # The build needs protoc (the etcd store's gRPC client is generated at build time).
  [ -n "${PROTOC:-}" ] || need_pkg protoc protobuf-compiler
  echo "lab: building xshell and xshell-transport (the first build takes several minutes; later runs seconds)"
  (cd "$ROOT" && cargo build --quiet -p xshell -p xshell-transport) || die "cargo build failed"
  TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
  XSHELL_BIN="$TARGET/debug/xshell"
  XSHELL_TRANSPORT_BIN="$TARGET/debug/xshell-transport"
fi
for b in "$XSHELL_BIN" "$XSHELL_TRANSPORT_BIN"; do [ -x "$b" ] || die "no binary at $b"; done

# --- lab folder, child processes, cleanup ----------------------------------
LAB=$(mktemp -d -t xshell-lab.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "lab: kept $LAB"; else rm -rf "$LAB"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port (TCP on 127.0.0.1 and 127.0.0.2, and UDP), picked at random.
used_ports=" "
free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    case "$used_ports" in *" $p "*) continue ;; esac
    if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htuln "sport = :$p" 2>/dev/null)" ]; then continue; fi
    used_ports="$used_ports$p "
    echo "$p"
    return
  done
  die "no free port found"
}
PORT=${LAB_PORT:-$(free_port)}
used_ports="$used_ports$PORT "
SUBMIT_PORT=${LAB_SUBMIT_PORT:-$(free_port)}
used_ports="$used_ports$SUBMIT_PORT "
DNS_PORT=${LAB_DNS_PORT:-$(free_port)}
used_ports="$used_ports$DNS_PORT "
METRICS_PORT=${LAB_METRICS_PORT:-$(free_port)}

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then BOLD=$'\033[1m' CYAN=$'\033[36m' OFF=$'\033[0m'; else BOLD='' CYAN='' OFF=''; fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$OFF"; }
# Prints a command as an administrator would type it (arguments with
# spaces or shell characters single-quoted).
show() {
  local a out=""
  for a in "$@"; do
    case "$a" in
      '' | *[!A-Za-z0-9._,:/@=+%-]*) out="$out '$a'" ;;
      *) out="$out $a" ;;
    esac
  done
  printf '%s\n' "${out# }"
}

# The two organizations.
declare -A NAME DOMAIN FQDN IP PARTNER CA_NAME
NAME[a]=OrgA DOMAIN[a]=orga.example FQDN[a]=mail.orga.example IP[a]=127.0.0.1 PARTNER[a]=b CA_NAME[a]="OrgA Root CA"
NAME[b]=OrgB DOMAIN[b]=domaene.tld FQDN[b]=mail.domaene.tld IP[b]=127.0.0.2 PARTNER[b]=a CA_NAME[b]="Domaene Root CA"
dir() { echo "$LAB/${NAME[$1]}"; }
store() { echo "$LAB/${NAME[$1]}/store"; }

# x ORG ARGS...: runs xshell on that organization's store, in its folder.
x() {
  local o=$1
  shift
  printf '%s[%s]$ %s%s\n' "$CYAN" "${NAME[$o]}" "$(show xshell "$@")" "$OFF"
  if ! (cd "$(dir "$o")" && XSHELL_STORE="$(store "$o")" NO_COLOR=1 "$XSHELL_BIN" "$@" </dev/null) 2>&1 | sed 's/^/    /'; then
    die "${NAME[$o]}: xshell $* failed"
  fi
}

[ -z "${LAB_OUT:-}" ] || mkdir -p "$LAB_OUT"
echo "lab: folder $LAB; SMTP port $PORT (127.0.0.1 OrgA, 127.0.0.2 OrgB), submission port $SUBMIT_PORT, DNS 127.0.0.1:$DNS_PORT"
mkdir -p "$(dir a)" "$(dir b)"

step "0. Each organization makes a lab CA (lab only: a real CA in production) and sends its root to the partner"
for o in a b; do
  x "$o" ca-new --name "${CA_NAME[$o]}" --path ca
done
cp "$(dir a)/ca/ca.pem" "$(dir b)/partner-root.pem"
cp "$(dir b)/ca/ca.pem" "$(dir a)/partner-root.pem"

step "1. Trust the partner's root CA (and our own issuing CA)"
for o in a b; do
  x "$o" -c 'Import-Certificate -FilePath partner-root.pem -CertStoreLocation Cert:\LocalMachine\Root'
  x "$o" -c 'Import-Certificate -FilePath ca/ca.pem -CertStoreLocation Cert:\LocalMachine\Root'
done

step "2. Request a certificate for the SMTP service (the key stays in the store)"
for o in a b; do
  x "$o" -c "New-ExchangeCertificate -GenerateRequest -SubjectName \"C=DE,O=${NAME[$o]},CN=${FQDN[$o]}\" -DomainName ${FQDN[$o]},${DOMAIN[$o]} -PrivateKeyExportable:\$True -Path smtp.req"
done

step "3. The organization's CA issues it"
for o in a b; do
  x "$o" ca-sign --ca ca --request-file smtp.req --path smtp.cer
done

step "4. Import it and enable it for SMTP, in one pipeline"
for o in a b; do
  x "$o" -c 'Import-ExchangeCertificate -Path smtp.cer | Enable-ExchangeCertificate -Services SMTP'
done

step "5. Accepted domain, server name and DNS; the partner domain is secure for receiving and sending"
for o in a b; do
  p=${PARTNER[$o]}
  x "$o" -c "New-AcceptedDomain ${NAME[$o]} -DomainName ${DOMAIN[$o]}"
  x "$o" -c "Set-TransportService -Fqdn ${FQDN[$o]} -ExternalDNSServers 127.0.0.1:$DNS_PORT -MetricsBindings ${IP[$o]}:$METRICS_PORT"
  x "$o" -c "Set-TransportConfig -TLSReceiveDomainSecureList ${DOMAIN[$p]} -TLSSendDomainSecureList ${DOMAIN[$p]}"
done

step "6. Send connector Outbound to the partner, with Domain Security"
for o in a b; do
  p=${PARTNER[$o]}
  x "$o" -c "New-SendConnector Outbound -AddressSpaces ${DOMAIN[$p]} -Port $PORT -Usage Partner"
  x "$o" -c 'Set-SendConnector Outbound -DomainSecureEnabled:$True'
done

step "7. Receive connector Inbound, with Domain Security; a submission connector for our own servers"
for o in a b; do
  x "$o" -c "New-ReceiveConnector Inbound -Usage Internet -Bindings ${IP[$o]}:$PORT"
  x "$o" -c 'Set-ReceiveConnector Inbound -DomainSecureEnabled:$True -AuthMechanism TLS'
  x "$o" -c "New-ReceiveConnector Submission -Usage Custom -Bindings ${IP[$o]}:$SUBMIT_PORT -RemoteIPRanges ${IP[$o]} -PermissionGroups ExchangeServers -AuthMechanism ExternalAuthoritative"
done
x a get-receiveconnector
x a -c 'Get-ExchangeCertificate | Format-List Thumbprint,Services,Status,Subject,CertificateDomains'

step "8. DNS on loopback, and both transport engines"
DNSARGS=(--no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 --port="$DNS_PORT"
  --mx-host=orga.example,mail.orga.example,10 --host-record=mail.orga.example,127.0.0.1
  --mx-host=domaene.tld,mail.domaene.tld,10 --host-record=mail.domaene.tld,127.0.0.2
  --pid-file= -u root --keep-in-foreground --log-facility=-)
show dnsmasq "${DNSARGS[@]}"
"$DNSMASQ" "${DNSARGS[@]}" >"$LAB/dnsmasq.log" 2>&1 &
PIDS+=($!)
dns_pid=$!

# wait_for SECONDS CONDITION...: polls every 0.1 s (bounded).
wait_for() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}
wait_for 10 grep -qs 'started, version' "$LAB/dnsmasq.log" || die "dnsmasq did not start: $(cat "$LAB/dnsmasq.log")"
sleep 0.2
kill -0 "$dns_pid" 2>/dev/null || die "dnsmasq exited: $(cat "$LAB/dnsmasq.log")"

declare -A ENGINE_PID
for o in a b; do
  show xshell-transport --store "$(store "$o")"
  RUST_LOG=info "$XSHELL_TRANSPORT_BIN" --store "$(store "$o")" --grace 2 >"$(dir "$o")/engine.log" 2>&1 &
  PIDS+=($!)
  ENGINE_PID[$o]=$!
done
for o in a b; do
  log="$(dir "$o")/engine.log"
  for addr in "${IP[$o]}:$PORT" "${IP[$o]}:$SUBMIT_PORT"; do
    wait_for 20 grep -qs "listening addr=$addr" "$log" || die "${NAME[$o]}'s engine does not listen on $addr:
$(cat "$log")"
  done
  kill -0 "${ENGINE_PID[$o]}" 2>/dev/null || die "${NAME[$o]}'s engine exited: $(cat "$log")"
  echo "    ${NAME[$o]}: xshell-transport listening on ${IP[$o]}:$PORT (Inbound) and ${IP[$o]}:$SUBMIT_PORT (Submission)"
done

# --- checks ----------------------------------------------------------------
maildir_new() { echo "$(store "$1")/mailboxes/${DOMAIN[$1]}/$2/Maildir/new"; }
tracking() { echo "$(store "$1")/log/tracking.jsonl"; }
count_in() { find "$1" -type f 2>/dev/null | wc -l; }
# The first message in DIR whose Subject is SUBJECT.
message_with_subject() { grep -l -F "Subject: $2" "$1"/* 2>/dev/null | head -n1 || true; }
has_message() { [ -n "$(message_with_subject "$1" "$2")" ]; }
# Extracts "field":value from one JSON line (strings and scalars).
jfield() { grep -o "\"$1\":\\(\"[^\"]*\"\\|[^,}]*\\)" <<<"$2" | head -n1 | cut -d: -f2- | tr -d '"' || true; }
# One tracking line, condensed.
show_tracking() {
  local line=$1 f out="" v
  for f in event_id client_ip connector send_connector next_hop_domain remote_host recipients tls_version \
    peer_certificate_subject peer_certificate_issuer peer_certificate_verified verified_name \
    auth_as auth_domain domain_secured reply; do
    v=$(jfield "$f" "$line")
    if [ -n "$v" ] && [ "$v" != null ]; then out="$out $f=$v"; fi
  done
  printf '    %s\n' "${out# }"
}
headers_of() { sed -e '/^\r\?$/q' "$1" | sed -e 's/\r$//' -e 's/^/    | /'; }
expect() { # expect FILE TEXT WHAT
  grep -q -F -- "$2" "$1" || die "$3: '$2' is missing in $1:
$(headers_of "$1")"
}

RESULTS=()
result() { RESULTS+=("$1=$2"); }

# send ORG ARGS...: Send-MailMessage from ORG's store (its certificates and
# trusted roots), printed as it runs; the output (with the -Verbose
# conversation) in SENT, the exit code in SENT_RC. Never dies: the caller
# decides what the outcome must be.
SENT='' SENT_RC=0
send() {
  local o=$1
  shift
  printf '%s[%s]$ %s%s\n' "$CYAN" "${NAME[$o]}" "$(show xshell "$@")" "$OFF"
  SENT_RC=0
  SENT=$(cd "$(dir "$o")" && XSHELL_STORE="$(store "$o")" NO_COLOR=1 timeout 60 "$XSHELL_BIN" "$@" </dev/null 2>&1) || SENT_RC=$?
}

# Checks what a domain-secured delivery looks like at the receiver RCV:
# the message (in Maildir), its headers, and the RECEIVE tracking line.
check_received() { # check_received RCV LOCAL SUBJECT SENDER_ORG KEY
  local r=$1 local_part=$2 subject=$3 s=$4 key=$5 box msg line
  box=$(maildir_new "$r" "$local_part")
  wait_for 30 has_message "$box" "$subject" ||
    die "${NAME[$r]}: no message '$subject' in $box after 30 s
--- ${NAME[$r]} engine log (tail):
$(tail -n 20 "$(dir "$r")/engine.log")"
  msg=$(message_with_subject "$box" "$subject")
  echo "    delivered to ${NAME[$r]}: ${msg#"$LAB"/}"
  headers_of "$msg" | grep -E '^    \| (Received|[[:space:]]|X-MS-Exchange-Organization|From|To|Subject)' || true
  expect "$msg" "X-MS-Exchange-Organization-AuthAs: Partner" "${NAME[$r]}"
  expect "$msg" "X-MS-Exchange-Organization-AuthMechanism: 02" "${NAME[$r]}"
  expect "$msg" "X-MS-Exchange-Organization-AuthDomain: ${DOMAIN[$s]}" "${NAME[$r]}"
  expect "$msg" "(using TLSv1." "${NAME[$r]}"
  expect "$msg" "(Client CN \"${FQDN[$s]}\", Issuer \"${CA_NAME[$s]}\" (verified OK))" "${NAME[$r]}"
  line=$(grep -F '"event_id":"RECEIVE"' "$(tracking "$r")" | grep -F "\"connector\":\"Inbound\"" | grep -F "$local_part@${DOMAIN[$r]}" | tail -n1 || true)
  [ -n "$line" ] || die "${NAME[$r]}: no RECEIVE line for $local_part@${DOMAIN[$r]} in $(tracking "$r")"
  echo "    ${NAME[$r]} tracking log:"
  show_tracking "$line"
  grep -q -F '"peer_certificate_verified":true' <<<"$line" || die "${NAME[$r]}: RECEIVE without a verified client certificate: $line"
  grep -q -F '"auth_as":"Partner"' <<<"$line" || die "${NAME[$r]}: RECEIVE not as Partner: $line"
  grep -q -F "\"auth_domain\":\"${DOMAIN[$s]}\"" <<<"$line" || die "${NAME[$r]}: RECEIVE without AuthDomain ${DOMAIN[$s]}: $line"
  [ -z "${LAB_OUT:-}" ] || cp "$msg" "$LAB_OUT/$key.eml"
  result "$key" ok
}

# Part 1: each side's inbound: the sender presents its own SMTP certificate
# (from its store, with its private key) as the TLS client certificate.
step "9. Inbound: each engine accepts the partner's domain only with the partner's certificate"
for r in a b; do
  s=${PARTNER[$r]}
  subject="lab inbound ${NAME[$s]} to ${NAME[$r]}"
  common="Send-MailMessage -SmtpServer ${IP[$r]} -Port $PORT -SourceIPAddress ${IP[$s]} -Helo ${FQDN[$s]} -From postmaster@${DOMAIN[$s]} -To inbound@${DOMAIN[$r]} -UseSsl -TlsServerName ${FQDN[$r]}"
  echo "  ${NAME[$s]} -> ${NAME[$r]} without a client certificate (must be refused):"
  send "$s" -c "$common -Subject \"must be refused\" -Body \"no certificate\""
  [ "$SENT_RC" != 0 ] || die "${NAME[$r]} accepted ${DOMAIN[$s]} without a certificate:
$SENT"
  grep -E '530 5\.7\.1' <<<"$SENT" | sed 's/^/    /' || die "${NAME[$r]} did not refuse ${DOMAIN[$s]} with 530 5.7.1:
$SENT"
  echo "  ${NAME[$s]} -> ${NAME[$r]} with ${NAME[$s]}'s certificate:"
  send "$s" -c "$common -Subject \"$subject\" -Body \"Domain Security lab\" -CertificateThumbprint (Get-ExchangeCertificate -DomainName ${FQDN[$s]}).Thumbprint -Verbose"
  sed 's/^/    /' <<<"$SENT"
  [ "$SENT_RC" = 0 ] && grep -q -E 'S: 250 2\.0\.0' <<<"$SENT" || die "${NAME[$r]} did not accept ${NAME[$s]}'s domain-secured message (exit $SENT_RC)"
  check_received "$r" inbound "$subject" "$s" "inbound-${NAME[$r],,}"
done

# Part 2: submission -> our engine -> MX lookup -> partner's engine.
if [ "${LAB_OUTBOUND:-1}" = 0 ]; then
  result outbound skipped
  echo
  echo "lab: outbound part skipped (LAB_OUTBOUND=0)"
else
  step "10. Outbound: mail submitted to each organization is relayed to the partner over Domain Security"
  for s in a b; do
    r=${PARTNER[$s]}
    subject="lab relay ${NAME[$s]} to ${NAME[$r]}"
    send "$s" send-mailmessage --smtp-server "${IP[$s]}" --port "$SUBMIT_PORT" --source-ip-address "${IP[$s]}" \
      --helo "client.${DOMAIN[$s]}" --from "user@${DOMAIN[$s]}" --to "relay@${DOMAIN[$r]}" --subject "$subject" --body "relayed by ${NAME[$s]}"
    if [ "$SENT_RC" != 0 ]; then
      if grep -q -E '5\.7\.54|Client was not authenticated' <<<"$SENT"; then
        die "${NAME[$s]}'s Submission connector (ExternalAuthoritative, ExchangeServers) refused the message: this engine does not treat such sessions as Internal, so it cannot relay (is the outbound queue runner in this build?). LAB_OUTBOUND=0 checks the inbound side only.
$SENT"
      fi
      die "${NAME[$s]} did not accept the submitted message:
$SENT"
    fi
    sed 's/^/    /' <<<"$SENT"
  done
  for s in a b; do
    r=${PARTNER[$s]}
    subject="lab relay ${NAME[$s]} to ${NAME[$r]}"
    echo "  ${NAME[$s]} -> ${NAME[$r]}:"
    check_received "$r" relay "$subject" "$s" "relay-${NAME[$r],,}"
    # The partner may have stored the message before our side logged SEND: wait (at most 10 s).
    line=
    for _ in $(seq 100); do
      line=$(grep -F '"event_id":"SEND"' "$(tracking "$s")" 2>/dev/null | grep -F "relay@${DOMAIN[$r]}" | tail -n1 || true)
      [ -n "$line" ] && break
      sleep 0.1
    done
    [ -n "$line" ] || die "${NAME[$s]}: no SEND line for relay@${DOMAIN[$r]} in $(tracking "$s")"
    echo "    ${NAME[$s]} tracking log:"
    show_tracking "$line"
    grep -q -F '"domain_secured":true' <<<"$line" || die "${NAME[$s]}: the SEND line does not say domain_secured: $line"
  done
  result outbound ok
fi

# scrape_metrics IP PORT: GET /metrics over bash's /dev/tcp (no curl); the
# exposition on stdout, or a message on stderr and status 1.
scrape_metrics() {
  local ip=$1 port=$2 line status body=0
  if ! { exec 3<>"/dev/tcp/$ip/$port"; } 2>/dev/null; then
    echo "nothing listens on $ip:$port" >&2
    return 1
  fi
  printf 'GET /metrics HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$ip" "$port" >&3
  if ! IFS= read -r -t 5 status <&3; then
    exec 3<&-
    echo "no answer from $ip:$port" >&2
    return 1
  fi
  status=${status%$'\r'}
  if [[ $status != "HTTP/1.1 200 "* ]]; then
    exec 3<&-
    echo "$ip:$port answered '$status'" >&2
    return 1
  fi
  while IFS= read -r -t 5 line <&3 || [ -n "$line" ]; do
    line=${line%$'\r'}
    if [ "$body" = 0 ]; then
      [ -z "$line" ] && body=1
      continue
    fi
    printf '%s\n' "$line"
  done
  exec 3<&-
}
# The value of one sample (exact series text), or 0.
metric() { grep -F "$2 " <<<"$1" | awk '{print $NF}' | head -n1 | grep . || echo 0; }

step "11. Metrics: each engine's Prometheus endpoint (Set-TransportService -MetricsBindings)"
for o in a b; do
  echo "  ${NAME[$o]}: GET http://${IP[$o]}:$METRICS_PORT/metrics"
  m=$(scrape_metrics "${IP[$o]}" "$METRICS_PORT") || die "${NAME[$o]}: no metrics on ${IP[$o]}:$METRICS_PORT"
  grep -E '^xshell_(messages_(received|sent)_total|smtp_refusals_total|tls_handshakes_total|queue_messages|certificate_expiry_days|delivery_latency_seconds_count)' <<<"$m" |
    grep -v ' 0$' | sed 's/^/    /' || true
  secured=$(metric "$m" 'xshell_messages_received_total{connector="Inbound",tls="domain_secured"}')
  [ "${secured%.*}" -ge 1 ] || die "${NAME[$o]}: no domain-secured message counted on Inbound:
$m"
  full=$(metric "$m" 'xshell_tls_handshakes_total{direction="inbound",kind="full"}')
  resumed=$(metric "$m" 'xshell_tls_handshakes_total{direction="inbound",kind="resumed"}')
  echo "    ${NAME[$o]}: $secured domain-secured message(s) received on Inbound; TLS handshakes from clients: $full full, $resumed resumed"
  [ -z "${LAB_OUT:-}" ] || printf '%s\n' "$m" >"$LAB_OUT/metrics-${NAME[$o],,}.txt"
done
result metrics ok

if [ -n "${LAB_OUT:-}" ]; then
  for o in a b; do cp "$(tracking "$o")" "$LAB_OUT/tracking-${NAME[$o],,}.jsonl" 2>/dev/null || true; done
  {
    printf '%s\n' "${RESULTS[@]}"
    echo "port=$PORT"
    echo "result=ok"
  } >"$LAB_OUT/summary"
fi
echo
echo "lab: OK: ${RESULTS[*]}"
