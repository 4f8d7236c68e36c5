# RB-WIN-SVC-005 remediate: idempotent; domain controllers only
if ((Get-CimInstance Win32_ComputerSystem).DomainRole -lt 4) {
  $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @(); reason = 'not a domain controller: print services stay' }
  'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
}
$actions = @()
try {
  $s = Get-Service -Name Spooler -ErrorAction SilentlyContinue
  if ($s) {
    if ($s.Status -ne 'Stopped') { Stop-Service -Name Spooler -Force -ErrorAction Stop; $actions += 'stopped' }
    if ([string]$s.StartType -ne 'Disabled') { Set-Service -Name Spooler -StartupType Disabled -ErrorAction Stop; $actions += 'disabled' }
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
