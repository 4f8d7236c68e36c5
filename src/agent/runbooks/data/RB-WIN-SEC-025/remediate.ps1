# RB-WIN-SEC-025 remediate: idempotent; only the settings that are off are changed
if (-not (Get-Command Get-MpPreference -ErrorAction SilentlyContinue)) {
  $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @(); reason = 'Microsoft Defender is not available' }
  'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
}
$actions = @()
try {
  $p = Get-MpPreference -ErrorAction Stop
  if ([bool]$p.DisableRealtimeMonitoring) { Set-MpPreference -DisableRealtimeMonitoring $false -ErrorAction Stop; $actions += 'real-time monitoring on' }
  if ([int]$p.MAPSReporting -eq 0) { Set-MpPreference -MAPSReporting Advanced -ErrorAction Stop; $actions += 'MAPS reporting advanced' }
  if ([int]$p.SubmitSamplesConsent -eq 2) { Set-MpPreference -SubmitSamplesConsent SendSafeSamples -ErrorAction Stop; $actions += 'send safe samples' }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
