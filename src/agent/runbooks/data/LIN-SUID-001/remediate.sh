# LIN-SUID-001 remediate: chmod u-s on named binaries in temporary/user-writable places only.
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
stray_place() {
  case "$1" in /tmp/*|/var/tmp/*|/dev/shm/*|/run/user/*|/home/*) return 0 ;; esac
  _d=$(dirname "$1"); _o=$(stat -c %u "$_d" 2>/dev/null); _m=$(stat -c %a "$_d" 2>/dev/null)
  [ -n "$_o" ] && [ -n "$_m" ] || return 1
  [ "$_o" != 0 ] && return 0
  [ $(( 0$_m & 022 )) -ne 0 ]
}
packaged() {
  if command -v dpkg >/dev/null 2>&1 && dpkg -S "$1" >/dev/null 2>&1; then return 0; fi
  if command -v rpm >/dev/null 2>&1 && rpm -qf "$1" >/dev/null 2>&1; then return 0; fi
  return 1
}
listed=0; fixed=0; kept=""; acts=""
for f in $(msp_param binaries); do
  listed=$((listed+1))
  [ -f "$f" ] && [ ! -L "$f" ] && [ -u "$f" ] || continue
  if stray_place "$f" && ! packaged "$f"; then
    chmod u-s -- "$f" || exit 3
    fixed=$((fixed+1)); acts="$acts${acts:+,}\"chmod u-s $f\""
  else
    kept="$kept $f"
  fi
done
changed=false; [ "$fixed" -gt 0 ] && changed=true
[ "$listed" -gt 0 ] || { res not_applicable false '' "no binaries named"; exit 0; }
[ -z "$kept" ] || { res not_applicable "$changed" "$acts" "left for review (system or packaged location):$kept"; exit 0; }
res ok "$changed" "$acts" ""
