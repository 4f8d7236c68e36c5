# RB-WIN-SEC-005 verify: every OS/data volume reports protection On
$obs = [ordered]@{ available = $false; checked = 0; unprotected = 0; unprotected_volumes = @() }
if (Get-Command Get-BitLockerVolume -ErrorAction SilentlyContinue) {
  $vols = @(Get-BitLockerVolume -ErrorAction Stop | Where-Object { [string]$_.VolumeType -in 'OperatingSystem', 'Data' })
  $bad = @($vols | Where-Object { [string]$_.ProtectionStatus -ne 'On' } | ForEach-Object { [string]$_.MountPoint })
  $obs = [ordered]@{ available = $true; checked = $vols.Count; unprotected = $bad.Count; unprotected_volumes = $bad }
}
$r = [ordered]@{ phase = 'verify'; verified = [bool]($obs.available -and $obs.checked -gt 0 -and $obs.unprotected -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
