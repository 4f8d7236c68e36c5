# LIN-SVC-001 verify: none of the named units is failed (after a short settle time).
sleep 3
n=0; f=0; list=""
for u in $(msp_param units); do
  n=$((n+1))
  if systemctl is-failed --quiet "$u" 2>/dev/null; then
    f=$((f+1)); list="$list${list:+,}\"$(printf '%s' "$u" | tr -cd 'A-Za-z0-9@._:-')\""
  fi
done
v=false; [ "$f" -eq 0 ] && [ "$n" -gt 0 ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"checked":%d,"failed":%d,"failed_units":[%s]}}\n' "$v" "$n" "$f" "$list"
