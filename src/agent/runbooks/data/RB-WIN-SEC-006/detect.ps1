# RB-WIN-SEC-006 detect
$s = Get-Service -Name WinDefend -ErrorAction SilentlyContinue
$rt = $false; try { $rt = [bool](Get-MpComputerStatus -ErrorAction Stop).RealTimeProtectionEnabled } catch { $rt = $false }
$obs = [ordered]@{ service = 'WinDefend'; status = $(if ($s) { [string]$s.Status } else { 'NotInstalled' }); realtime_enabled = $rt }
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.status -eq 'Running' -and $obs.realtime_enabled); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
