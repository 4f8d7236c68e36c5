# msp-agent Windows scan: one MSP_CHECK record per check, raw state only (evaluated on the appliance).
# Every record is produced by ConvertTo-Json; a check that throws emits {"error": <type>} (= unknown).
$ErrorActionPreference = 'Stop'
$script:MspN = 0
function Msp-Rec([string]$Id, [scriptblock]$Body) {
    try { $data = & $Body } catch { $data = @{ error = $_.Exception.GetType().Name } }
    if ($null -eq $data) { $data = @{ error = 'NoData' } }
    $line = 'MSP_CHECK ' + (ConvertTo-Json -Compress -Depth 6 -InputObject @{ id = $Id; data = $data })
    [Console]::Out.WriteLine($line); [Console]::Out.Flush()
    $script:MspN++
}
function Msp-Svc([string]$Name) {
    $s = Get-Service -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $s) { return @{ exists = $false; status = 'NotInstalled'; start_type = '' } }
    @{ exists = $true; status = [string]$s.Status; start_type = [string]$s.StartType }
}
function Msp-Reg([string]$Path, [string]$Name) {
    $p = Get-ItemProperty -Path $Path -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $p) { return $null }
    $p.$Name
}

Msp-Rec firewall_status {
    $h = @{}
    foreach ($p in Get-NetFirewallProfile) { $h[[string]$p.Name] = ([string]$p.Enabled -eq 'True') }
    @{ profiles = $h }
}
Msp-Rec windows_defender { Msp-Svc 'WinDefend' }
Msp-Rec windows_update { Msp-Svc 'wuauserv' }
Msp-Rec audit_logging { Msp-Svc 'EventLog' }
Msp-Rec rogue_admin_users {
    $g = Get-LocalGroup -SID 'S-1-5-32-544'
    $m = @(Get-LocalGroupMember -Group $g | ForEach-Object { '{0}|{1}|{2}' -f $_.SID.Value, $_.ObjectClass, $_.Name })
    # The account this scan runs as (the agent's management account) is not a rogue admin.
    @{ members = $m; self_sid = [Security.Principal.WindowsIdentity]::GetCurrent().User.Value }
}
Msp-Rec rogue_scheduled_tasks {
    @{ tasks = @(Get-ScheduledTask | Where-Object { $_.TaskPath -notlike '\Microsoft\Windows\*' } |
        ForEach-Object { $_.TaskPath + $_.TaskName }) }
}
Msp-Rec agent_status { Msp-Svc 'OsirisCareAgent' }
Msp-Rec bitlocker_status {
    if (-not (Get-Command Get-BitLockerVolume -ErrorAction SilentlyContinue)) { return @{ available = $false } }
    @{ available = $true; volumes = @(Get-BitLockerVolume | Where-Object { $_.VolumeType -eq 'OperatingSystem' -or $_.VolumeType -eq 'Data' } |
        ForEach-Object { '{0}|{1}|{2}' -f $_.MountPoint, $_.ProtectionStatus, $_.VolumeStatus }) }
}
Msp-Rec smb_signing { @{ require_signing = [bool](Get-SmbServerConfiguration).RequireSecuritySignature } }
Msp-Rec smb1_protocol { @{ smb1_enabled = [bool](Get-SmbServerConfiguration).EnableSMB1Protocol } }
Msp-Rec screen_lock_policy {
    $v = Msp-Reg 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' 'InactivityTimeoutSecs'
    @{ configured = ($null -ne $v); timeout_s = $(if ($null -ne $v) { [int]$v } else { 0 }) }
}
Msp-Rec defender_exclusions {
    if (-not (Get-Command Get-MpPreference -ErrorAction SilentlyContinue)) { return @{ available = $false } }
    $p = Get-MpPreference
    @{ available = $true; paths = @($p.ExclusionPath | Where-Object { $_ }); processes = @($p.ExclusionProcess | Where-Object { $_ });
       extensions = @($p.ExclusionExtension | Where-Object { $_ }) }
}
Msp-Rec dns_config {
    $dc = ''
    try { $dc = [string](Resolve-DnsName -Type A ('_ldap._tcp.dc._msdcs.' + $env:USERDNSDOMAIN) -ErrorAction Stop | Where-Object { $_.IP4Address } | Select-Object -First 1).IP4Address } catch { $dc = '' }
    @{ dc = $dc; servers = @(Get-DnsClientServerAddress -AddressFamily IPv4 | ForEach-Object {
        $alias = $_.InterfaceAlias; foreach ($s in $_.ServerAddresses) { '{0}|{1}' -f $alias, $s } }) }
}
Msp-Rec network_profile {
    @{ interfaces = @(Get-NetConnectionProfile | ForEach-Object { '{0}|{1}' -f $_.InterfaceAlias, $_.NetworkCategory }) }
}
Msp-Rec password_policy {
    $out = & net.exe accounts
    $min = $null; $lock = $null
    foreach ($l in $out) {
        if ($l -match '^Minimum password length:\s+(\d+)') { $min = [int]$Matches[1] }
        if ($l -match '^Lockout threshold:\s+(\S+)') { $lock = $(if ($Matches[1] -eq 'Never') { 0 } else { [int]$Matches[1] }) }
    }
    @{ min_length = $min; lockout_threshold = $lock }
}
Msp-Rec rdp_nla {
    @{ user_authentication = Msp-Reg 'HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp' 'UserAuthentication' }
}
Msp-Rec guest_account {
    $g = Get-LocalUser | Where-Object { $_.SID.Value -like 'S-1-5-21-*-501' } | Select-Object -First 1
    if ($null -eq $g) { return @{ exists = $false; enabled = $false } }
    @{ exists = $true; enabled = [bool]$g.Enabled }
}
Msp-Rec service_dns { @{ DNS = (Msp-Svc 'DNS').status; NTDS = (Msp-Svc 'NTDS').status } }
Msp-Rec service_netlogon { Msp-Svc 'Netlogon' }
Msp-Rec wmi_event_persistence {
    $ns = 'root\subscription'
    @{ filters = @(Get-CimInstance -Namespace $ns -ClassName __EventFilter | ForEach-Object { [string]$_.Name });
       consumers = @(Get-CimInstance -Namespace $ns -ClassName __EventConsumer | ForEach-Object { [string]$_.Name }) }
}
Msp-Rec registry_run_persistence {
    $e = @()
    foreach ($k in 'Run', 'RunOnce') {
        $path = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\' + $k
        $key = Get-Item -Path $path -ErrorAction SilentlyContinue
        if ($null -eq $key) { continue }
        # Value names straight from the key: no PS* provider properties to filter (and so no
        # way for an entry named "PS..." to hide); the unnamed default value is not a Run entry.
        foreach ($n in $key.GetValueNames()) { if ($n -ne '') { $e += ('{0}|{1}' -f $k, $n) } }
    }
    @{ entries = $e }
}
Msp-Rec audit_policy {
    # Required subcategories by GUID (locale independent): Logon, Logoff, Account Lockout,
    # User Account Management, Security Group Management, Audit Policy Change, Sensitive Privilege Use.
    $want = '{0CCE9215-69AE-11D9-BED3-505054503030}', '{0CCE9216-69AE-11D9-BED3-505054503030}',
            '{0CCE9217-69AE-11D9-BED3-505054503030}', '{0CCE9235-69AE-11D9-BED3-505054503030}',
            '{0CCE9237-69AE-11D9-BED3-505054503030}', '{0CCE922F-69AE-11D9-BED3-505054503030}',
            '{0CCE9228-69AE-11D9-BED3-505054503030}'
    $h = @{}
    foreach ($row in (& auditpol.exe /get "/subcategory:$($want -join ',')" /r | Where-Object { $_ } | ConvertFrom-Csv)) {
        $h[[string]$row.'Subcategory GUID'] = [string]$row.'Inclusion Setting'
    }
    @{ subcategories = $h }
}
Msp-Rec defender_cloud_protection {
    if (-not (Get-Command Get-MpPreference -ErrorAction SilentlyContinue)) { return @{ available = $false } }
    $p = Get-MpPreference
    @{ available = $true; realtime_enabled = -not [bool]$p.DisableRealtimeMonitoring; maps_reporting = [int]$p.MAPSReporting;
       sample_submission = [int]$p.SubmitSamplesConsent }
}
Msp-Rec spooler_service { Msp-Svc 'Spooler' }
Msp-Rec firewall_dangerous_rules {
    # Filtered here, not with -Direction/-Enabled: those make the cmdlet throw when nothing matches.
    @{ rules = @(Get-NetFirewallRule | Where-Object { [string]$_.Direction -eq 'Inbound' -and [string]$_.Action -eq 'Allow' -and
        [string]$_.Enabled -eq 'True' } | ForEach-Object {
        $pf = $_ | Get-NetFirewallPortFilter
        '{0}|{1}|{2}' -f $_.Name, $pf.Protocol, (@($pf.LocalPort) -join ',') }) }
}
# Backup: one probe per mechanism, gathered once for both backup checks. A probe that throws is
# {"error": <type>} on its own (unknown), so one unreadable mechanism does not hide the others.
# Times are Unix seconds of the host clock; "now" is the host clock too (no appliance/host skew).
function Msp-Epoch($d) {
    if ($null -eq $d) { return 0 }
    $d = [datetime]$d
    if ($d.Year -lt 2000) { return 0 }
    [int64]([DateTimeOffset]$d.ToUniversalTime()).ToUnixTimeSeconds()
}
function Msp-Probe([scriptblock]$Body) {
    try { & $Body } catch { @{ error = $_.Exception.GetType().Name } }
}
$script:MspBackup = $null
function Msp-Backup {
    if ($null -ne $script:MspBackup) { return $script:MspBackup }
    $wsb = Msp-Probe {
        if (-not (Get-Command Get-WBPolicy -ErrorAction SilentlyContinue)) { return @{ available = $false; policy = $false; last_success = 0 } }
        $pol = Get-WBPolicy
        $sum = $null
        try { $sum = Get-WBSummary } catch { if ($null -ne $pol) { throw } }  # no policy: may never have run
        @{ available = $true; policy = ($null -ne $pol); last_success = $(if ($null -ne $sum) { Msp-Epoch $sum.LastSuccessfulBackupTime } else { 0 }) }
    }
    $vss = Msp-Probe {
        $copies = @(Get-CimInstance -ClassName Win32_ShadowCopy)
        $newest = 0
        foreach ($c in $copies) { $e = Msp-Epoch $c.InstallDate; if ($e -gt $newest) { $newest = $e } }
        $sched = @(Get-ScheduledTask -TaskPath '\' -ErrorAction SilentlyContinue |
            Where-Object { $_.TaskName -like 'ShadowCopyVolume*' -and [string]$_.State -ne 'Disabled' }).Count -gt 0
        @{ count = $copies.Count; newest = $newest; scheduled = $sched }
    }
    $fh = Msp-Probe {
        $root = $env:SystemDrive + '\Users\*\AppData\Local\Microsoft\Windows\FileHistory\Configuration'
        $conf = @(Get-ChildItem -Path ($root + '\Config1.xml') -Force -ErrorAction SilentlyContinue)
        $last = 0
        foreach ($c in @(Get-ChildItem -Path ($root + '\Catalog1.edb') -Force -ErrorAction SilentlyContinue)) {
            $e = Msp-Epoch $c.LastWriteTimeUtc; if ($e -gt $last) { $last = $e }
        }
        @{ configured = ($conf.Count -gt 0); last = $last }
    }
    $svc = Msp-Probe {
        $re = 'backup|veeam|acronis|datto|carbonite|macrium|crashplan|backblaze|arcserve|storagecraft|shadowprotect|axcient|unitrends|commvault|druva|idrive|cohesity|rubrik|nakivo|altaro|cloudberry|msp360'
        @{ found = @(Get-Service | Where-Object { $_.Name -match $re -or $_.DisplayName -match $re } |
            ForEach-Object { '{0}|{1}|{2}|{3}' -f $_.Name, ($_.DisplayName -replace '\|', '/'), $_.Status, $_.StartType }) }
    }
    $script:MspBackup = @{ now = [int64]([DateTimeOffset]::UtcNow.ToUnixTimeSeconds()); wsb = $wsb; vss = $vss;
        file_history = $fh; services = $svc }
    $script:MspBackup
}
Msp-Rec backup_not_configured { Msp-Backup }
Msp-Rec backup_verification { Msp-Backup }
# Threat detection (threats.py): Security-log events newer than the appliance's cursor
# ($MspParams.security_since, Unix seconds of this host's clock; none = the last hour), at most the
# 200 newest, oldest first, 8 per record (a record line stays far below the 64 KiB line cap). A read
# that fails is one {"error": <type>} record (unknown); no matching event is an empty list.
$script:MspSecIds = 1100, 1102, 4625, 4649, 4697, 4719, 4720, 4724, 4728, 4732, 4740, 4756, 4765, 4766, 4794
$script:MspSec = Msp-Probe {
    $since = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() - 3600
    if ([string]$MspParams.security_since -match '^\d{1,12}$') { $since = [int64][string]$MspParams.security_since }
    $start = [DateTimeOffset]::FromUnixTimeSeconds($since).LocalDateTime
    $evs = @()
    try {
        $evs = @(Get-WinEvent -FilterHashtable @{ LogName = 'Security'; Id = $script:MspSecIds; StartTime = $start } -MaxEvents 200 -ErrorAction Stop)
    } catch {
        if ($_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw }
    }
    $out = @(foreach ($e in ($evs | Sort-Object RecordId)) {
        $ip = ''
        foreach ($d in ([xml]$e.ToXml()).Event.EventData.Data) { if ([string]$d.Name -eq 'IpAddress') { $ip = [string]$d.'#text' } }
        $m = [string]$e.Message
        if ($m.Length -gt 1024) { $m = $m.Substring(0, 1024) }
        @{ event_id = [int]$e.Id; record_id = [int64]$e.RecordId; time = (Msp-Epoch $e.TimeCreated); source_ip = $ip; message = $m }
    })
    @{ events = $out }
}
if ($script:MspSec.ContainsKey('error')) { Msp-Rec security_event_critical { $script:MspSec } }
else {
    $script:MspSecAll = @($script:MspSec.events)
    $script:MspSecI = 0
    do {
        $script:MspSecChunk = @($script:MspSecAll | Select-Object -Skip $script:MspSecI -First 8)
        Msp-Rec security_event_critical { @{ total = $script:MspSecAll.Count; events = $script:MspSecChunk } }
        $script:MspSecI += 8
    } while ($script:MspSecI -lt $script:MspSecAll.Count)
}
# Shadow copies for the ransomware indicator: the backup probe's Win32_ShadowCopy data.
Msp-Rec ransomware_indicator { @{ vss = (Msp-Backup).vss } }
[Console]::Out.WriteLine('MSP_SCAN_END ' + (ConvertTo-Json -Compress -InputObject @{ checks = $script:MspN }))
