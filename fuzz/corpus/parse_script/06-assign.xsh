$cert = New-ExchangeCertificate -DomainName a.tld; Enable-ExchangeCertificate -Thumbprint $cert.Thumbprint -Services SMTP
