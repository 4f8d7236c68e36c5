"""``python -m bench [--quick]``: every benchmark, then ``bench/report/REPORT.md`` and its plots."""

from bench.report import main

raise SystemExit(main())
