# RB-WIN-SEC-006 remediate: idempotent
$s = Get-Service -Name WinDefend -ErrorAction SilentlyContinue
if (-not $s) {
  $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @(); reason = 'Defender is not installed' }
  'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
}
$mode = ''; try { $mode = [string](Get-MpComputerStatus -ErrorAction Stop).AMRunningMode } catch { $mode = '' }
if ($mode -like 'Passive*' -or $mode -like 'EDR*') {
  $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @(); reason = 'Defender runs in passive mode next to another antivirus' }
  'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
}
$actions = @()
try {
  if ($s.Status -ne 'Running') { Start-Service -Name WinDefend -ErrorAction Stop; $actions += 'started WinDefend' }
  if ((Get-MpPreference).DisableRealtimeMonitoring) { Set-MpPreference -DisableRealtimeMonitoring $false -ErrorAction Stop; $actions += 'real-time on' }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
