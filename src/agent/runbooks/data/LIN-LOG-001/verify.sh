# LIN-LOG-001 verify: journal directory present (journald active on a systemd host) and, with a
# destination, our forwarding drop-in names it and rsyslog is active.
jd=$(msp_param journal_dir); rd=$(msp_param rsyslog_dropin_dir); dest=$(msp_param destination)
jp=false; [ -d "$jd" ] && jp=true
if [ -d /run/systemd/system ] && ! systemctl is-active --quiet systemd-journald 2>/dev/null; then jp=false; fi
fw=false
if grep -q "^\*\.\* @@*$dest\$" "$rd/60-msp-agent-forward.conf" 2>/dev/null && [ -n "$dest" ]; then
  systemctl is-active --quiet rsyslog 2>/dev/null && fw=true
fi
ok=false; { [ "$jp" = true ] || [ "$fw" = true ]; } && ok=true
fok=true; [ -n "$dest" ] && fok=$fw
v=false; [ "$ok" = true ] && [ "$fok" = true ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"journal_persistent":%s,"forwarding":%s,"log_ok":%s,"forwarding_ok":%s}}\n' "$v" "$jp" "$fw" "$ok" "$fok"
