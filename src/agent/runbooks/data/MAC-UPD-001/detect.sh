# MAC-UPD-001 detect: are automatic update checks on? (an explicit off from either source is drift)
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
d=true; [ "$auto" = true ] && d=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"automatic_check":%s,"preference":"%s","schedule":"%s"}}\n' "$d" "$auto" "$pref" "$sched"
