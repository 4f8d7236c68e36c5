# RB-WIN-SVC-006 verify: echoes the service name so the assertion binds to the parameter
$name = $MspParams.service
$s = Get-Service -Name $name -ErrorAction SilentlyContinue
if ($s) { $s.WaitForStatus('Running', [TimeSpan]::FromSeconds(20)) 2>$null; $s.Refresh() }
$obs = [ordered]@{ service = $name; status = if ($s) { [string]$s.Status } else { 'Missing' }; start_type = if ($s) { [string]$s.StartType } else { '' } }
$r = [ordered]@{ phase = 'verify'; verified = [bool]($s -and $s.Status -eq 'Running'); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
