# RB-WIN-SVC-005 verify
$s = Get-Service -Name Spooler -ErrorAction SilentlyContinue
$obs = [ordered]@{ service = 'Spooler'; status = $(if ($s) { [string]$s.Status } else { 'NotInstalled' }); start_type = $(if ($s) { [string]$s.StartType } else { '' }) }
$r = [ordered]@{ phase = 'verify'; verified = [bool]($obs.status -ne 'Running' -and $obs.start_type -in @('Disabled', '')); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
