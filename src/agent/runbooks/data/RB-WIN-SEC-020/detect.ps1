# RB-WIN-SEC-020 detect
$c = Get-SmbServerConfiguration
$obs = [ordered]@{ smb1_enabled = [bool]$c.EnableSMB1Protocol }
$r = [ordered]@{ phase = 'detect'; drifted = -not (-not $obs.smb1_enabled); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
