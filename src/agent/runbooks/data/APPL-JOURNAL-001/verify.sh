# APPL-JOURNAL-001 verify: the journal's disk usage is at or below max_usage_mb.
lim=$(msp_param max_usage_mb)
line=$(journalctl --disk-usage 2>/dev/null | grep -o 'take up [0-9.]*[BKMGT]' | head -n1)
num=${line#take up }; unit=${num##*[0-9.]}; num=${num%[BKMGT]}; int=${num%%.*}; frac=0
case "$num" in *.*) frac=${num#*.}; frac=${frac:0:1} ;; esac
known=false; mb=0
case "$unit" in
  B) mb=0; known=true ;; K) mb=$(( ${int:-0} / 1024 )); known=true ;; M) mb=${int:-0}; known=true ;;
  G) mb=$(( ${int:-0} * 1024 + ${frac:-0} * 1024 / 10 )); known=true ;; T) mb=$(( ${int:-0} * 1048576 + ${frac:-0} * 1048576 / 10 )); known=true ;;
esac
w=false; [ "$known" = true ] && [ "$mb" -le "$lim" ] && w=true
r=false; [ "$known" = true ] && [ "$mb" -le "$lim" ] && r=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"known":%s,"usage_mb":%d,"within_limit":%s}}\n' "$r" "$known" "$mb" "$w"
