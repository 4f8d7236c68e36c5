# RB-WIN-NET-001 detect: IPv4 DNS servers outside the allowed set (the dns_config condition)
$ErrorActionPreference = 'Stop'
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
$servers = 0; $bad = 0; $badIf = 0
foreach ($e in @(Get-DnsClientServerAddress -AddressFamily IPv4)) {
  $s = @($e.ServerAddresses | Where-Object { $_ })
  $n = @($s | Where-Object { -not (Test-Allowed $_) }).Count
  $servers += $s.Count; $bad += $n; if ($n -gt 0) { $badIf++ }
}
$obs = [ordered]@{ servers = $servers; bad = $bad; bad_interfaces = $badIf }
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.servers -gt 0 -and $obs.bad -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
