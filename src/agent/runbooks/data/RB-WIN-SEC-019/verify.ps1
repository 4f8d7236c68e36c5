# RB-WIN-SEC-019 verify: named values still present, and unapproved values in HKLM Run/RunOnce
$allow = 'SecurityHealth', 'OsirisCareAgent', 'VMware User Process', 'VMware VM3DService Process', 'RtHDVCpl'
$named = @(([string]$MspParams.entries) -split "`n" | Where-Object { $_ -ne '' })
$present = @()
foreach ($k in 'Run', 'RunOnce') {
  $key = Get-Item -Path ('HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\' + $k) -ErrorAction SilentlyContinue
  if ($null -eq $key) { continue }
  foreach ($n in $key.GetValueNames()) { if ($n -ne '') { $present += ('{0}|{1}' -f $k, $n) } }
}
$obs = [ordered]@{
  checked = $named.Count
  remaining = @($named | Where-Object { $present -contains $_ }).Count
  unexpected = @($present | Where-Object { $allow -notcontains ($_ -split '\|', 2)[1] }).Count
}
$r = [ordered]@{ phase = 'verify'; verified = [bool]($obs.checked -gt 0 -and $obs.remaining -eq 0 -and $obs.unexpected -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
