# RB-WIN-SEC-026 remediate: idempotent; raises the required subcategories to Success and Failure
$want = '{0CCE9215-69AE-11D9-BED3-505054503030}', '{0CCE9216-69AE-11D9-BED3-505054503030}',
        '{0CCE9217-69AE-11D9-BED3-505054503030}', '{0CCE9235-69AE-11D9-BED3-505054503030}',
        '{0CCE9237-69AE-11D9-BED3-505054503030}', '{0CCE922F-69AE-11D9-BED3-505054503030}',
        '{0CCE9228-69AE-11D9-BED3-505054503030}'
$actions = @()
try {
  $rows = @(& auditpol.exe /get "/subcategory:$($want -join ',')" /r | Where-Object { $_ } | ConvertFrom-Csv)
  if ($LASTEXITCODE -ne 0) { throw "auditpol /get failed ($LASTEXITCODE)" }
  $cur = @{}
  foreach ($row in $rows) { $cur[[string]$row.'Subcategory GUID'] = [string]$row.'Inclusion Setting' }
  foreach ($g in $want) {
    if ($cur[$g] -eq 'Success and Failure') { continue }
    & auditpol.exe /set "/subcategory:$g" /success:enable /failure:enable | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "auditpol /set $g failed ($LASTEXITCODE)" }
    $actions += ('{0}: {1} -> Success and Failure' -f $g, $cur[$g])
  }
  $r = [ordered]@{ phase = 'remediate'; status = 'ok'; changed = ($actions.Count -gt 0); actions = $actions; reason = '' }
} catch {
  $r = [ordered]@{ phase = 'remediate'; status = 'failed'; changed = ($actions.Count -gt 0); actions = $actions; reason = $_.Exception.Message }
}
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
