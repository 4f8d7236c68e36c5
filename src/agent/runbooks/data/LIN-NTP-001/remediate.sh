# LIN-NTP-001 remediate: enable + start the installed time-sync daemon, NTP on.
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
[ -d /run/systemd/system ] || { res not_applicable false '' "not a systemd host"; exit 0; }
unit=""
for u in chrony chronyd ntpsec ntp ntpd systemd-timesyncd; do
  if systemctl list-unit-files "$u.service" --no-legend 2>/dev/null | grep -q "^$u.service"; then unit=$u; break; fi
done
[ -n "$unit" ] || { res not_applicable false '' "no time synchronisation daemon installed"; exit 0; }
changed=false
if [ "$(systemctl is-enabled "$unit" 2>/dev/null)" = masked ]; then
  res not_applicable false '' "$unit is masked: a person must decide"; exit 0
fi
systemctl is-enabled --quiet "$unit" 2>/dev/null || { systemctl enable "$unit" >/dev/null 2>&1 && changed=true; }
systemctl is-active --quiet "$unit" 2>/dev/null || { systemctl start "$unit" >/dev/null 2>&1 || { res failed "$changed" '' "$unit did not start"; exit 0; }; changed=true; }
if [ "$unit" = systemd-timesyncd ] && [ "$(timedatectl show -p NTP --value 2>/dev/null)" != yes ]; then
  timedatectl set-ntp true >/dev/null 2>&1 && changed=true
fi
res ok "$changed" "\"enable+start $unit\"" ""
