# msp-agent macOS scan: one record per check, raw tool output only (evaluated on the appliance).
# POSIX sh (macOS /bin/sh or bash 3.2); no python3/jq. A tool that is missing or fails is reported
# with its exit status and whatever it printed; the appliance turns that into "unknown".
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
msp_js() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037'; }
msp_jl() { _f=1; printf '['; while IFS= read -r _l; do [ -n "$_l" ] || continue
  [ "$_f" = 1 ] || printf ','; _f=0; printf '"%s"' "$(msp_js "$_l")"; done; printf ']'; }
msp_n=0
msp_rec() { printf 'MSP_CHECK {"id":"%s","data":{%s}}\n' "$1" "$2"; msp_n=$((msp_n+1)); }
msp_have() { command -v "$1" >/dev/null 2>&1; }
# msp_run KEY CMD...: '"KEY_rc":<status>,"KEY":[first 20 output lines, stdout+stderr]'
msp_run() { _k=$1; shift
  if msp_have "$1"; then _o=$("$@" 2>&1 </dev/null); _rc=$?; else _o=""; _rc=127; fi
  printf '"%s_rc":%d,"%s":%s' "$_k" "$_rc" "$_k" "$(printf '%s\n' "$_o" | head -n 20 | msp_jl)"; }
# msp_admin KEY PATTERN CMD...: as msp_run; when the output lacks PATTERN (e.g. "You need
# administrator access") and we are not root, the tool is retried through non-interactive sudo.
msp_admin() { _k=$1; _p=$2; shift 2
  if [ "$(id -u)" != 0 ] && msp_have sudo && msp_have "$1" && ! "$@" 2>&1 </dev/null | grep -q "$_p"; then
    _t=$(command -v "$1"); shift
    msp_run "$_k" sudo -n "$_t" "$@"
  else
    msp_run "$_k" "$@"
  fi; }

msp_rec macos_filevault "$(msp_run status fdesetup status)"
msp_rec macos_gatekeeper "$(msp_run status spctl --status)"
msp_rec macos_sip "$(msp_run status csrutil status)"
msp_rec macos_firewall "$(msp_run state socketfilterfw --getglobalstate)"
msp_rec macos_auto_update "$(msp_run pref defaults read /Library/Preferences/com.apple.SoftwareUpdate AutomaticCheckEnabled),$(msp_run schedule softwareupdate --schedule)"
msp_rec macos_screen_lock "$(msp_run sysadminctl sysadminctl -screenLock status),$(msp_run ask defaults read com.apple.screensaver askForPassword),$(msp_run delay defaults read com.apple.screensaver askForPasswordDelay)"
msp_rec macos_file_sharing "$(msp_run disabled launchctl print-disabled system),$(msp_run service launchctl print system/com.apple.smbd)"
msp_rec macos_ntp_sync "$(msp_admin status 'Network Time:' systemsetup -getusingnetworktime)"
msp_rec macos_admin_users "$(msp_run members dscl . -read /Groups/admin GroupMembership)"
msp_rec macos_disk_space "$(msp_run df df -P /)"

# certificates on the configured paths: "<path>|<openssl -enddate output or error>"
cp=$(msp_param cert_paths 2>/dev/null)
certs=$(printf '%s\n' "$cp" | while IFS= read -r c; do [ -n "$c" ] || continue
  if [ -r "$c" ] && msp_have openssl; then e=$(openssl x509 -noout -enddate -in "$c" 2>/dev/null | head -n 1); else e=unreadable; fi
  printf '%s|%s\n' "$c" "${e:-unreadable}"; done | msp_jl)
msp_rec macos_cert_expiry "\"certs\":$certs,\"now\":$(date +%s)"

# Time Machine last: tmutil can block on an unreachable network destination, and the records
# already streamed are kept when the deadline hits (healing.md §6.4)
msp_rec macos_time_machine "$(msp_run dest tmutil destinationinfo),$(msp_run latest tmutil latestbackup),\"now\":\"$(date +%Y-%m-%d-%H%M%S)\""

printf 'MSP_SCAN_END {"checks":%d}\n' "$msp_n"
