Set-SendConnector Outbound -DomainSecureEnabled:$True
Set-ReceiveConnector Inbound -DomainSecureEnabled:$True -AuthMechanism TLS
