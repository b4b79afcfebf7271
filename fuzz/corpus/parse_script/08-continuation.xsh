# comment
New-X -A one `
   -B "two $x $($y.Name) `t" <# block #> -C 'it''s'
