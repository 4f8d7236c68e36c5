# MAC-UPD-001 remediate: preference on, schedule on (idempotent).
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
D=/Library/Preferences/com.apple.SoftwareUpdate
# pref: on|off|missing|unknown (defaults); sched: on|off|unknown (softwareupdate --schedule)
upd_state() {
  _o=$(defaults read "$D" AutomaticCheckEnabled 2>&1); _rc=$?
  if [ "$_rc" = 0 ] && [ "$_o" = 1 ]; then pref=on
  elif [ "$_rc" = 0 ] && [ "$_o" = 0 ]; then pref=off
  elif printf "%s" "$_o" | grep -q "does not exist"; then pref=missing
  else pref=unknown; fi
  _s=$(softwareupdate --schedule 2>&1 | tr "A-Z" "a-z")
  case "$_s" in *"is turned on"*|*"check is on"*) sched=on ;; *"is turned off"*|*"check is off"*) sched=off ;; *) sched=unknown ;; esac
  auto=false
  if [ "$pref" != off ] && [ "$sched" != off ] && { [ "$pref" = on ] || [ "$sched" = on ]; }; then auto=true; fi; }
command -v softwareupdate >/dev/null 2>&1 && command -v defaults >/dev/null 2>&1 || { res not_applicable false '' "softwareupdate/defaults not found: not a macOS host"; exit 0; }
upd_state
[ "$pref" = on ] && [ "$sched" != off ] && { res ok false '' "already on"; exit 0; }
acts=""
if [ "$pref" != on ]; then
  defaults write "$D" AutomaticCheckEnabled -bool true >/dev/null 2>&1 || { res failed false '' "defaults write AutomaticCheckEnabled failed"; exit 0; }
  acts='"defaults write AutomaticCheckEnabled true"'
fi
if [ "$sched" = off ] && softwareupdate --schedule on >/dev/null 2>&1; then
  acts="${acts:+$acts,}\"softwareupdate --schedule on\""
fi
res ok true "$acts" ""
