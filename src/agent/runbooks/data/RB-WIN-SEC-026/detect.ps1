# RB-WIN-SEC-026 detect: the seven required subcategories (by GUID) and their inclusion setting
$ErrorActionPreference = 'Stop'
$want = '{0CCE9215-69AE-11D9-BED3-505054503030}', '{0CCE9216-69AE-11D9-BED3-505054503030}',
        '{0CCE9217-69AE-11D9-BED3-505054503030}', '{0CCE9235-69AE-11D9-BED3-505054503030}',
        '{0CCE9237-69AE-11D9-BED3-505054503030}', '{0CCE922F-69AE-11D9-BED3-505054503030}',
        '{0CCE9228-69AE-11D9-BED3-505054503030}'
$rows = @(& auditpol.exe /get "/subcategory:$($want -join ',')" /r | Where-Object { $_ } | ConvertFrom-Csv |
  Where-Object { $want -contains [string]$_.'Subcategory GUID' })
if ($LASTEXITCODE -ne 0) { throw "auditpol failed ($LASTEXITCODE)" }
$obs = [ordered]@{
  checked = $rows.Count
  no_auditing = @($rows | Where-Object { [string]$_.'Inclusion Setting' -eq 'No Auditing' }).Count
  not_full = @($rows | Where-Object { [string]$_.'Inclusion Setting' -ne 'Success and Failure' }).Count
}
$r = [ordered]@{ phase = 'detect'; drifted = -not ($obs.checked -eq 7 -and $obs.no_auditing -eq 0 -and $obs.not_full -eq 0); observed = $obs }
'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)
