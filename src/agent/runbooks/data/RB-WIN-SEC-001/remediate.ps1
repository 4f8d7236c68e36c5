# RB-WIN-SEC-001 remediate: idempotent
try {
  Set-NetFirewallProfile -Profile @('Domain', 'Private', 'Public') -Enabled True -ErrorAction Stop
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = $true; actions = @('enabled Domain,Private,Public'); reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = $false; actions = @(); reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
