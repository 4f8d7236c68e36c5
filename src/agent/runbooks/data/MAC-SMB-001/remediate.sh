# MAC-SMB-001 remediate: launchctl disable + bootout com.apple.smbd (idempotent).
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
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
command -v launchctl >/dev/null 2>&1 || { res not_applicable false '' "launchctl not found: not a macOS host"; exit 0; }
smb_state
acts=""; changed=false
if [ "$dis" != disabled ]; then
  launchctl disable system/com.apple.smbd >/dev/null 2>&1 || { res failed false '' "launchctl disable failed"; exit 0; }
  acts='"launchctl disable system/com.apple.smbd"'; changed=true
fi
if [ "$ld" != false ]; then
  launchctl bootout system/com.apple.smbd >/dev/null 2>&1
  acts="${acts:+$acts,}\"launchctl bootout system/com.apple.smbd\""; changed=true
fi
res ok "$changed" "$acts" ""
