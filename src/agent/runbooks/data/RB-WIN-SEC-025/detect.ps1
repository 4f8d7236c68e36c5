# RB-WIN-SEC-025 detect: real-time protection on, MAPS not off, sample submission not "never send"
$obs = [ordered]@{ available = $false; realtime_enabled = $false; maps_reporting = -1; sample_submission = -1 }
if (Get-Command Get-MpPreference -ErrorAction SilentlyContinue) {
  $p = Get-MpPreference -ErrorAction Stop
  $obs = [ordered]@{ available = $true; realtime_enabled = -not [bool]$p.DisableRealtimeMonitoring
    maps_reporting = [int]$p.MAPSReporting; sample_submission = [int]$p.SubmitSamplesConsent }
}
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.available -and $obs.realtime_enabled -and $obs.maps_reporting -gt 0 -and $obs.sample_submission -ne 2); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
