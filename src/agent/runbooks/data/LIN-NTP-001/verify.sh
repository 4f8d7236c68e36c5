# LIN-NTP-001 verify: a time-sync daemon is active and the clock reports synchronised (waits <= 90 s).
unit=none; act=false
for u in chrony chronyd ntpsec ntp ntpd systemd-timesyncd; do
  if systemctl is-active --quiet "$u" 2>/dev/null; then unit=$u; act=true; break; fi
done
sync=false; n=0
while [ "$n" -lt 90 ]; do
  [ "$(timedatectl show -p NTPSynchronized --value 2>/dev/null)" = yes ] && { sync=true; break; }
  sleep 3; n=$((n+3))
done
v=false; [ "$sync" = true ] && [ "$act" = true ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"synchronized":%s,"service_active":%s,"service":"%s"}}\n' "$v" "$sync" "$act" "$unit"
