# RB-WIN-SEC-021 detect: named filters/consumers still present, and non-default ones left
$ErrorActionPreference = 'Stop'
$ns = 'root\subscription'
$defF = 'SCM Event Log Filter', 'BVTFilter'
$defC = 'SCM Event Log Consumer', 'BVTConsumer'
$nf = @(([string]$MspParams.filters) -split "`n" | Where-Object { $_ -ne '' })
$nc = @(([string]$MspParams.consumers) -split "`n" | Where-Object { $_ -ne '' })
$f = @(Get-CimInstance -Namespace $ns -ClassName __EventFilter | ForEach-Object { [string]$_.Name })
$c = @(Get-CimInstance -Namespace $ns -ClassName __EventConsumer | ForEach-Object { [string]$_.Name })
$obs = [ordered]@{
  checked = $nf.Count + $nc.Count
  remaining = @($nf | Where-Object { $f -contains $_ }).Count + @($nc | Where-Object { $c -contains $_ }).Count
  unexpected = @($f | Where-Object { $defF -notcontains $_ }).Count + @($c | Where-Object { $defC -notcontains $_ }).Count
}
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.checked -gt 0 -and $obs.remaining -eq 0 -and $obs.unexpected -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
