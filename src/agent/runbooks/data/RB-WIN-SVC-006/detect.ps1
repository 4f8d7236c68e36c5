# RB-WIN-SVC-006 detect
$name = $MspParams.service
$s = Get-Service -Name $name -ErrorAction SilentlyContinue
$obs = [ordered]@{ service = $name; status = if ($s) { [string]$s.Status } else { 'Missing' }; start_type = if ($s) { [string]$s.StartType } else { '' } }
$r = [ordered]@{ phase = 'detect'; drifted = [bool]($s -and $s.Status -ne 'Running'); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
