Set-TransportConfig -TLSSendDomainSecureList @{Add="c.tld"; Remove="a.tld","b.tld"}
