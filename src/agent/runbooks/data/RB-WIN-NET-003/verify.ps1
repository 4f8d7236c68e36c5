# RB-WIN-NET-003 verify: interfaces on the Public network profile (the network_profile condition)
$ErrorActionPreference = 'Stop'
$profiles = @(Get-NetConnectionProfile)
$obs = [ordered]@{ interfaces = $profiles.Count; public = @($profiles | Where-Object { [string]$_.NetworkCategory -eq 'Public' }).Count }
$r = [ordered]@{ phase = 'verify'; verified = [bool]($obs.interfaces -gt 0 -and $obs.public -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
