Get-X |
  Where-Object { $_.Name -in "a","b" } |
  ForEach-Object { @($_.A; $_.B) }
