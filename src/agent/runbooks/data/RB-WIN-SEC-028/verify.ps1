# RB-WIN-SEC-028 verify: named rules still enabled, and over-broad/risky enabled inbound allow rules
$ErrorActionPreference = 'Stop'
$risky = '21', '23', '69', '135', '137', '138', '139', '445', '1433', '1434', '3306', '5432', '5900', '6379', '27017'
function Test-Broad($pf) {
  $proto = [string]$pf.Protocol
  $ports = @(@($pf.LocalPort) | ForEach-Object { ([string]$_).Trim() } | Where-Object { $_ })
  if ($proto -eq 'Any') { return $true }
  if ($proto -eq 'TCP' -or $proto -eq 'UDP') {
    return ($ports.Count -eq 0 -or $ports -contains 'Any' -or @($ports | Where-Object { $risky -contains $_ }).Count -gt 0)
  }
  $false
}
$named = @(([string]$MspParams.rules) -split "`n" | Where-Object { $_ -ne '' })
$rules = @(Get-NetFirewallRule | Where-Object { [string]$_.Direction -eq 'Inbound' -and [string]$_.Action -eq 'Allow' -and [string]$_.Enabled -eq 'True' })
$obs = [ordered]@{
  checked = $named.Count
  remaining = @($rules | Where-Object { $named -contains [string]$_.Name }).Count
  unexpected = @($rules | Where-Object { Test-Broad ($_ | Get-NetFirewallPortFilter) }).Count
}
$r = [ordered]@{ phase = 'verify'; verified = [bool]($obs.checked -gt 0 -and $obs.remaining -eq 0 -and $obs.unexpected -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
