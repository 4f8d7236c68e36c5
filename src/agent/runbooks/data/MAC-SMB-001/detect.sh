# MAC-SMB-001 detect: is SMB file sharing on (smbd loaded or enabled in launchd)?
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
d=true; [ "$ld" = false ] && { [ "$dis" = disabled ] || [ "$dis" = absent ]; } && d=false
sd=false; [ "$dis" = disabled ] && sd=true
l=$ld; [ "$l" = unknown ] && l=true
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"smbd_disabled":%s,"smbd_loaded":%s,"override":"%s"}}\n' "$d" "$sd" "$l" "$dis"
