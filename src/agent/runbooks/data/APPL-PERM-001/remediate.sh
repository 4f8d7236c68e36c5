# APPL-PERM-001 remediate: idempotent chmod of the named files owned by the agent's user only.
n=0; skipped=0
for f in $(msp_param files); do
  if [ ! -f "$f" ] || [ ! -O "$f" ]; then skipped=$((skipped+1)); continue; fi
  case "$(basename "$f")" in
    shadow|gshadow|shadow-|gshadow-) chmod g-wx,o-rwx -- "$f" || exit 3 ;;
    *) chmod go-w -- "$f" || exit 3 ;;
  esac
  n=$((n+1))
done
if [ "$n" -eq 0 ]; then
  printf 'MSP_RESULT {"phase":"remediate","status":"not_applicable","changed":false,"actions":[],"reason":"no named file is owned by the agent user"}\n'
  exit 0
fi
printf 'MSP_RESULT {"phase":"remediate","status":"ok","changed":true,"actions":["chmod %d files"],"reason":"skipped %d"}\n' "$n" "$skipped"
