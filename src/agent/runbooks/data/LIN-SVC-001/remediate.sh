# LIN-SVC-001 remediate: reset-failed + restart each named failed unit (masked/not-loaded: skipped).
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
[ -d /run/systemd/system ] || { res not_applicable false '' "not a systemd host"; exit 0; }
done_n=0; skipped=0; bad=0
for u in $(msp_param units); do
  systemctl is-failed --quiet "$u" 2>/dev/null || continue
  ls=$(systemctl show -p LoadState --value "$u" 2>/dev/null)
  if [ "$ls" != loaded ]; then skipped=$((skipped+1)); continue; fi
  systemctl reset-failed "$u" >/dev/null 2>&1
  if systemctl restart "$u" >/dev/null 2>&1; then done_n=$((done_n+1)); else bad=$((bad+1)); fi
done
changed=false; [ "$done_n" -gt 0 ] || [ "$bad" -gt 0 ] && changed=true
if [ "$done_n" -eq 0 ] && [ "$bad" -eq 0 ] && [ "$skipped" -gt 0 ]; then
  res not_applicable false '' "failed units are masked or not loaded"; exit 0
fi
[ "$bad" -eq 0 ] || { res failed "$changed" '' "$bad units failed to restart"; exit 0; }
res ok "$changed" "\"restarted $done_n units\"" "skipped $skipped"
