# RB-WIN-SEC-001 detect
$p = @{}; Get-NetFirewallProfile | ForEach-Object { $p[$_.Name.ToLower()] = [bool]($_.Enabled -eq 'True' -or $_.Enabled -eq 1) }
$obs = [ordered]@{ domain = [bool]$p['domain']; private = [bool]$p['private']; public = [bool]$p['public'] }
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.domain -and $obs.private -and $obs.public); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
