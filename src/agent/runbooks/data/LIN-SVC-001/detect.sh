# LIN-SVC-001 detect: which of the named units are failed?
n=0; f=0
for u in $(msp_param units); do
  n=$((n+1)); systemctl is-failed --quiet "$u" 2>/dev/null && f=$((f+1))
done
d=false; [ "$f" -gt 0 ] && d=true
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"checked":%d,"failed":%d}}\n' "$d" "$n" "$f"
