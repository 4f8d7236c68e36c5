# RB-WIN-SEC-005 detect: the bitlocker_status condition (an OS/data volume whose protection is not on)
$obs = [ordered]@{ available = $false; checked = 0; unprotected = 0; unprotected_volumes = @() }
if (Get-Command Get-BitLockerVolume -ErrorAction SilentlyContinue) {
  $vols = @(Get-BitLockerVolume -ErrorAction Stop | Where-Object { [string]$_.VolumeType -in 'OperatingSystem', 'Data' })
  $bad = @($vols | Where-Object { [string]$_.ProtectionStatus -ne 'On' } | ForEach-Object { [string]$_.MountPoint })
  $obs = [ordered]@{ available = $true; checked = $vols.Count; unprotected = $bad.Count; unprotected_volumes = $bad }
}
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.available -and $obs.checked -gt 0 -and $obs.unprotected -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
