# RB-WIN-NET-003 remediate: idempotent; Public -> Private for named interfaces on a private LAN
function Test-Private([string]$ip) {
  $a = $null
  if (-not [System.Net.IPAddress]::TryParse($ip, [ref]$a) -or [string]$a.AddressFamily -ne 'InterNetwork') { return $false }
  $b = $a.GetAddressBytes()
  ($b[0] -eq 10) -or ($b[0] -eq 172 -and $b[1] -ge 16 -and $b[1] -le 31) -or ($b[0] -eq 192 -and $b[1] -eq 168)
}
$named = @(([string]$MspParams.interfaces) -split "`n" | Where-Object { $_ -ne '' })
$actions = @()
$skipped = @()
try {
  if ($named.Count -eq 0) { throw 'no interfaces named' }
  foreach ($p in @(Get-NetConnectionProfile -ErrorAction Stop)) {
    if ([string]$p.NetworkCategory -ne 'Public' -or $named -notcontains [string]$p.InterfaceAlias) { continue }
    $ips = @(Get-NetIPAddress -InterfaceIndex $p.InterfaceIndex -AddressFamily IPv4 -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.IPAddress })
    if (@($ips | Where-Object { Test-Private $_ }).Count -eq 0) { $skipped += [string]$p.InterfaceAlias; continue }
    Set-NetConnectionProfile -InterfaceIndex $p.InterfaceIndex -NetworkCategory Private -ErrorAction Stop
    $actions += ('{0}: Public -> Private' -f $p.InterfaceAlias)
  }
  if ($skipped.Count -gt 0) {
    $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = ($actions.Count -gt 0); actions = $actions;
      reason = 'no private IPv4 address on ' + ($skipped -join ', ') + ': may be a genuinely public network' }
  } else {
    $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
  }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
