$x = @{
  Add = "x.tld"
  'Remove' = (Get-Y -Force)
}
$x.Add = ${weird name} + 1 * 2
