# RB-WIN-NET-001 remediate: idempotent; only interfaces using a server outside the allowed set
$public = '8.8.8.8', '8.8.4.4', '1.1.1.1', '1.0.0.1', '9.9.9.9', '149.112.112.112', '208.67.222.222', '208.67.220.220'
$dc = ''
try { $dc = [string](Resolve-DnsName -Type A ('_ldap._tcp.dc._msdcs.' + $env:USERDNSDOMAIN) -ErrorAction Stop | Where-Object { $_.IP4Address } | Select-Object -First 1).IP4Address } catch { $dc = '' }
function Test-Allowed([string]$ip) {
  $a = $null
  if (-not [System.Net.IPAddress]::TryParse($ip, [ref]$a) -or [string]$a.AddressFamily -ne 'InterNetwork') { return $false }
  $b = $a.GetAddressBytes()
  if ($b[0] -eq 127 -or $b[0] -eq 10) { return $true }
  if ($b[0] -eq 172 -and $b[1] -ge 16 -and $b[1] -le 31) { return $true }
  if ($b[0] -eq 192 -and $b[1] -eq 168) { return $true }
  if ($b[0] -eq 169 -and $b[1] -eq 254) { return $true }
  ($ip -eq $dc -or $public -contains $ip)
}
$want = @(([string]$MspParams.dns_servers) -split "`n" | Where-Object { $_ -ne '' })
$actions = @()
$static = @()
try {
  foreach ($w in $want) { if (-not (Test-Allowed $w)) { throw "dns_servers contains $w, which is outside the allowed set" } }
  foreach ($e in @(Get-DnsClientServerAddress -AddressFamily IPv4 -ErrorAction Stop)) {
    $bad = @(@($e.ServerAddresses | Where-Object { $_ }) | Where-Object { -not (Test-Allowed $_) })
    if ($bad.Count -eq 0) { continue }
    if ($want.Count -gt 0) {
      Set-DnsClientServerAddress -InterfaceIndex $e.InterfaceIndex -ServerAddresses $want -ErrorAction Stop
      $actions += ('{0}: {1} -> {2}' -f $e.InterfaceAlias, ($bad -join ','), ($want -join ','))
      continue
    }
    $ipif = Get-NetIPInterface -InterfaceIndex $e.InterfaceIndex -AddressFamily IPv4 -ErrorAction Stop
    if ([string]$ipif.Dhcp -ne 'Enabled') { $static += [string]$e.InterfaceAlias; continue }
    Set-DnsClientServerAddress -InterfaceIndex $e.InterfaceIndex -ResetServerAddresses -ErrorAction Stop
    $actions += ('{0}: {1} -> DHCP-provided' -f $e.InterfaceAlias, ($bad -join ','))
  }
  if ($static.Count -gt 0) {
    $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = ($actions.Count -gt 0); actions = $actions;
      reason = 'static interface(s) ' + ($static -join ', ') + ': the site DNS servers must be given as dns_servers' }
  } else {
    Clear-DnsClientCache -ErrorAction SilentlyContinue
    $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
  }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
