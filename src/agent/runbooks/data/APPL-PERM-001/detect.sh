# APPL-PERM-001 detect: are any of the named files (owned by us) group/other writable?
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
d=false; [ "$unsafe" -gt 0 ] && d=true
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"checked":%d,"unsafe":%d}}\n' "$d" "$checked" "$unsafe"
