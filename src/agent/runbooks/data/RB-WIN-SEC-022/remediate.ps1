# RB-WIN-SEC-022 remediate: idempotent, raises only
if ((Get-CimInstance Win32_ComputerSystem).DomainRole -ge 4) {
  $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @(); reason = 'domain controller: the password policy is set by the Default Domain Policy GPO' }
  'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
}
$actions = @()
try {
  $min = -1; $lock = -1
  foreach ($l in (& net.exe accounts)) {
    if ($l -match '^Minimum password length:\s+(\d+)') { $min = [int]$Matches[1] }
    if ($l -match '^Lockout threshold:\s+(\S+)') { $lock = $(if ($Matches[1] -eq 'Never') { 0 } else { [int]$Matches[1] }) }
  }
  if ($min -lt 0 -or $lock -lt 0) { throw 'net accounts output not understood' }
  $wantMin = [int]$MspParams.min_length; $wantLock = [int]$MspParams.lockout_threshold
  if ($min -lt $wantMin) {
    & net.exe accounts "/minpwlen:$wantMin" | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "net accounts /minpwlen failed ($LASTEXITCODE)" }
    $actions += "minpwlen=$wantMin"
  }
  if ($lock -eq 0 -or $lock -gt $wantLock) {
    & net.exe accounts "/lockoutthreshold:$wantLock" | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "net accounts /lockoutthreshold failed ($LASTEXITCODE)" }
    $actions += "lockoutthreshold=$wantLock"
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
