# LIN-SUID-001 verify: none of the named binaries carries the SUID bit any more.
listed=0; left=0
for f in $(msp_param binaries); do
  listed=$((listed+1))
  [ -f "$f" ] && [ ! -L "$f" ] && [ -u "$f" ] && left=$((left+1))
done
v=false; [ "$listed" -gt 0 ] && [ "$left" -eq 0 ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"listed":%d,"suid_left":%d}}\n' "$v" "$listed" "$left"
