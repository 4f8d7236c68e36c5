# RB-WIN-SEC-024 detect
$g = Get-LocalUser | Where-Object { $_.SID.Value -like 'S-1-5-21-*-501' } | Select-Object -First 1
$obs = [ordered]@{ exists = [bool]$g; enabled = [bool]($g -and $g.Enabled) }
$r = [ordered]@{ phase = 'detect'; drifted = -not (-not $obs.enabled); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
