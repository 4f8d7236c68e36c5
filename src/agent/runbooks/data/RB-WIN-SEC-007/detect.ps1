# RB-WIN-SEC-007 detect
$c = Get-SmbServerConfiguration
$obs = [ordered]@{ require_signing = [bool]$c.RequireSecuritySignature }
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.require_signing); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
