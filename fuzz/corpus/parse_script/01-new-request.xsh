New-ExchangeCertificate -GenerateRequest -SubjectName "C=DE,O=OrgA,CN=mail.orga.example" -DomainName mail.orga.example,orga.example -Path orga.req
