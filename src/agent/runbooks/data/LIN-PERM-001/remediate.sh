# LIN-PERM-001 remediate: idempotent chmod of account databases only.
changed=false; n=0; skipped=0
for f in $(msp_param files); do
  [ -f "$f" ] || continue
  case "$(basename "$f")" in
    shadow|gshadow|shadow-|gshadow-) chmod g-wx,o-rwx -- "$f" || exit 3 ;;
    passwd|group|passwd-|group-) chmod go-w -- "$f" || exit 3 ;;
    *) skipped=$((skipped+1)); continue ;;
  esac
  n=$((n+1)); changed=true
done
if [ "$n" -eq 0 ]; then
  printf 'MSP_RESULT {"phase":"remediate","status":"not_applicable","changed":false,"actions":[],"reason":"no account database among the named files"}\n'
  exit 0
fi
printf 'MSP_RESULT {"phase":"remediate","status":"ok","changed":%s,"actions":["chmod %d files"],"reason":"skipped %d"}\n' "$changed" "$n" "$skipped"
