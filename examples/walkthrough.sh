#!/usr/bin/env bash
# The administrator's side of the Domain Security walkthrough, done with
# xshell on a fresh embedded store: OrgA (orga.example) prepares to exchange
# domain-secured mail with its partner domaene.tld.
#
#   ./examples/walkthrough.sh            # uses a temporary folder, removed at the end
#   KEEP=1 ./examples/walkthrough.sh     # keep the folder to look around
#
# The lab CAs made here are for demonstrations only, not for production.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bin xshell
XSHELL="$PWD/target/debug/xshell"
LAB=$(mktemp -d -t xshell-walkthrough.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$LAB"' EXIT
cd "$LAB"
export XSHELL_STORE="$LAB/orga-store"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
x() { printf '$ xshell %s\n' "$*"; "$XSHELL" "$@"; }

step "0. Two lab CAs: the partner's (whose root we will trust) and one that issues our certificate"
x ca-new --name "Domaene Root CA" --path partner-ca
x ca-new --name "OrgA Issuing CA" --path orga-ca
# The partner trusts our CA too; in the lab that means they get orga-ca/ca.pem.

step "1. Trust the partner's root CA"
x -c 'Import-Certificate -FilePath partner-ca/ca.pem -CertStoreLocation Cert:\LocalMachine\Root'
# ... and the CA that issues our own certificate, so that its Status is Valid.
x -c 'Import-Certificate -FilePath orga-ca/ca.pem -CertStoreLocation Cert:\LocalMachine\Root'
x get-trustedroot

step "2. Request a certificate for the SMTP service (the key stays in the store)"
x request-cert --subject-name "C=DE,O=OrgA,CN=mail.orga.example" \
  --domain-name mail.orga.example,orga.example --path orga.req
openssl req -in orga.req -noout -verify 2>&1 | sed 's/^/  openssl: /' || true
x get-exchangecertificate

step "3. The CA issues the certificate"
x ca-sign --ca orga-ca --request-file orga.req --path orga.cer

step "4. Import it and enable it for SMTP, in one pipeline"
x -c 'Import-ExchangeCertificate -Path orga.cer | Enable-ExchangeCertificate -Services SMTP'
x -c 'Get-ExchangeCertificate | Format-List Thumbprint,Services,Status,Subject,CertificateDomains,IsDefaultSmtpCertificate'

step "5. Declare the partner domain secure for receiving and sending"
x new-sendconnector Outbound --address-spaces '*' --usage internet
x new-receiveconnector Inbound --usage internet --bindings 0.0.0.0:25
x set-transportconfig --tls-receive-domain-secure-list domaene.tld
x -c 'Set-TransportConfig -TLSSendDomainSecureList domaene.tld'

step "6. Enable Domain Security on the send connector Outbound"
x -c 'Set-SendConnector Outbound -DomainSecureEnabled:$True'

step "7. Enable it on the receive connector Inbound"
x -c 'Set-ReceiveConnector Inbound -DomainSecureEnabled:$True -AuthMechanism TLS'

step "The result"
x get-transportconfig
x get-sendconnector
x get-receiveconnector
x get-exchangecertificate --domain-name mail.orga.example --output json
echo
echo "Store: $XSHELL_STORE (config.json, keys/ with mode $(stat -c %a "$XSHELL_STORE/keys"))"
echo "Next (xshell-transport, in progress): start the engine on this store and exchange mail with the partner."
