# RB-WIN-SEC-007 remediate: idempotent
$actions = @()
try {
  $c = Get-SmbServerConfiguration
  if (-not $c.RequireSecuritySignature -or -not $c.EnableSecuritySignature) {
    Set-SmbServerConfiguration -RequireSecuritySignature $true -EnableSecuritySignature $true -Force -ErrorAction Stop
    $actions += 'RequireSecuritySignature=true'
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
