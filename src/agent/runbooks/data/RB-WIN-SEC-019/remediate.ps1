# RB-WIN-SEC-019 remediate: idempotent; removes only the named, unapproved values
$allow = 'SecurityHealth', 'OsirisCareAgent', 'VMware User Process', 'VMware VM3DService Process', 'RtHDVCpl'
$named = @(([string]$MspParams.entries) -split "`n" | Where-Object { $_ -ne '' })
$actions = @()
try {
  if ($named.Count -eq 0) { throw 'no entries named' }
  foreach ($e in $named) {
    $k, $n = $e -split '\|', 2
    if ($k -notin 'Run', 'RunOnce' -or -not $n) { throw "malformed entry: $e" }
    if ($allow -contains $n) { continue }
    $path = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\' + $k
    $key = Get-Item -Path $path -ErrorAction SilentlyContinue
    if ($null -eq $key -or $key.GetValueNames() -notcontains $n) { continue }
    Remove-ItemProperty -Path $path -Name $n -ErrorAction Stop
    $actions += ('removed ' + $e)
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
