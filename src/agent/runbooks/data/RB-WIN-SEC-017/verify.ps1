# RB-WIN-SEC-017 verify: named exclusions still present, and exclusions outside the allowlist
$named = @(([string]$MspParams.exclusions) -split "`n" | Where-Object { $_ -ne '' })
$keep = @(([string]$MspParams.keep) -split "`n" | Where-Object { $_ -ne '' })
$obs = [ordered]@{ available = $false; checked = $named.Count; remaining = 0; unexpected = 0 }
if (Get-Command Get-MpPreference -ErrorAction SilentlyContinue) {
  $p = Get-MpPreference -ErrorAction Stop
  $all = @(@($p.ExclusionPath) + @($p.ExclusionProcess) + @($p.ExclusionExtension) | Where-Object { $_ } | ForEach-Object { [string]$_ })
  $obs.available = $true
  $obs.remaining = @($named | Where-Object { $keep -notcontains $_ -and $all -contains $_ }).Count
  $obs.unexpected = @($all | Where-Object { $keep -notcontains $_ }).Count
}
$r = [ordered]@{ phase = 'verify'; verified = [bool]($obs.available -and $obs.checked -gt 0 -and $obs.remaining -eq 0 -and $obs.unexpected -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
