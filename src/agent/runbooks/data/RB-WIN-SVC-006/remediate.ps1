# RB-WIN-SVC-006 remediate: idempotent
$name = $MspParams.service
$s = Get-Service -Name $name -ErrorAction SilentlyContinue
if (-not $s) {
  $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @(); reason = 'service not installed' }
  'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
}
$actions = @()
try {
  if ($s.StartType -ne 'Automatic') { Set-Service -Name $name -StartupType Automatic -ErrorAction Stop; $actions += 'set automatic' }
  if ($s.Status -ne 'Running') { Start-Service -Name $name -ErrorAction Stop; $actions += 'started' }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
