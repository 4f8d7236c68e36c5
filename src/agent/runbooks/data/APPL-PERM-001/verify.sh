# APPL-PERM-001 verify: every named file owned by us is now safe (and at least one was checked).
unsafe=0; checked=0
for f in $(msp_param files); do
  [ -f "$f" ] && [ -O "$f" ] || continue
  checked=$((checked+1))
  m=$(stat -c %a "$f")
  case "$(basename "$f")" in
    shadow|gshadow|shadow-|gshadow-) bad=$(( 0$m & 027 )) ;;
    *) bad=$(( 0$m & 022 )) ;;
  esac
  [ "$bad" -eq 0 ] || unsafe=$((unsafe+1))
done
d=false; [ "$unsafe" -eq 0 ] && [ "$checked" -gt 0 ] && d=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"checked":%d,"unsafe":%d}}\n' "$d" "$checked" "$unsafe"
