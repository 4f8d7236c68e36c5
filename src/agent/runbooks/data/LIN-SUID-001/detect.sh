# LIN-SUID-001 detect: do any of the named binaries still carry the SUID bit?
listed=0; left=0
for f in $(msp_param binaries); do
  listed=$((listed+1))
  [ -f "$f" ] && [ ! -L "$f" ] && [ -u "$f" ] && left=$((left+1))
done
d=false; [ "$left" -gt 0 ] && d=true
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"listed":%d,"suid_left":%d}}\n' "$d" "$listed" "$left"
