# RB-WIN-SEC-022 detect
$min = -1; $lock = -1
foreach ($l in (& net.exe accounts)) {
  if ($l -match '^Minimum password length:\s+(\d+)') { $min = [int]$Matches[1] }
  if ($l -match '^Lockout threshold:\s+(\S+)') { $lock = $(if ($Matches[1] -eq 'Never') { 0 } else { [int]$Matches[1] }) }
}
$obs = [ordered]@{ min_length = $min; lockout_threshold = $lock }
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.min_length -ge 8 -and $obs.lockout_threshold -gt 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
