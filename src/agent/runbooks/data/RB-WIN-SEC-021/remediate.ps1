# RB-WIN-SEC-021 remediate: idempotent; bindings first, then the named filters and consumers
$ns = 'root\subscription'
$defF = 'SCM Event Log Filter', 'BVTFilter'
$defC = 'SCM Event Log Consumer', 'BVTConsumer'
$nf = @(([string]$MspParams.filters) -split "`n" | Where-Object { $_ -ne '' -and $defF -notcontains $_ })
$nc = @(([string]$MspParams.consumers) -split "`n" | Where-Object { $_ -ne '' -and $defC -notcontains $_ })
$actions = @()
try {
  if ($nf.Count + $nc.Count -eq 0) { throw 'no non-default filter or consumer named' }
  foreach ($b in @(Get-CimInstance -Namespace $ns -ClassName __FilterToConsumerBinding -ErrorAction Stop)) {
    $bf = [string]$b.Filter.Name; $bc = [string]$b.Consumer.Name
    if ($nf -contains $bf -or $nc -contains $bc) {
      Remove-CimInstance -InputObject $b -ErrorAction Stop
      $actions += ('removed binding {0} -> {1}' -f $bf, $bc)
    }
  }
  foreach ($x in @(Get-CimInstance -Namespace $ns -ClassName __EventFilter -ErrorAction Stop)) {
    if ($nf -contains [string]$x.Name) { Remove-CimInstance -InputObject $x -ErrorAction Stop; $actions += ('removed filter ' + $x.Name) }
  }
  foreach ($x in @(Get-CimInstance -Namespace $ns -ClassName __EventConsumer -ErrorAction Stop)) {
    if ($nc -contains [string]$x.Name) { Remove-CimInstance -InputObject $x -ErrorAction Stop; $actions += ('removed consumer {0} ({1})' -f $x.Name, $x.CimClass.CimClassName) }
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
