# RB-WIN-SEC-016 detect
$v = (Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' -Name InactivityTimeoutSecs -ErrorAction SilentlyContinue).InactivityTimeoutSecs
$obs = [ordered]@{ timeout_s = $(if ($null -ne $v) { [int]$v } else { 0 }) }
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.timeout_s -gt 0 -and $obs.timeout_s -le 900); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
