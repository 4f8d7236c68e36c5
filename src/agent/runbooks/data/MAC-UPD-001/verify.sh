# MAC-UPD-001 verify: the preference reads back on and the schedule is not off.
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
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
upd_state
v=false; [ "$auto" = true ] && [ "$pref" = on ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"automatic_check":%s,"preference":"%s","schedule":"%s"}}\n' "$v" "$auto" "$pref" "$sched"
