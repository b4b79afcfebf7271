Get-ExchangeCertificate | Where-Object { $_.Status -eq "Valid" -and $_.Services -like "*S*" } | Format-List Thumbprint,Services
