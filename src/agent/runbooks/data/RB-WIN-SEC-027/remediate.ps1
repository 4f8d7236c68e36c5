# RB-WIN-SEC-027 remediate: idempotent; removes only the named user accounts, by SID
$named = @(([string]$MspParams.users) -split "`n" | Where-Object { $_ -ne '' })
$me = [Security.Principal.WindowsIdentity]::GetCurrent().User.Value
$actions = @()
try {
  if ($named.Count -eq 0) { throw 'no users named' }
  $members = @(Get-LocalGroupMember -SID 'S-1-5-32-544' -ErrorAction Stop)
  $todo = @()
  foreach ($n in $named) {
    $m = $members | Where-Object { [string]$_.Name -eq $n } | Select-Object -First 1
    if ($null -eq $m) { continue }  # already gone
    $sid = $m.SID.Value
    if ($sid -eq $me) {
      $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @();
        reason = "the finding names the account the agent uses ($n): removing it would cut the management path" }
      'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
    }
    if ($sid -like 'S-1-5-21-*-500' -or [string]$m.ObjectClass -ne 'User') { continue }  # never built-in Administrator or groups
    $todo += $m
  }
  foreach ($m in $todo) {
    Remove-LocalGroupMember -SID 'S-1-5-32-544' -Member $m -ErrorAction Stop
    $actions += ('removed {0} from Administrators' -f $m.Name)
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
