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

msp_now=$(date +%s)
msp_sd() { [ -d /run/systemd/system ] && msp_have systemctl; }

# SUID/SGID-root binaries in the usual bin dirs and temp dirs (local fs only, Nix store excluded)
sd=$(msp_param suid_dirs)
[ -n "$sd" ] || sd="/usr/bin
/usr/sbin
/bin
/sbin
/usr/local/bin
/usr/local/sbin
/usr/libexec
/usr/lib/openssh
/opt
/tmp
/var/tmp
/dev/shm"
sdone=true
sb=$(printf '%s\n' "$sd" | while IFS= read -r d; do
  [ -d "$d" ] && [ ! -L "$d" ] || continue
  find "$d" -xdev \( -path /nix/store -prune \) -o -type f -perm -4000 -print 2>/dev/null || echo "MSP_DENIED $d"
done | head -n 500)
case "$sb" in *MSP_DENIED*) sdone=false ;; esac
sbl=$(printf '%s\n' "$sb" | grep -v '^MSP_DENIED ' | msp_jl)
sdn=$(printf '%s\n' "$sb" | sed -n 's/^MSP_DENIED //p' | msp_jl)
sal=$(msp_param suid_allow | msp_jl)
msp_rec linux_suid_binaries "\"complete\":$sdone,\"denied\":$sdn,\"binaries\":$sbl,\"allow\":$sal"

# automatic updates: timers active + the apt/dnf settings that make them apply updates
if msp_sd; then
  ut=$(for t in apt-daily-upgrade.timer dnf-automatic.timer dnf-automatic-install.timer dnf5-automatic.timer yum-cron.service; do
    printf '%s %s\n' "$t" "$(systemctl is-active "$t" 2>/dev/null | head -n 1)"; done | msp_jl)
  apt_uu=absent
  if msp_have apt-config; then  # the resolved apt configuration
    apt_uu=$(apt-config dump 2>/dev/null | sed -n 's/^APT::Periodic::Unattended-Upgrade "\([0-9]*\)";/\1/p' | tail -n 1)
    [ -n "$apt_uu" ] || apt_uu=0
  elif [ -d /etc/apt/apt.conf.d ]; then
    apt_uu=$(cat /etc/apt/apt.conf.d/* 2>/dev/null | grep -v '^[[:space:]]*//' | sed -n 's/.*APT::Periodic::Unattended-Upgrade[[:space:]]*"\([0-9]*\)".*/\1/p' | tail -n 1)
    [ -n "$apt_uu" ] || apt_uu=0
  fi
  uub=false; msp_have unattended-upgrade && uub=true
  dnfa=absent
  if [ -r /etc/dnf/automatic.conf ]; then
    dnfa=$(sed -n 's/^[[:space:]]*apply_updates[[:space:]]*=[[:space:]]*\([A-Za-z0-9]*\).*/\1/p' /etc/dnf/automatic.conf | tail -n 1 | tr 'A-Z' 'a-z')
    [ -n "$dnfa" ] || dnfa=no
  fi
  msp_rec linux_unattended_upgrades "\"systemd\":true,\"timers\":$ut,\"apt_unattended\":\"$(msp_js "$apt_uu")\",\"uu_installed\":$uub,\"dnf_apply_updates\":\"$(msp_js "$dnfa")\""
else
  msp_rec linux_unattended_upgrades "\"systemd\":false"
fi

# log forwarding (rsyslog/syslog-ng/journal-upload) and journal persistence
lc=$(msp_param syslog_configs)
[ -n "$lc" ] || lc="/etc/rsyslog.conf
/etc/rsyslog.d/*.conf
/etc/syslog-ng/syslog-ng.conf
/etc/syslog-ng/conf.d/*.conf
/etc/systemd/journal-upload.conf
/etc/systemd/journal-upload.conf.d/*.conf"
lfw=$(printf '%s\n' "$lc" | while IFS= read -r pat; do
  for f in $pat; do
    [ -e "$f" ] || continue
    if [ ! -r "$f" ]; then printf 'unreadable|%s\n' "$f"; continue; fi
    case "$f" in
      *journal-upload*) grep -q '^[[:space:]]*URL=[^[:space:]]' "$f" && printf 'journal-upload|%s\n' "$f" ;;
      *syslog-ng*) grep -v '^[[:space:]]*#' "$f" | grep -q -E '(network|tcp|udp|tcp6|udp6|syslog)[[:space:]]*\(' && printf 'syslog-ng|%s\n' "$f" ;;
      *) grep -v '^[[:space:]]*#' "$f" | grep -q -E '(^|[[:space:]])@@?[[:alnum:]\[]|omfwd|omrelp' && printf 'rsyslog|%s\n' "$f" ;;
    esac
  done
done | msp_jl)
jup=unknown; msp_sd && jup=$(systemctl is-active systemd-journal-upload 2>/dev/null | head -n 1)
jd=$(msp_param journal_dir); [ -n "$jd" ] || jd=/var/log/journal
ljp=false; [ -d "$jd" ] && ljp=true
msp_rec linux_log_forwarding "\"forwarders\":$lfw,\"journal_upload\":\"$(msp_js "$jup")\",\"journal_persistent\":$ljp"

# user crontabs: "<user> <entries>" per spool file; unreadable spool dirs are reported
cd_=$(msp_param cron_dirs)
[ -n "$cd_" ] || cd_="/var/spool/cron/crontabs
/var/spool/cron"
cex=false; cun=0
cr=$(printf '%s\n' "$cd_" | while IFS= read -r d; do
  [ -d "$d" ] || continue
  if [ ! -r "$d" ] || [ ! -x "$d" ]; then echo "MSP_UNREADABLE $d"; continue; fi
  for f in "$d"/*; do
    [ -f "$f" ] || continue
    if [ ! -r "$f" ]; then echo "MSP_UNREADABLE $f"; continue; fi
    n=$(grep -c -v -E '^[[:space:]]*(#|$|[A-Za-z_][A-Za-z0-9_]*[[:space:]]*=)' "$f")
    printf '%s %s\n' "$(basename "$f")" "$n"
  done
done)
for d in $(printf '%s\n' "$cd_"); do [ -d "$d" ] && cex=true; done
cun=$(printf '%s\n' "$cr" | grep -c '^MSP_UNREADABLE ')
cre=$(printf '%s\n' "$cr" | grep -v '^MSP_UNREADABLE ' | msp_jl)
msp_rec linux_cron_review "\"spool\":$cex,\"unreadable\":$cun,\"crontabs\":$cre"

# monitored certificates: "<path>|<notAfter>" (or missing/unreadable/invalid)
cp_=$(msp_param cert_paths)
[ -n "$cp_" ] || cp_="/etc/letsencrypt/live/*/cert.pem"
if msp_have openssl; then
  ce=$(printf '%s\n' "$cp_" | while IFS= read -r pat; do
    for f in $pat; do
      if [ ! -e "$f" ]; then case "$f" in *'*'*) ;; *) printf '%s|missing\n' "$f" ;; esac; continue; fi
      if [ ! -r "$f" ]; then printf '%s|unreadable\n' "$f"; continue; fi
      e=$(openssl x509 -noout -enddate -in "$f" 2>/dev/null | sed -n 's/^notAfter=//p')
      [ -n "$e" ] || e=invalid
      printf '%s|%s\n' "$f" "$e"
    done
  done | head -n 100 | msp_jl)
  msp_rec linux_cert_expiry "\"openssl\":true,\"now\":$msp_now,\"certs\":$ce"
else
  msp_rec linux_cert_expiry "\"openssl\":false"
fi

# backups: newest file mtime under each configured path, and a backup unit's last successful run
bp=$(msp_param backup_paths)
bu=$(msp_param backup_unit)
bk=$(printf '%s\n' "$bp" | while IFS= read -r pat; do
  [ -n "$pat" ] || continue
  for p in $pat; do
    if [ ! -e "$p" ]; then printf 'missing|%s\n' "$p"; continue; fi
    if [ ! -r "$p" ]; then printf 'unreadable|%s\n' "$p"; continue; fi
    if [ -d "$p" ]; then
      [ -x "$p" ] || { printf 'unreadable|%s\n' "$p"; continue; }
      ts=$(find "$p" -maxdepth 2 -type f -printf '%T@\n' 2>/dev/null) || { printf 'unreadable|%s\n' "$p"; continue; }
      t=$(printf '%s\n' "$ts" | sed 's/\..*//' | grep -E '^[0-9]+$' | sort -n | tail -n 1)
      if [ -n "$t" ]; then printf '%s|%s\n' "$t" "$p"; else printf 'empty|%s\n' "$p"; fi
    else
      printf '%s|%s\n' "$(stat -c %Y "$p" 2>/dev/null || echo unreadable)" "$p"
    fi
  done
done | msp_jl)
bus=""; but=""
if [ -n "$bu" ]; then
  if msp_sd; then
    bus=$(systemctl show -p Result --value "$bu" 2>/dev/null)
    bts=$(systemctl show -p ExecMainExitTimestamp --value "$bu" 2>/dev/null)
    [ -n "$bts" ] && but=$(date -d "$bts" +%s 2>/dev/null)
  else
    bus=nosystemd
  fi
fi
msp_rec linux_backup_status "\"now\":$msp_now,\"paths\":$bk,\"unit\":\"$(msp_js "$bu")\",\"unit_result\":\"$(msp_js "$bus")\",\"unit_exit\":\"$(msp_js "$but")\""

# the appliance's own checks (agent/scan/appliance.py), only with their parameter (its own scan)
jm=$(msp_param journal_max_mb)
if [ -n "$jm" ]; then
  if msp_have journalctl; then
    jo=$(journalctl --disk-usage 2>/dev/null | head -n 5 | msp_jl)
    msp_rec linux_journal_usage "\"available\":true,\"max_mb\":\"$(msp_js "$jm")\",\"output\":$jo"
  else
    msp_rec linux_journal_usage "\"available\":false"
  fi
fi
abu=$(msp_param appliance_backup_unit)
if [ -n "$abu" ]; then
  abs='[]'
  msp_have systemctl && abs=$(systemctl show -p LoadState -p Result -p ExecMainExitTimestamp --timestamp=unix "$abu.service" 2>/dev/null | head -n 10 | msp_jl)
  msp_rec backup "\"unit\":\"$(msp_js "$abu")\",\"now\":$msp_now,\"show\":$abs"
fi

# encryption at rest: "<mount>|<device>|yes|no|unknown" for local, real, non-boot filesystems
en=$(df -P -l -x tmpfs -x devtmpfs -x overlay -x squashfs -x efivarfs 2>/dev/null | awk 'NR>1{print $6" "$1}' | while read -r mnt dev; do
  case "$mnt" in /boot|/boot/*|/efi|/efi/*) continue ;; esac
  case "$dev" in /dev/*) ;; *) printf '%s|%s|unknown\n' "$mnt" "$dev"; continue ;; esac
  c=unknown
  if msp_have lsblk; then
    ty=$(lsblk -n -l -s -o TYPE "$dev" 2>/dev/null)  # the device and every device below it
    if [ -n "$ty" ]; then c=no; printf '%s\n' "$ty" | grep -q -x '[[:space:]]*crypt[[:space:]]*' && c=yes; fi
  fi
  if [ "$c" = unknown ]; then
    b=$(basename "$(readlink -f "$dev")")
    if [ -r "/sys/class/block/$b/dm/uuid" ]; then
      case "$(cat "/sys/class/block/$b/dm/uuid")" in CRYPT-*) c=yes ;; *) c=no ;; esac
    fi
  fi
  printf '%s|%s|%s\n' "$mnt" "$dev" "$c"
done | msp_jl)
msp_rec linux_encryption "\"mounts\":$en"

printf 'MSP_SCAN_END {"checks":%d}\n' "$msp_n"
