(Get-SendConnector Outbound).Name | Set-X -Identity $dir\file.txt
$list[0].Items.Count -gt 3 -or -not $x
