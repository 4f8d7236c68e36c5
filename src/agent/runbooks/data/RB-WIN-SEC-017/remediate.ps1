# RB-WIN-SEC-017 remediate: idempotent; removes only the named exclusions that are not on the allowlist
$named = @(([string]$MspParams.exclusions) -split "`n" | Where-Object { $_ -ne '' })
$keep = @(([string]$MspParams.keep) -split "`n" | Where-Object { $_ -ne '' })
if (-not (Get-Command Get-MpPreference -ErrorAction SilentlyContinue)) {
  $r = [ordered]@{ phase = 'remediate'; status = 'not_applicable'; changed = $false; actions = @(); reason = 'Microsoft Defender is not available' }
  'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5); exit 0
}
$actions = @()
try {
  if ($named.Count -eq 0) { throw 'no exclusions named' }
  $p = Get-MpPreference -ErrorAction Stop
  $paths = @($p.ExclusionPath | Where-Object { $_ }); $procs = @($p.ExclusionProcess | Where-Object { $_ }); $exts = @($p.ExclusionExtension | Where-Object { $_ })
  foreach ($x in $named) {
    if ($keep -contains $x) { continue }
    if ($paths -contains $x) { Remove-MpPreference -ExclusionPath $x -ErrorAction Stop; $actions += ('removed path exclusion ' + $x) }
    if ($procs -contains $x) { Remove-MpPreference -ExclusionProcess $x -ErrorAction Stop; $actions += ('removed process exclusion ' + $x) }
    if ($exts -contains $x) { Remove-MpPreference -ExclusionExtension $x -ErrorAction Stop; $actions += ('removed extension exclusion ' + $x) }
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
