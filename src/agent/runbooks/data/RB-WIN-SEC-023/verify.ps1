# RB-WIN-SEC-023 verify
$v = (Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp' -Name UserAuthentication -ErrorAction SilentlyContinue).UserAuthentication
$obs = [ordered]@{ user_authentication = $(if ($null -ne $v) { [int]$v } else { -1 }) }
$r = [ordered]@{ phase = 'verify'; verified = [bool]($obs.user_authentication -eq 1); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
