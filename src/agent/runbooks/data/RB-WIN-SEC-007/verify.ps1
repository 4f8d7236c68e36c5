# RB-WIN-SEC-007 verify
$c = Get-SmbServerConfiguration
$obs = [ordered]@{ require_signing = [bool]$c.RequireSecuritySignature }
$r = [ordered]@{ phase = 'verify'; verified = [bool]($obs.require_signing); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
