# RB-WIN-SEC-027 detect: named users still in Administrators, and users other than the built-in one
$ErrorActionPreference = 'Stop'
$named = @(([string]$MspParams.users) -split "`n" | Where-Object { $_ -ne '' })
$members = @(Get-LocalGroupMember -SID 'S-1-5-32-544')
$me = [Security.Principal.WindowsIdentity]::GetCurrent().User.Value  # the agent's account (not rogue)
$users = @($members | Where-Object { [string]$_.ObjectClass -eq 'User' })
$obs = [ordered]@{
  checked = $named.Count
  remaining = @($users | Where-Object { $named -contains [string]$_.Name }).Count
  rogue = @($users | Where-Object { -not ($_.SID.Value -like 'S-1-5-21-*-500') -and $_.SID.Value -ne $me }).Count
}
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.checked -gt 0 -and $obs.remaining -eq 0 -and $obs.rogue -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
