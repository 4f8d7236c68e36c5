# RB-WIN-SEC-005 remediate: idempotent; resumes suspended protection only, never starts encryption
if (-not (Get-Command Get-BitLockerVolume -ErrorAction SilentlyContinue)) {
  $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @(); reason = 'BitLocker is not available on this host' }
  'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
}
$actions = @()
$unencrypted = @()
try {
  $vols = @(Get-BitLockerVolume -ErrorAction Stop | Where-Object { [string]$_.VolumeType -in 'OperatingSystem', 'Data' })
  foreach ($v in $vols) {
    if ([string]$v.ProtectionStatus -eq 'On') { continue }
    if ([string]$v.VolumeStatus -ne 'FullyEncrypted') { $unencrypted += ('{0} ({1})' -f $v.MountPoint, $v.VolumeStatus); continue }
    Resume-BitLocker -MountPoint $v.MountPoint -ErrorAction Stop | Out-Null
    $actions += ('resumed protection on ' + $v.MountPoint)
  }
  if ($unencrypted.Count -gt 0) {
    $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = ($actions.Count -gt 0); actions = $actions;
      reason = 'not fully encrypted: ' + ($unencrypted -join ', ') + '; encryption needs recovery-key escrow and a person' }
  } else {
    $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
  }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
