# RB-WIN-SEC-020 remediate: idempotent
$actions = @()
try {
  if ((Get-SmbServerConfiguration).EnableSMB1Protocol) {
    $off = @{ EnableSMB1Protocol = $false; Force = $true; ErrorAction = 'Stop' }
    Set-SmbServerConfiguration @off
    $actions += 'EnableSMB1Protocol=false'
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
