Set-X “smart quotes” –Name ‘value’ -Unicode Grüße,😀
