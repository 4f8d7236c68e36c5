# RB-WIN-SEC-016 verify
$v = (Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' -Name InactivityTimeoutSecs -ErrorAction SilentlyContinue).InactivityTimeoutSecs
$obs = [ordered]@{ timeout_s = $(if ($null -ne $v) { [int]$v } else { 0 }) }
$r = [ordered]@{ phase = 'verify'; verified = [bool]($obs.timeout_s -gt 0 -and $obs.timeout_s -le 900); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
