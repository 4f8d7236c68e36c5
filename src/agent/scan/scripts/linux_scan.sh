# msp-agent Linux scan: one record per check, raw state only (evaluated on the appliance).
# POSIX sh; no python3/jq. Values that cannot be read are emitted as "unknown".
msp_js() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037'; }
msp_jl() { _f=1; printf '['; while IFS= read -r _l; do [ -n "$_l" ] || continue
  [ "$_f" = 1 ] || printf ','; _f=0; printf '"%s"' "$(msp_js "$_l")"; done; printf ']'; }
msp_n=0
msp_rec() { printf 'MSP_CHECK {"id":"%s","data":{%s}}\n' "$1" "$2"; msp_n=$((msp_n+1)); }
msp_have() { command -v "$1" >/dev/null 2>&1; }
msp_rd() { if [ -r "$1" ]; then tr -d ' \n' < "$1"; else printf unknown; fi; }

# file permissions: "<path> <octal mode>" per existing watched file
pf=$(msp_param perm_files)
[ -n "$pf" ] || pf="/etc/shadow
/etc/gshadow
/etc/passwd
/etc/group"
files=$(printf '%s\n' "$pf" | while IFS= read -r f; do [ -e "$f" ] && printf '%s %s\n' "$f" "$(stat -c %a "$f" 2>/dev/null || echo unknown)"; done | msp_jl)
msp_rec linux_file_permissions "\"files\":$files"

# sshd configuration (global section; first occurrence wins, as in sshd)
sc=$(msp_param sshd_config); [ -n "$sc" ] || sc=/etc/ssh/sshd_config
if [ -r "$sc" ]; then
  rl=$(awk 'tolower($1)=="match"{exit} tolower($1)=="permitrootlogin"{print tolower($2); exit}' "$sc")
  pa=$(awk 'tolower($1)=="match"{exit} tolower($1)=="passwordauthentication"{print tolower($2); exit}' "$sc")
  msp_rec linux_ssh_config "\"readable\":true,\"config\":\"$(msp_js "$sc")\",\"root_login\":\"$(msp_js "$rl")\",\"password_auth\":\"$(msp_js "$pa")\""
else
  msp_rec linux_ssh_config "\"readable\":false"
fi

# kernel network parameters
msp_rec linux_kernel_params "\"ip_forward\":\"$(msp_rd /proc/sys/net/ipv4/ip_forward)\",\"tcp_syncookies\":\"$(msp_rd /proc/sys/net/ipv4/tcp_syncookies)\",\"accept_redirects\":\"$(msp_rd /proc/sys/net/ipv4/conf/all/accept_redirects)\""

# time synchronisation
if msp_have timedatectl; then ntp=$(timedatectl show -p NTPSynchronized --value 2>/dev/null); else ntp=""; fi
[ -n "$ntp" ] || ntp=unknown
msp_rec linux_ntp_sync "\"synchronized\":\"$(msp_js "$ntp")\""

# failed systemd units
if msp_have systemctl && [ -d /run/systemd/system ]; then
  fu=$(systemctl list-units --state=failed --plain --no-legend 2>/dev/null | awk '{print $1}' | msp_jl)
  msp_rec linux_failed_services "\"systemd\":true,\"units\":$fu"
else
  msp_rec linux_failed_services "\"systemd\":false"
fi

# disk usage of real filesystems: "<mount> <percent>"
du=$(df -P -x tmpfs -x devtmpfs -x overlay -x squashfs 2>/dev/null | awk 'NR>1{gsub("%","",$5); print $6" "$5}' | msp_jl)
msp_rec linux_disk_space "\"mounts\":$du"

# interactive human accounts
us=$(getent passwd 2>/dev/null | awk -F: '$3>=1000 && $3<=65533 && $7 !~ /(nologin|false)$/ {print $1}' | msp_jl)
msp_rec linux_user_accounts "\"users\":$us"

# listening TCP ports (non-loopback)
if msp_have ss; then
  lp=$(ss -Htln 2>/dev/null | awk '{print $4}' | grep -v -e '^127\.' -e '^\[::1\]' | sed 's/.*://' | sort -un | msp_jl)
  msp_rec linux_open_ports "\"available\":true,\"ports\":$lp"
else
  msp_rec linux_open_ports "\"available\":false"
fi

# audit logging
ad=unknown; if msp_have systemctl; then ad=$(systemctl is-active auditd 2>/dev/null); fi
jp=false; [ -d /var/log/journal ] && jp=true
msp_rec linux_audit_logging "\"auditd\":\"$(msp_js "$ad")\",\"journal_persistent\":$jp"

# firewall rules present
fwn=0
if msp_have nft; then fwn=$(nft list ruleset 2>/dev/null | grep -c -E '^\s+(ip|tcp|udp|ct|iif|counter|drop|accept|reject|policy)' ); fi
if [ "$fwn" -eq 0 ] && msp_have iptables; then fwn=$(iptables -S 2>/dev/null | grep -c -e '^-A' -e '^-P INPUT DROP'); fi
msp_rec linux_firewall "\"rules\":$fwn"

printf 'MSP_SCAN_END {"checks":%d}\n' "$msp_n"
