# RB-WIN-SEC-028 remediate: idempotent; disables (never deletes) the named inbound allow rules
function Test-Covers($pf, [int]$port) {
  $proto = [string]$pf.Protocol
  if ($proto -ne 'TCP' -and $proto -ne 'Any') { return $false }
  foreach ($lp in @($pf.LocalPort)) {
    $lp = ([string]$lp).Trim()
    if ($lp -eq 'Any') { return $true }
    if ($lp -match '^(\d+)-(\d+)$') { if ($port -ge [int]$Matches[1] -and $port -le [int]$Matches[2]) { return $true } }
    elseif ($lp -match '^\d+$' -and [int]$lp -eq $port) { return $true }
  }
  $false
}
$named = @(([string]$MspParams.rules) -split "`n" | Where-Object { $_ -ne '' })
$port = 0; [void][int]::TryParse([string]$MspParams.mgmt_port, [ref]$port); if ($port -le 0) { $port = 5985 }
$actions = @()
try {
  if ($named.Count -eq 0) { throw 'no rules named' }
  $rules = @(Get-NetFirewallRule -ErrorAction Stop | Where-Object { [string]$_.Direction -eq 'Inbound' -and [string]$_.Action -eq 'Allow' -and [string]$_.Enabled -eq 'True' })
  $cover = @(); $targets = @()
  foreach ($rule in $rules) {
    if (Test-Covers ($rule | Get-NetFirewallPortFilter) $port) { $cover += [string]$rule.Name }
    if ($named -contains [string]$rule.Name) { $targets += $rule }
  }
  $left = @($cover | Where-Object { $named -notcontains $_ })
  if ($cover.Count -gt 0 -and $left.Count -eq 0) {
    $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @();
      reason = "the named rules are the only inbound rules allowing the management port $port" }
    'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
  }
  foreach ($rule in $targets) {
    Disable-NetFirewallRule -Name $rule.Name -ErrorAction Stop
    $actions += ('disabled ' + $rule.Name)
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
