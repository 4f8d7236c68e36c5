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
    @{ members = $m }
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
        $item = Get-ItemProperty -Path $path -ErrorAction SilentlyContinue
        if ($null -eq $item) { continue }
        foreach ($p in $item.PSObject.Properties) {
            if ($p.Name -like 'PS*') { continue }
            $e += ('{0}|{1}' -f $k, $p.Name)
        }
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
    foreach ($row in (& auditpol.exe /get /subcategory:($want -join ',') /r | ConvertFrom-Csv)) {
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
    @{ rules = @(Get-NetFirewallRule -Direction Inbound -Action Allow -Enabled True | ForEach-Object {
        $pf = $_ | Get-NetFirewallPortFilter
        '{0}|{1}|{2}' -f $_.Name, $pf.Protocol, (@($pf.LocalPort) -join ',') }) }
}
[Console]::Out.WriteLine('MSP_SCAN_END ' + (ConvertTo-Json -Compress -InputObject @{ checks = $script:MspN }))
