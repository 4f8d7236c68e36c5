# RB-WIN-SVC-005 detect
$s = Get-Service -Name Spooler -ErrorAction SilentlyContinue
$obs = [ordered]@{ service = 'Spooler'; status = $(if ($s) { [string]$s.Status } else { 'NotInstalled' }); start_type = $(if ($s) { [string]$s.StartType } else { '' }) }
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.status -ne 'Running'); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
