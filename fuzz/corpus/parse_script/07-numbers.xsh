Set-TransportService -MessageExpirationTimeout 2.00:00:00 -MaxSize 25MB -Other 1.5GB,0x1F,-5
