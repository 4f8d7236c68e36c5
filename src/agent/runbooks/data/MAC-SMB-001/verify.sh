# MAC-SMB-001 verify: com.apple.smbd is disabled in launchd and not loaded.
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
# dis: disabled|enabled|absent|unknown (launchd override); ld: true|false|unknown (loaded)
smb_state() {
  _o=$(launchctl print-disabled system 2>&1); _rc=$?
  if [ "$_rc" != 0 ]; then dis=unknown
  else
    _t=$(printf "%s\n" "$_o" | sed -n "s/^[[:space:]]*\"com\.apple\.smbd\" => \([a-z]*\).*/\1/p" | tail -n 1)
    case "$_t" in disabled|true) dis=disabled ;; enabled|false) dis=enabled ;; "") dis=absent ;; *) dis=unknown ;; esac
  fi
  _o=$(launchctl print system/com.apple.smbd 2>&1); _rc=$?
  if [ "$_rc" = 0 ]; then ld=true
  elif printf "%s" "$_o" | grep -q "Could not find service"; then ld=false
  else ld=unknown; fi; }
smb_state
sd=false; [ "$dis" = disabled ] && sd=true
l=$ld; [ "$l" = unknown ] && l=true
v=false; [ "$sd" = true ] && [ "$l" = false ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"smbd_disabled":%s,"smbd_loaded":%s,"override":"%s"}}\n' "$v" "$sd" "$l" "$dis"
